// One destination: overview (counts, success rate, failures by status code
// over 1 h / 24 h / 7 d), settings (edit, secret, rotate, enable/disable,
// delete), test, replay, and its deliveries with their details and retry.

import { api, own, query } from "../api.js";
import { h, hashParams, mount, replaceHashParams } from "../lib/dom.js";
import { ago, count, duration, exact, hoursAgo, percent } from "../lib/format.js";
import { barChart, breakdown, buckets, perBucket, rateChart } from "../lib/chart.js";
import { badge, choiceDialog, confirmDialog, copyButton, drawer, errorBox, jsonView, loading, table, toast, typeIcon } from "../lib/widgets.js";
import { filterEditor, placeMessages, sectionForm, topicsPicker } from "../lib/fields.js";
import { policyEditor, replacing } from "../lib/policy.js";
import { replayButton } from "../lib/replay.js";
import { transformEditor } from "../lib/transform.js";
import { label, status, statusNote, subscribes, topicsText, waitingText } from "./destinations.js";

const PANES = [
  ["overview", "Overview"],
  ["deliveries", "Deliveries"],
  ["settings", "Settings"],
];

export async function render(outlet, ctx, id) {
  let d;
  try {
    d = await api("GET", own(`/destinations/${encodeURIComponent(id)}`));
  } catch (err) {
    if (err.status === 404 || err.status === 403 || err.status === 400) {
      mount(
        outlet,
        h("section", { class: "card", "data-screen": "not-found" }, h("h1", null, "Destination not found"), h("p", null, "There is no such destination in this account."), h("a", { class: "button", href: "#/destinations" }, "All destinations")),
      );
      return;
    }
    throw err;
  }
  const type = ctx.type(d.type) || { label: d.type, config_fields: [], credential_fields: [] };
  const pane = hashParams().get("pane") || "overview";
  const body = h("div", { class: "pane" });
  const tabs = h(
    "div",
    { class: "subtabs", role: "tablist" },
    PANES.map(([p, label]) =>
      h("button", { type: "button", role: "tab", class: ["subtab", p === pane ? "active" : null], "aria-selected": p === pane ? "true" : "false", "data-pane": p, onclick: () => show(p) }, label),
    ),
  );
  const show = (p) => {
    for (const b of tabs.querySelectorAll("button")) {
      const on = b.dataset.pane === p;
      b.classList.toggle("active", on);
      b.setAttribute("aria-selected", on ? "true" : "false");
    }
    if (p !== pane) replaceHashParams({ pane: p, range: "", status: "", topic: "", attempt: "" });
    mount(body, loading());
    const panes = { overview, deliveries, settings };
    panes[p](body, ctx, d, type).catch((err) => mount(body, errorBox(err)));
  };
  const note = statusNote(d);
  mount(
    outlet,
    h(
      "div",
      { class: "page-head" },
      h("div", null, h("p", { class: "crumbs" }, h("a", { href: "#/destinations" }, "Destinations"), " / ", h("span", { id: "destination-id" }, d.id), " ", copyButton(d.id, "Copy destination id")), h("div", { class: "with-button title" }, h("h1", null, h("span", { class: "type" }, typeIcon(type, 28), label(d))), copyButton(label(d), "Copy target")),
        // Where the provider's console shows it (SQS, S3, Pub/Sub, Hookdeck).
        d.target_url ? h("p", null, h("a", { href: d.target_url, target: "_blank", rel: "noopener noreferrer" }, "Open in the provider's console ↗")) : null,
      ),
      h("div", { class: "actions" }, status(d), testButton(ctx, d), replayButton(ctx, { destination: d, topics: ctx.topicNames().filter((t) => subscribes(d.topics, t)), name: label }), toggleButton(d), deleteButton(d)),
    ),
    note ? h("p", { class: ["notice", d.disabled_reason === "consecutive_failures" ? "bad" : null], role: "note" }, note) : null,
    d.delivery_policy?.ordering ? blockedNotice(d, () => window.dispatchEvent(new HashChangeEvent("hashchange"))) : null,
    h("p", { class: "muted" }, `${type.label} · ${topicsText(d.topics)} · created ${ago(d.created_at)}`),
    tabs,
    body,
  );
  show(pane);
  // A delivery's own address (`?attempt=`) opens it over the page.
  const linked = hashParams().get("attempt");
  if (linked) openAttempt(d, own(`/destinations/${encodeURIComponent(d.id)}/attempts/${encodeURIComponent(linked)}`));
}

