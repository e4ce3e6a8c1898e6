// Charts drawn as inline SVG, with no library: bars over time (stacked),
// a rate over time (a line), and a breakdown (labelled bars).
//
// The plot is an SVG stretched to its box (`preserveAspectRatio="none"`),
// so it fills any width from a phone to a wide screen; its text (the axis,
// the legend) is HTML beside it, so it never stretches with the plot. Each
// chart names what it shows for assistive technology (`role="img"` and a
// summary), each bar carries its value as a tooltip, and the figures are
// also a table under "Show the figures".

import { h, svg } from "./dom.js";
import { count } from "./format.js";

const W = 600;
const H = 160;

/** The start (ms) of every bucket of `width` ms from `start` to `end`,
 * aligned as the API aligns them (multiples of the width since the epoch,
 * which for hours and days are also multiples since 2000-01-01 UTC). */
export function buckets(start, end, width) {
  const out = [];
  for (let t = Math.floor(start / width) * width; t < end; t += width) out.push(t);
  return out;
}

/** The value of each bucket from the API's rows (`time_bucket`, `metrics`). */
export function perBucket(times, rows, measure) {
  const by = new Map();
  for (const r of rows) {
    const t = Date.parse(r.time_bucket);
    by.set(t, (by.get(t) || 0) + (r.metrics[measure] || 0));
  }
  return times.map((t) => by.get(t) || 0);
}

/**
 * Stacked bars over time. `series`: [{ name, kind, values }], drawn bottom
 * up; `kind` picks the colour (ok, bad, brand). `tick(ms)` labels a bucket.
 */
export function barChart({ title, times, series, tick, summary }) {
  const totals = times.map((_, i) => series.reduce((n, s) => n + (s.values[i] || 0), 0));
  const max = Math.max(1, ...totals);
  const bw = W / Math.max(1, times.length);
  const bars = times.map((t, i) => {
    let y = H;
    const tip = `${tick(t)}: ${series.map((s) => `${count(s.values[i] || 0)} ${s.name}`).join(", ")}`;
    return svg(
      "g",
      null,
      svg("title", null, tip),
      // A bar the full height catches the pointer for the tooltip.
      svg("rect", { x: i * bw, y: 0, width: bw, height: H, class: "chart-hit" }),
      series.map((s) => {
        const v = s.values[i] || 0;
        if (!v) return null;
        const bh = Math.max(1.5, (v / max) * H);
        y -= bh;
        return svg("rect", { x: i * bw + bw * 0.1, y, width: bw * 0.8, height: bh, class: `chart-${s.kind}` });
      }),
    );
  });
  const plot = svg("svg", { class: "chart-plot", viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img", "aria-label": summary }, bars);
  return figure(title, summary, plot, count(max), times, tick, series, (s, i) => count(s.values[i] || 0));
}

/** A rate (0..1) over time as a line; buckets with no data (`null`) break it. */
export function rateChart({ title, times, values, tick, summary }) {
  const bw = W / Math.max(1, times.length);
  const runs = [];
  let run = [];
  values.forEach((v, i) => {
    if (v === null) {
      if (run.length) runs.push(run);
      run = [];
      return;
    }
    run.push([i * bw + bw / 2, H - v * H]);
  });
  if (run.length) runs.push(run);
  const shapes = runs.map((r) =>
    r.length === 1
      ? svg("circle", { cx: r[0][0], cy: r[0][1], r: 3, class: "chart-dot", "vector-effect": "non-scaling-stroke" })
      : svg("polyline", { points: r.map((p) => p.join(",")).join(" "), class: "chart-line", "vector-effect": "non-scaling-stroke" }),
  );
  const tips = times.map((t, i) =>
    svg("g", null, svg("title", null, `${tick(t)}: ${values[i] === null ? "no deliveries" : pct(values[i])}`), svg("rect", { x: i * bw, y: 0, width: bw, height: H, class: "chart-hit" })),
  );
  const plot = svg("svg", { class: "chart-plot", viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img", "aria-label": summary }, tips, shapes);
  const series = [{ name: "error rate", kind: "bad", values }];
  return figure(title, summary, plot, "100 %", times, tick, series, (s, i) => (s.values[i] === null ? "–" : pct(s.values[i])));
}

/** Labelled horizontal bars, largest first: [{ label, value, kind }]. */
export function breakdown({ title, rows, empty }) {
  const max = Math.max(1, ...rows.map((r) => r.value));
  return h(
    "figure",
    { class: "chart" },
    h("figcaption", null, title),
    rows.length
      ? h(
          "ul",
          { class: "breakdown", "aria-label": title },
          rows.map((r) =>
            h(
              "li",
              null,
              h("span", { class: "breakdown-label" }, r.label),
              // An SVG bar: the CSP allows no inline style to size a box.
              svg("svg", { class: "breakdown-track", viewBox: "0 0 100 10", preserveAspectRatio: "none", "aria-hidden": "true" }, svg("rect", { x: 0, y: 0, height: 10, width: Math.max(0.5, (100 * r.value) / max), class: `chart-${r.kind}` })),
              h("span", { class: "breakdown-value" }, count(r.value)),
            ),
          ),
        )
      : h("p", { class: "muted" }, empty),
  );
}

function pct(v) {
  return `${(100 * v).toFixed(v > 0 && v < 0.1 ? 1 : 0)} %`;
}

/** The figure around a plot: caption, legend, y-axis top, x-axis ends, and
 * the figures as a table. */
function figure(title, summary, plot, top, times, tick, series, cell) {
  const ends = times.length ? [tick(times[0]), tick(times[times.length - 1])] : ["", ""];
  return h(
    "figure",
    { class: "chart" },
    h(
      "figcaption",
      null,
      title,
      series.length > 1 ? h("span", { class: "legend" }, series.map((s) => h("span", null, h("i", { class: `chart-${s.kind}`, "aria-hidden": "true" }), s.name))) : null,
    ),
    h("div", { class: "chart-box" }, h("span", { class: "chart-top", "aria-hidden": "true" }, top), plot),
    h("div", { class: "chart-axis", "aria-hidden": "true" }, h("span", null, ends[0]), h("span", null, ends[1])),
    h(
      "details",
      { class: "chart-data" },
      h("summary", null, "Show the figures"),
      h(
        "table",
        { class: "table" },
        h("caption", { class: "visually-hidden" }, summary),
        h("thead", null, h("tr", null, h("th", { scope: "col" }, "Time"), series.map((s) => h("th", { scope: "col" }, s.name)))),
        h("tbody", null, times.map((t, i) => h("tr", null, h("th", { scope: "row" }, tick(t)), series.map((s) => h("td", null, cell(s, i)))))),
      ),
    ),
  );
}
