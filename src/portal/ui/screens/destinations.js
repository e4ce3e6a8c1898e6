// The destinations list: type, target, topics, status, and the last 24 h
// of deliveries and failures; filtered by type, topic and status, and
// searched by id or target.

import { api, own, query } from "../api.js";
import { h, mount } from "../lib/dom.js";
import { count } from "../lib/format.js";
import { badge, sparkline, table, typeIcon } from "../lib/widgets.js";

/** Enabled, disabled, or disabled automatically after repeated failures;
 * with how many events wait for a disabled one. */
export function status(d) {
  const kind = !d.disabled_at ? badge("Enabled", "ok") : d.disabled_reason === "consecutive_failures" ? badge("Auto-disabled", "bad") : badge("Disabled", "neutral");
  const waiting = waitingText(d);
  return waiting ? h("span", { class: "status" }, kind, " ", h("span", { class: "muted waiting" }, waiting)) : kind;
}

/** "12 events waiting" for a disabled destination with held events. */
export function waitingText(d) {
  const n = d.held_events || 0;
  if (!d.disabled_at || n === 0) return null;
  const shown = n >= 100000 ? "100,000+" : count(n);
  return `${shown} ${n === 1 ? "event" : "events"} waiting`;
}

export function statusNote(d) {
  if (!d.disabled_at) return null;
  const waiting = waitingText(d);
  const held = waiting ? ` Events that match it are kept for it meanwhile: ${waiting}.` : " Events that match it are kept for it meanwhile.";
  if (d.disabled_reason === "consecutive_failures") {
    return `Disabled automatically: its deliveries kept failing (${d.consecutive_failures ?? "repeated"} failures in a row, for long enough to rule out a passing outage).${held} Fix the endpoint, then enable it again.`;
  }
  return `Disabled.${held}`;
}

/** How a destination is named in lists: its URL, queue, bucket… */
export function label(d) {
  return d.target || d.id;
}

/** Whether a subscription takes `topic`: `*`, the topic itself, or a
 * pattern matching it (`*` stands for any characters), as the service
 * matches. */
export function subscribes(topics, topic) {
  const glob = (p) => new RegExp(`^${p.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`);
  return topics.some((p) => p === "*" || p === topic || (p.includes("*") && glob(p).test(topic)));
}

export function topicsText(topics) {
  return topics.includes("*") ? "All topics" : topics.join(", ");
}

/** Deliveries and failures per hour over the last 24 h, per destination. */
async function lastDay() {
  const end = new Date();
  const start = new Date(end.getTime() - 24 * 3600 * 1000);
  start.setMinutes(0, 0, 0);
  const m = await api(
    "GET",
    `/metrics/attempts${query({
      "time[start]": start.toISOString(),
      "time[end]": end.toISOString(),
      granularity: "1h",
      measures: ["count", "failed_count"],
      dimensions: "destination_id",
    })}`,
  );
  const hours = 25;
  const by = new Map();
  for (const row of m.data || []) {
    const id = row.dimensions.destination_id;
    const slot = Math.floor((new Date(row.time_bucket) - start) / 3600e3);
    if (slot < 0 || slot >= hours) continue;
    if (!by.has(id)) by.set(id, { ok: Array(hours).fill(0), fail: Array(hours).fill(0), total: 0, failed: 0 });
    const s = by.get(id);
    s.ok[slot] += row.metrics.count;
    s.fail[slot] += row.metrics.failed_count;
    s.total += row.metrics.count;
    s.failed += row.metrics.failed_count;
  }
  return by;
}

/** The list's data; the portal starts this while it checks the session,
 * so that the first screen does not wait for one round trip after another. */
export function prefetch() {
  return Promise.all([api("GET", own("/destinations")), lastDay().catch(() => new Map())]);
}

export async function render(outlet, ctx, early) {
  const [rows, day] = (early && (await early)) || (await prefetch());
  const kinds = [...new Set(rows.map((d) => d.type))];
  // Event topics to filter by: the catalog's and any subscribed by name (a
  // destination on `*` or on a pattern is shown for each topic it takes).
  const topics = [...new Set([...ctx.topicNames(), ...rows.flatMap((d) => d.topics).filter((t) => !t.includes("*"))])].sort();
  const byType = h("select", { id: "filter-type", "aria-label": "Filter by type" }, h("option", { value: "" }, "All types"), kinds.map((k) => h("option", { value: k }, ctx.type(k)?.label || k)));
  const byTopic = h("select", { id: "filter-topic", "aria-label": "Filter by topic" }, h("option", { value: "" }, "All topics"), topics.map((t) => h("option", { value: t }, t)));
  const byStatus = h(
    "select",
    { id: "filter-status", "aria-label": "Filter by status" },
    h("option", { value: "" }, "Any status"),
    h("option", { value: "enabled" }, "Enabled"),
    h("option", { value: "disabled" }, "Disabled"),
  );
  const search = h("input", { type: "search", id: "filter-search", placeholder: "Search id or target", "aria-label": "Search destinations" });
  const results = h("div", { id: "destination-list" });
  const columns = [
    {
      label: "Type",
      cell: (d) => h("span", { class: "type" }, typeIcon(ctx.type(d.type)), ctx.type(d.type)?.label || d.type),
    },
    { label: "Target", cell: (d) => h("a", { href: `#/destinations/${encodeURIComponent(d.id)}`, class: "target" }, label(d)) },
    { label: "Topics", cell: (d) => topicsText(d.topics) },
    { label: "Status", cell: (d) => status(d) },
    {
      label: "Last 24 h",
      cell: (d) => {
        const s = day.get(d.id);
        if (!s) return h("span", { class: "muted" }, "No deliveries");
        return h(
          "span",
          { class: "spark-cell" },
          sparkline(s.ok, s.fail, `${s.total} deliveries, ${s.failed} failed in the last 24 hours`),
          h("span", { class: "muted" }, `${count(s.total)} · ${count(s.failed)} failed`),
        );
      },
    },
  ];
  const apply = () => {
    const term = search.value.trim().toLowerCase();
    const shown = rows.filter(
      (d) =>
        (!byType.value || d.type === byType.value) &&
        (!byTopic.value || subscribes(d.topics, byTopic.value)) &&
        (!byStatus.value || (byStatus.value === "enabled") === !d.disabled_at) &&
        (!term || d.id.toLowerCase().includes(term) || (d.target || "").toLowerCase().includes(term)),
    );
    mount(
      results,
      table(columns, shown, {
        caption: "Destinations",
        empty: rows.length ? "No destination matches these filters." : "No destinations yet. Add one to start receiving events.",
        onRow: (d) => (window.location.hash = `#/destinations/${encodeURIComponent(d.id)}`),
      }),
    );
  };
  for (const c of [byType, byTopic, byStatus]) c.addEventListener("change", apply);
  search.addEventListener("input", apply);
  mount(
    outlet,
    h(
      "div",
      { class: "page-head" },
      h("h1", null, "Destinations"),
      h("a", { class: "button primary", href: "#/destinations/new", id: "add-destination" }, "Add destination"),
    ),
    h("div", { class: "filters" }, search, byType, byTopic, byStatus),
    results,
  );
  apply();
}