/** Opens the attempt at `path` in the drawer, or says it is gone. */
export async function openAttempt(d, path) {
  try {
    attemptDrawer(await api("GET", `${path}${query({ include: ["event.data", "response_data"] })}`), d);
  } catch (err) {
    toast(err.status === 404 ? "That delivery attempt no longer exists (attempts are kept for a limited time)." : err.message, "bad");
    replaceHashParams({ attempt: "" });
  }
}

function toggleButton(d) {
  const enable = !!d.disabled_at;
  const b = h("button", { type: "button", class: "button", id: enable ? "enable" : "disable" }, enable ? "Enable" : "Disable");
  b.addEventListener("click", async () => {
    let path = `/destinations/${encodeURIComponent(d.id)}/${enable ? "enable" : "disable"}`;
    const waiting = enable ? waitingText(d) : null;
    if (!enable) {
      const sure = await confirmDialog(`Disable ${label(d)}? Nothing is sent to it while it is disabled; matching events wait for it and can be delivered or discarded when you enable it again.`, { confirm: "Disable", id: "disable-confirm" });
      if (!sure) return;
    }
    if (waiting) {
      // What waited while it was disabled: deliver it (the default) or not.
      const choice = await choiceDialog(`${waiting} — held while ${label(d)} was disabled. Deliver them now, oldest first, or discard them?`, [
        { label: "Discard", value: "discard", kind: "danger", id: "enable-discard" },
        { label: "Deliver", value: "deliver", kind: "primary", id: "enable-deliver" },
      ]);
      if (!choice) return;
      path += `?held=${choice}`;
    }
    try {
      await api("PUT", own(path));
      toast(enable ? (path.endsWith("discard") ? "Destination enabled; waiting events discarded" : "Destination enabled") : "Destination disabled; matching events will wait for it", "ok");
      window.dispatchEvent(new HashChangeEvent("hashchange"));
    } catch (err) {
      toast(err.message, "bad");
    }
  });
  return b;
}

function deleteButton(d) {
  const b = h("button", { type: "button", class: "button danger", id: "delete" }, "Delete");
  b.addEventListener("click", async () => {
    const sure = await confirmDialog(`Delete ${label(d)}? Events will no longer be delivered to it. This cannot be undone.`, { confirm: "Delete", danger: true });
    if (!sure) return;
    try {
      await api("DELETE", own(`/destinations/${encodeURIComponent(d.id)}`));
      toast("Destination deleted", "ok");
      window.location.hash = "#/destinations";
    } catch (err) {
      toast(err.message, "bad");
    }
  });
  return b;
}

/** Test: choose a topic, see its sample, send it, follow it to the event. */
function testButton(ctx, d) {
  const b = h("button", { type: "button", class: "button", id: "test", disabled: !!d.disabled_at, title: d.disabled_at ? "Enable the destination to test it" : null }, "Test");
  b.addEventListener("click", () => {
    // The catalog's topics this destination takes: by name, `*` or a pattern.
    const topics = ctx.catalog.filter((e) => e.sample && subscribes(d.topics, e.name));
    const result = h("div", { "aria-live": "polite" });
    if (!topics.length) {
      drawer("Test destination", h("p", null, "No topic of this destination has a sample payload in the topic catalog."));
      return;
    }
    const pick = h("select", { id: "test-topic", "aria-label": "Topic" }, topics.map((e) => h("option", { value: e.name }, e.name)));
    const sample = h("div");
    const showSample = () => mount(sample, jsonView(topics.find((e) => e.name === pick.value).sample, "sample payload"));
    pick.addEventListener("change", showSample);
    showSample();
    const send = h("button", { type: "button", class: "button primary", id: "send-test" }, "Send test event");
    send.addEventListener("click", async () => {
      send.disabled = true;
      try {
        const r = await api("POST", own(`/destinations/${encodeURIComponent(d.id)}/test`), { topic: pick.value });
        const link = h("a", { href: `#/events/${encodeURIComponent(r.id)}`, id: "test-event-link" }, "See the event →");
        if ((r.destination_ids || []).includes(d.id)) {
          mount(result, h("p", { class: "ok" }, "Sent. ", link));
        } else {
          // Published, but this destination's own payload filter let the
          // sample through to no delivery: say so, not "Sent".
          mount(result, h("p", { class: "notice", role: "note", id: "test-filtered" }, `Not delivered: this destination's payload filter does not match the ${pick.value} sample, so the event was recorded with no delivery. Change the filter, or test with another topic. `, link));
        }
      } catch (err) {
        mount(result, errorBox(err));
      } finally {
        send.disabled = false;
      }
    });
    drawer(
      "Test destination",
      h("p", null, "Sends the topic's sample payload to this destination only. It shows in Events like any event."),
      h("label", { for: "test-topic" }, "Topic"),
      pick,
      sample,
      h("div", { class: "actions" }, send),
      result,
    );
  });
  return b;
}

