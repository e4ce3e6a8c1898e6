// Shared components: table, drawer, dialog, toast, JSON view, copy button,
// badges, sparkline, error box. All text goes in as text (see dom.js).

import { h, svg, mount, uid } from "./dom.js";
import { pretty } from "./format.js";

/** A table. `columns`: [{ label, cell(row) -> node|string, class, quiet }]
 * (`quiet`: the header is for assistive technology only, e.g. "Actions");
 * on narrow screens each row reads as a card, the labels beside the cells. */
export function table(columns, rows, { onRow, empty = "Nothing here yet.", caption } = {}) {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "table" },
      caption ? h("caption", { class: "visually-hidden" }, caption) : null,
      h("thead", null, h("tr", null, columns.map((c) => h("th", { scope: "col", class: c.class }, c.quiet ? h("span", { class: "visually-hidden" }, c.label) : c.label)))),
      h(
        "tbody",
        null,
        rows.map((row) => {
          const tr = h(
            "tr",
            { class: onRow ? "clickable" : null },
            columns.map((c) => h("td", { "data-label": c.quiet ? "" : c.label, class: c.class }, c.cell(row))),
          );
          if (onRow) {
            tr.tabIndex = 0;
            tr.addEventListener("click", (e) => {
              if (!e.target.closest("a,button,input,select,label")) onRow(row);
            });
            tr.addEventListener("keydown", (e) => {
              if (e.key === "Enter" && e.target === tr) onRow(row);
            });
          }
          return tr;
        }),
      ),
    ),
  );
}

/**
 * A side drawer; Escape or the close button closes it and returns focus.
 * Navigating anywhere (a link inside it, the back button) closes it too.
 */
export function drawer(heading, ...content) {
  // `heading` is the title, or { title, onClose } to hear when it closes.
  const { title, onClose } = typeof heading === "object" ? heading : { title: heading };
  const before = document.activeElement;
  const titleId = uid("drawer");
  const close = () => {
    if (!backdrop.isConnected) return;
    backdrop.remove();
    if (onClose) onClose();
    document.removeEventListener("keydown", onKey);
    window.removeEventListener("hashchange", close);
    if (before && before.isConnected && before.focus) before.focus();
  };
  const onKey = (e) => {
    if (e.key === "Escape") close();
  };
  const closeBtn = h("button", { class: "icon-button", type: "button", onclick: close, "aria-label": "Close" }, "✕");
  const panel = h(
    "div",
    { class: "drawer", role: "dialog", "aria-modal": "true", "aria-labelledby": titleId },
    h("div", { class: "drawer-head" }, h("h2", { id: titleId }, title), closeBtn),
    h("div", { class: "drawer-body" }, ...content),
  );
  const backdrop = h("div", {
    class: "backdrop",
    onclick: (e) => {
      if (e.target === backdrop) close();
    },
  }, panel);
  document.addEventListener("keydown", onKey);
  window.addEventListener("hashchange", close);
  document.body.append(backdrop);
  closeBtn.focus();
  return close;
}

/** Asks before something that cannot be undone. Resolves true or false. */
export async function confirmDialog(message, { confirm = "Confirm", danger = false, id = null } = {}) {
  const answer = await choiceDialog(message, [{ label: confirm, value: true, kind: danger ? "danger" : "primary", id }]);
  return answer === true;
}

/**
 * Asks which of `choices` ({label, value, kind, id}) to take, with Cancel
 * first; resolves the chosen value, or null for Cancel (or Escape).
 */
export function choiceDialog(message, choices) {
  return new Promise((resolve) => {
    const titleId = uid("choice");
    const dialog = h("dialog", { class: "dialog", "aria-labelledby": titleId });
    const done = (answer) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    mount(
      dialog,
      h("p", { id: titleId }, message),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "button", class: "button", onclick: () => done(null) }, "Cancel"),
        choices.map((c) => h("button", { type: "button", id: c.id || null, class: ["button", c.kind || null], onclick: () => done(c.value) }, c.label)),
      ),
    );
    dialog.addEventListener("cancel", () => done(null));
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** A short message that goes away by itself. */
export function toast(message, kind = "info") {
  let region = document.getElementById("toasts");
  if (!region) {
    region = h("div", { id: "toasts", class: "toasts", role: "status", "aria-live": "polite" });
    document.body.append(region);
  }
  const t = h("div", { class: ["toast", kind] }, message);
  region.append(t);
  setTimeout(() => t.remove(), 5000);
}

/** JSON shown as text, pretty-printed, with a copy button. */
export function jsonView(value, label = "JSON") {
  const text = pretty(value);
  return h("div", { class: "json" }, copyButton(text, `Copy ${label}`), h("pre", { tabindex: "0", "aria-label": label }, text));
}

/** A button that copies `text`. Its name is `label` ("Copy destination
 * id"), of which `shown` ("Copy") is seen and the rest read out, so the
 * visible words are part of the name (WCAG 2.5.3). */
export function copyButton(text, label = "Copy", shown = "Copy") {
  const visible = h("span", null, shown);
  const rest = label.startsWith(shown) ? label.slice(shown.length) : ` (${label})`;
  const b = h("button", { type: "button", class: "button small copy", title: label }, visible, rest ? h("span", { class: "visually-hidden" }, rest) : null);
  b.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text);
      visible.textContent = "Copied";
    } catch {
      visible.textContent = "Copy failed";
    }
    setTimeout(() => (visible.textContent = shown), 1500);
  });
  return b;
}

export function badge(text, kind = "neutral") {
  return h("span", { class: ["badge", kind] }, text);
}

/** An SVG bar sparkline of `values` (e.g. deliveries per hour); `fails`
 * are drawn over them in the failure colour. */
export function sparkline(values, fails = [], label = "") {
  const w = 96;
  const hgt = 24;
  const max = Math.max(1, ...values);
  const bw = w / Math.max(1, values.length);
  const bars = values.map((v, i) => {
    const bh = Math.max(v ? 2 : 0, (v / max) * hgt);
    const f = fails[i] || 0;
    const fh = f ? Math.max(2, (f / max) * hgt) : 0;
    return [
      svg("rect", { x: i * bw + 0.5, y: hgt - bh, width: Math.max(1, bw - 1), height: bh, class: "spark-ok" }),
      f ? svg("rect", { x: i * bw + 0.5, y: hgt - fh, width: Math.max(1, bw - 1), height: fh, class: "spark-fail" }) : null,
    ];
  });
  return svg("svg", { class: "sparkline", viewBox: `0 0 ${w} ${hgt}`, width: w, height: hgt, role: "img", "aria-label": label }, svg("title", null, label), bars);
}

/** An error from the API, each of its messages on a line. */
export function errorBox(err) {
  const messages = err && err.messages ? err.messages : [String(err && err.message ? err.message : err)];
  return h("div", { class: "error-box", role: "alert" }, messages.map((m) => h("p", null, m)));
}

export function loading(text = "Loading…") {
  return h("p", { class: "loading", role: "status" }, text);
}

/** The type's icon: the SVG the API serves, shown as an image (never as markup). */
export function typeIcon(type, size = 20) {
  if (!type || !type.icon) return h("span", { class: "type-icon placeholder", "aria-hidden": "true" });
  return h("img", {
    class: "type-icon",
    src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(type.icon)}`,
    width: size,
    height: size,
    alt: "",
  });
}