/** The time ranges the overview and the deliveries offer: label, hours,
 * the chart's bucket (API granularity) and its width in ms. */
const RANGES = [
  ["24h", "24 hours", 24, "1h", 3600e3],
  ["7d", "7 days", 168, "6h", 6 * 3600e3],
  ["30d", "30 days", 720, "1d", 86400e3],
];

function rangeOf(key) {
  return RANGES.find((r) => r[0] === key) || RANGES[0];
}

/** Buttons that pick one of RANGES; `pick(key)` on change. */
function rangeSwitch(current, pick) {
  return h(
    "div",
    { class: "segmented", role: "group", "aria-label": "Time range" },
    RANGES.map(([key, label]) => h("button", { type: "button", "data-range": key, "aria-pressed": key === current ? "true" : "false", onclick: () => pick(key) }, label)),
  );
}

/** Counts and charts over a time range: events, deliveries (delivered and
 * failed), the error rate and the status codes, from the metrics API. */
async function overview(body, ctx, d) {
  const [key, label, hours, granularity, width] = rangeOf(hashParams().get("range"));
  const end = new Date();
  const start = new Date(end.getTime() - hours * 3600e3);
  const common = { "time[start]": start.toISOString(), "time[end]": end.toISOString(), "filters[destination_id]": d.id };
  const [overTime, byCode, events] = await Promise.all([
    api("GET", `/metrics/attempts${query({ ...common, granularity, measures: ["count", "successful_count", "failed_count"] })}`),
    api("GET", `/metrics/attempts${query({ ...common, measures: ["count", "failed_count"], dimensions: "code" })}`),
    api("GET", `/metrics/events${query({ ...common, granularity, measures: "count" })}`),
  ]);
  const times = buckets(start.getTime(), end.getTime(), width);
  const ok = perBucket(times, overTime.data || [], "successful_count");
  const failed = perBucket(times, overTime.data || [], "failed_count");
  const published = perBucket(times, events.data || [], "count");
  const sum = (xs) => xs.reduce((a, b) => a + b, 0);
  const total = sum(ok) + sum(failed);
  // A bucket's label: its day, and its hour below a day's buckets (the
  // ends of 24 h are the same hour on two days).
  const tick = (t) => new Date(t).toLocaleString(undefined, { month: "short", day: "numeric", hour: granularity === "1d" ? undefined : "2-digit", minute: granularity === "1d" ? undefined : "2-digit" });
  const codes = (byCode.data || [])
    .map((r) => ({ label: r.dimensions.code, value: r.metrics.count, kind: r.metrics.failed_count > 0 ? "bad" : "ok" }))
    .sort((a, b) => b.value - a.value);
  const per = granularity === "1h" ? "per hour" : granularity === "6h" ? "per 6 hours" : "per day";
  mount(
    body,
    h("div", { class: "actions end" }, rangeSwitch(key, (k) => {
      replaceHashParams({ range: k === RANGES[0][0] ? "" : k });
      overview(body, ctx, d).catch((err) => mount(body, errorBox(err)));
    })),
    h(
      "section",
      { class: "card stats-row", "data-range": key, "aria-label": `Last ${label}` },
      stat("Events", count(sum(published))),
      stat("Deliveries", count(total)),
      stat("Success rate", percent(sum(ok), total)),
      stat("Failed", count(sum(failed))),
    ),
    h(
      "div",
      { class: "charts" },
      h("section", { class: "card" }, barChart({ title: "Events", times, tick, series: [{ name: "events", kind: "brand", values: published }], summary: `${count(sum(published))} events ${per} over the last ${label}` })),
      h("section", { class: "card" }, barChart({
        title: "Deliveries",
        times,
        tick,
        series: [{ name: "delivered", kind: "ok", values: ok }, { name: "failed", kind: "bad", values: failed }],
        summary: `${count(sum(ok))} delivered and ${count(sum(failed))} failed ${per} over the last ${label}`,
      })),
      h("section", { class: "card" }, rateChart({
        title: "Error rate",
        times,
        tick,
        values: times.map((_, i) => (ok[i] + failed[i] ? failed[i] / (ok[i] + failed[i]) : null)),
        summary: `Share of failed deliveries ${per} over the last ${label}: ${percent(sum(failed), total)} overall`,
      })),
      h("section", { class: "card", id: "status-codes" }, breakdown({ title: "Status codes", rows: codes, empty: "No deliveries in this range." })),
    ),
  );
}

function stat(name, value) {
  return h("div", { class: "stat" }, h("p", { class: "muted" }, name), h("p", { class: "big" }, value));
}

/** Deliveries of this destination, newest first, filtered by time range,
 * status and topic (by the API, over all of them), a page at a time. The
 * filters live in the address, so a reload or a link keeps them. */
async function deliveries(body, ctx, d, cursor = {}) {
  const params = hashParams();
  const [key, , hours] = rangeOf(params.get("range"));
  const state = { range: key, status: params.get("status") || "", topic: params.get("topic") || "" };
  const page = await api(
    "GET",
    own(`/destinations/${encodeURIComponent(d.id)}/attempts${query({
      include: ["event.data", "response_data"],
      limit: PAGE,
      status: state.status,
      topic: state.topic,
      "time[gte]": hoursAgo(hours),
      ...cursor,
    })}`),
  );
  const rows = page.models || [];
  const reload = (c) => deliveries(body, ctx, d, c).catch((err) => mount(body, errorBox(err)));
  const change = (k) => (e) => {
    replaceHashParams({ [k]: e.target.value === (k === "range" ? RANGES[0][0] : "") ? "" : e.target.value });
    reload();
  };
  const topics = ctx.topicNames().filter((t) => subscribes(d.topics, t));
  const filters = h(
    "div",
    { class: "filters" },
    h("select", { id: "deliveries-range", "aria-label": "Time range", onchange: change("range") }, RANGES.map(([k, label]) => h("option", { value: k, selected: k === key }, `Last ${label}`))),
    h("select", { id: "deliveries-status", "aria-label": "Filter by status", onchange: change("status") }, [["", "Any status"], ["success", "Delivered"], ["failed", "Failed"]].map(([v, l]) => h("option", { value: v, selected: v === state.status }, l))),
    topics.length ? h("select", { id: "deliveries-topic", "aria-label": "Filter by topic", onchange: change("topic") }, h("option", { value: "" }, "All topics"), topics.map((t) => h("option", { value: t, selected: t === state.topic }, t))) : null,
    h("button", { type: "button", class: "button small", onclick: () => reload() }, "Refresh"),
  );
  const p = page.pagination || {};
  const filtered = state.status || state.topic;
  mount(
    body,
    filters,
    table(
      [
        { label: "Status", cell: (a) => attemptStatus(a) },
        { label: "Code", cell: (a) => a.code },
        { label: "Event", cell: (a) => h("a", { href: `#/events/${encodeURIComponent(a.event_id)}` }, a.event?.topic || a.event_id) },
        { label: "Attempt", cell: (a) => `#${a.attempt_number}${a.manual ? " (manual)" : ""}` },
        { label: "Time", cell: (a) => h("time", { datetime: a.time, title: exact(a.time) }, ago(a.time)) },
        { label: "Duration", cell: (a) => duration(a.duration_ms) },
        { label: "Actions", quiet: true, cell: (a) => (a.status === "failed" ? retryButton(a, () => reload(cursor)) : null) },
      ],
      rows,
      {
        caption: "Deliveries",
        empty: filtered || cursor.next ? "No deliveries match." : "No deliveries in this range. Use Test to send one.",
        onRow: (a) => attemptDrawer(a, d),
      },
    ),
    p.prev || p.next
      ? h(
          "nav",
          { class: "pager", "aria-label": "Pages of deliveries" },
          h("button", { type: "button", class: "button small", id: "deliveries-newer", disabled: !p.prev, onclick: () => reload({ prev: p.prev }) }, "← Newer"),
          h("button", { type: "button", class: "button small", id: "deliveries-older", disabled: !p.next, onclick: () => reload({ next: p.next }) }, "Older →"),
        )
      : null,
  );
}

const PAGE = 25;

export function attemptStatus(a) {
  if (a.status === "success") return badge("Delivered", "ok");
  // Ended unsent: held while disabled then discarded, or past the retention.
  if (a.code === "discarded") return badge("Discarded", "neutral");
  if (a.code === "expired") return badge("Expired", "neutral");
  return badge("Failed", "bad");
}

/** An ordered destination's blocked deliveries (each holds its lane until
 * retried or skipped), with Retry and Skip: empty while there are none. */
function blockedNotice(d, after) {
  const node = h("div", { id: "blocked" });
  api("GET", own(`/destinations/${encodeURIComponent(d.id)}/blocked`))
    .then(({ models }) => {
      if (!models.length) return;
      const lanes = models.length === 1 ? "One delivery failed for the last time and holds" : `${models.length} deliveries failed for the last time and hold`;
      mount(
        node,
        h(
          "section",
          { class: "notice bad", role: "note" },
          h("p", null, h("strong", null, "Blocked. "), `${lanes} what follows it in order. Retry it, or skip it to let the next one go.`),
          h(
            "ul",
            { class: "delivery-list" },
            models.map((b) =>
              h(
                "li",
                null,
                h("a", { href: `#/events/${encodeURIComponent(b.event_id)}` }, b.topic || b.event_id),
                b.key ? h("span", { class: "muted" }, ` · ${b.key}`) : null,
                " ",
                retryButton({ id: b.event_id, event_id: b.event_id, destination_id: d.id }, after),
                skipButton(b, d, after),
              ),
            ),
          ),
        ),
      );
    })
    .catch(() => {});
  return node;
}

export function skipButton(b, d, after) {
  const button = h("button", { type: "button", class: "button small", "data-skip": b.event_id }, "Skip");
  button.addEventListener("click", async (e) => {
    e.stopPropagation();
    const sure = await confirmDialog(`Skip ${b.topic || b.event_id}? It will not be sent again, and the next delivery in its order goes.`, { confirm: "Skip", id: "skip-confirm" });
    if (!sure) return;
    button.disabled = true;
    try {
      await api("POST", "/skip", { event_id: b.event_id, destination_id: d.id });
      toast("Skipped", "ok");
      setTimeout(after, 300);
    } catch (err) {
      toast(err.message, "bad");
      button.disabled = false;
    }
  });
  return button;
}

export function retryButton(a, after) {
  const b = h("button", { type: "button", class: "button small", "data-retry": a.id }, "Retry");
  b.addEventListener("click", async (e) => {
    e.stopPropagation();
    b.disabled = true;
    try {
      await api("POST", "/retry", { event_id: a.event_id, destination_id: a.destination_id });
      toast("Retry scheduled", "ok");
      setTimeout(after, 800);
    } catch (err) {
      toast(err.message, "bad");
      b.disabled = false;
    }
  });
  return b;
}

/** The headers a webhook delivery carried, rebuilt from what was stored:
 * the metadata map and the destination's custom headers (the signature is
 * computed with the secret and not stored). */
function webhookHeaders(a, d) {
  const ev = a.event || {};
  const map = { "event-id": a.event_id, topic: ev.topic, timestamp: a.time ? a.time.replace(/\.\d+Z$/, "Z") : "" };
  Object.assign(map, d.delivery_metadata || {}, ev.metadata || {});
  const out = [["content-type", "application/json"]];
  for (const [k, v] of Object.entries(map)) out.push([`x-outpost-${k.toLowerCase()}`, String(v)]);
  out.push(["x-outpost-signature", "v0=… (HMAC-SHA256 of the body with the signing secret)"]);
  let custom = d.config.custom_headers;
  if (typeof custom === "string") {
    try {
      custom = JSON.parse(custom);
    } catch {
      custom = null;
    }
  }
  for (const [k, v] of Object.entries(custom || {})) out.push([k.toLowerCase(), String(v)]);
  return out;
}

export function attemptDrawer(a, d) {
  const r = a.response_data || {};
  const parts = [
    h("dl", { class: "facts" },
      h("dt", null, "Status"), h("dd", null, attemptStatus(a), ` ${a.code}`),
      h("dt", null, "Attempt id"), h("dd", null, h("code", null, a.id)),
      h("dt", null, "Attempt"), h("dd", null, `#${a.attempt_number}${a.manual ? " (manual retry)" : ""}`),
      h("dt", null, "Time"), h("dd", null, exact(a.time)),
      a.duration_ms !== undefined ? [h("dt", null, "Duration"), h("dd", null, duration(a.duration_ms))] : null,
    ),
    h("h3", null, "Request payload"),
    a.event && "data" in a.event ? jsonView(a.event.data, "request payload") : h("p", { class: "muted" }, "The event has expired."),
    d && d.delivery_policy && d.delivery_policy.transform ? h("p", { class: "hint", id: "payload-transformed" }, "This destination transforms what it sends (Settings, Transformation): this is the event's data before it; Preview there shows what is sent.") : null,
  ];
  if (d && d.type === "webhook") {
    parts.push(
      h("h3", null, "Headers sent"),
      h("p", { class: "hint", id: "headers-rebuilt" }, "Rebuilt from what is stored (the event, its metadata and the destination's settings as they are now), not recorded at send time; the signature is shown as its form, since the secret is not shown here."),
      h("pre", { class: "headers" }, webhookHeaders(a, d).map(([k, v]) => `${k}: ${v}\n`).join("")),
    );
  } else if (a.event && a.event.metadata) {
    parts.push(h("h3", null, "Metadata sent"), jsonView(a.event.metadata, "metadata"));
  }
  if (r.status_code !== undefined) {
    parts.push(
      h("h3", null, `Response ${r.status_code}`),
      r.headers ? h("pre", { class: "headers" }, Object.entries(r.headers).map(([k, v]) => `${k}: ${v}\n`).join("")) : null,
      h("pre", { class: "response-body", tabindex: "0", "aria-label": "Response body" }, r.body || "(empty)"),
    );
  } else if (r.error) {
    parts.push(h("h3", null, "Error"), h("p", { class: "response-error" }, `${r.error}${r.message ? `: ${r.message}` : ""}`));
  }
  // The drawer has its own address: `?attempt=<id>` on the page it opened
  // over, so it can be reloaded, bookmarked or sent to a colleague.
  replaceHashParams({ attempt: a.id });
  const link = window.location.href;
  parts.push(
    h(
      "div",
      { class: "actions" },
      a.status === "failed" ? retryButton(a, () => window.dispatchEvent(new HashChangeEvent("hashchange"))) : null,
      copyButton(link, "Copy link to this delivery", "Copy link"),
    ),
  );
  drawer({ title: `Delivery of ${a.event?.topic || a.event_id}`, onClose: () => hashParams().get("attempt") === String(a.id) && replaceHashParams({ attempt: "" }) }, ...parts);
}

async function settings(body, ctx, d, type) {
  const hidden = type.type === "webhook" && !ctx.settings.enable_webhook_custom_headers ? ["custom_headers"] : [];
  const config = sectionForm("config", type.config_fields, d.config, { hidden });
  const credentials = sectionForm("credentials", type.credential_fields, d.credentials);
  const topics = topicsPicker(ctx.topicNames(), d.topics, { wildcards: ctx.settings.wildcard_topics });
  const filter = ctx.settings.enable_destination_filter ? filterEditor(d.filter, ctx.catalog) : null;
  const policy = policyEditor(d.delivery_policy || {});
  const transform = transformEditor((d.delivery_policy || {}).transform, { catalog: ctx.catalog, topics: () => topics.read(), destinationId: d.id });
  const errors = h("div", { "aria-live": "polite" });
  const save = h("button", { type: "submit", class: "button primary", id: "save" }, "Save changes");
  const form = h(
    "form",
    { class: "form", novalidate: true, "aria-label": "Destination settings" },
    config.inputs.length ? [h("h2", null, "Configuration"), config.node] : null,
    type.credential_fields.length
      ? [h("h2", null, "Credentials"), h("p", { class: "hint" }, "Stored secrets are shown masked and kept unless you enter a new value."), credentials.node]
      : null,
    h("h2", null, "Events"),
    topics.node,
    filter ? filter.node : null,
    h("h2", null, "Delivery policy"),
    policy.node,
    h("h2", null, "Transformation"),
    transform.node,
    errors,
    h("div", { class: "actions" }, save),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const local = [...config.check(), ...credentials.check()];
    const chosen = topics.read();
    if (!chosen.length) local.push("topics: choose at least one topic, or All topics");
    const f = filter ? filter.read() : { ok: true, value: d.filter };
    if (!f.ok) local.push(f.error);
    const p = policy.read();
    if (!p.ok) local.push(p.error);
    if (local.length) return place(local);
    const tr = transform.read();
    const patch = { topics: chosen, config: withNulls(d.config, config.read(), hidden), filter: f.value, delivery_policy: replacing(d.delivery_policy, tr ? { ...p.value, transform: tr } : p.value) };
    if (type.credential_fields.length) patch.credentials = credentials.read();
    save.disabled = true;
    try {
      await api("PATCH", own(`/destinations/${encodeURIComponent(d.id)}`), patch);
      toast("Saved", "ok");
      window.dispatchEvent(new HashChangeEvent("hashchange"));
    } catch (err) {
      place(err.messages || [err.message]);
    } finally {
      save.disabled = false;
    }
  });
  function place(messages) {
    const rest = placeMessages(messages, [config, credentials]);
    mount(errors, rest.length ? errorBox({ messages: rest }) : null);
  }
  mount(body, d.type === "webhook" ? secretCard(d) : null, form);
}

/** A merge-patch of config that also clears fields emptied in the form. */
function withNulls(stored, edited, hidden) {
  const out = { ...edited };
  for (const k of Object.keys(stored || {})) if (!(k in out) && !hidden.includes(k)) out[k] = null;
  return out;
}

/** The webhook signing secret: hidden until revealed, copyable, rotatable. */
function secretCard(d) {
  const secret = d.credentials.secret || "";
  const shown = h("code", { class: "secret", id: "secret-value" }, "•".repeat(24));
  const reveal = h("button", { type: "button", class: "button small", id: "reveal-secret", "aria-pressed": "false" }, "Reveal");
  reveal.addEventListener("click", () => {
    const on = reveal.getAttribute("aria-pressed") !== "true";
    shown.textContent = on ? secret : "•".repeat(24);
    reveal.textContent = on ? "Hide" : "Reveal";
    reveal.setAttribute("aria-pressed", on ? "true" : "false");
  });
  const rotate = h("button", { type: "button", class: "button", id: "rotate-secret" }, "Rotate secret");
  rotate.addEventListener("click", async () => {
    const sure = await confirmDialog(
      "Rotate the signing secret? A new secret is made now. For 24 hours deliveries are signed with both the new and the old one, so your receiver can switch without missing a delivery.",
      { confirm: "Rotate" },
    );
    if (!sure) return;
    try {
      await api("PATCH", own(`/destinations/${encodeURIComponent(d.id)}`), { credentials: { rotate_secret: true } });
      toast("Secret rotated; the old one stays valid for 24 hours", "ok");
      window.dispatchEvent(new HashChangeEvent("hashchange"));
    } catch (err) {
      toast(err.message, "bad");
    }
  });
  const previous = d.credentials.previous_secret_invalid_at;
  return h(
    "section",
    { class: "card" },
    h("h2", null, "Signing secret"),
    h("p", { class: "hint" }, "Verify the x-outpost-signature header with this secret (HMAC-SHA256 of the body)."),
    h("div", { class: "with-button" }, shown, reveal, copyButton(secret, "Copy secret")),
    previous ? h("p", { class: "muted" }, `The previous secret is still accepted until ${exact(previous)}.`) : null,
    h("div", { class: "actions" }, rotate),
  );
}
