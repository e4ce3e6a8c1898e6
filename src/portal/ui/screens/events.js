// Events: the tenant's events with their per-destination delivery status,
// filtered by topic, status, destination and time; an event's payload,
// metadata and every attempt, with retry; Replay… of a time range.

import { api, own, query } from "../api.js";
import { h, hashParams, mount, replaceHashParams } from "../lib/dom.js";
import { ago, exact, duration } from "../lib/format.js";
import { badge, errorBox, jsonView, table } from "../lib/widgets.js";
import { attemptDrawer, attemptStatus, openAttempt, retryButton, skipButton } from "./destination.js";
import { label } from "./destinations.js";
import { replayButton } from "../lib/replay.js";

export async function render(outlet, ctx, id) {
  if (id) return detail(outlet, ctx, id);
  return list(outlet, ctx);
}

/** The latest attempt per (event, destination) of `attempts`. */
function latest(attempts) {
  const by = new Map();
  for (const a of attempts) {
    const k = `${a.event_id} ${a.destination_id}`;
    const seen = by.get(k);
    if (!seen || a.attempt_number > seen.attempt_number) by.set(k, a);
  }
  return by;
}

/** One event's delivery status: delivered, failed, or pending. */
function deliveryStatus(e, last) {
  const states = e.matched_destination_ids.map((dest) => {
    const a = last.get(`${e.id} ${dest}`);
    return { dest, state: a ? (a.status === "success" ? "delivered" : "failed") : "pending" };
  });
  return states;
}

async function list(outlet, ctx) {
  const params = hashParams();
  const destinations = await api("GET", own("/destinations"));
  const topic = h("select", { id: "events-topic", "aria-label": "Filter by topic" }, h("option", { value: "" }, "All topics"), ctx.topicNames().map((t) => h("option", { value: t, selected: params.get("topic") === t }, t)));
  const status = h(
    "select",
    { id: "events-status", "aria-label": "Filter by delivery status" },
    h("option", { value: "" }, "Any status"),
    ["delivered", "failed", "pending"].map((s) => h("option", { value: s, selected: params.get("status") === s }, s[0].toUpperCase() + s.slice(1))),
  );
  const dest = h(
    "select",
    { id: "events-destination", "aria-label": "Filter by destination" },
    h("option", { value: "" }, "All destinations"),
    // With its type: two destinations may have the same target text.
    destinations.map((d) => h("option", { value: d.id, selected: params.get("destination") === d.id }, `${ctx.type(d.type)?.label || d.type}: ${label(d)}`)),
  );
  const since = h("select", { id: "events-since", "aria-label": "Time range" }, [["", "Any time"], ["1", "Last hour"], ["24", "Last 24 hours"], ["168", "Last 7 days"]].map(([v, l]) => h("option", { value: v, selected: params.get("since") === v }, l)));
  const results = h("div", { id: "event-list" });
  const load = async (cursor = {}) => {
    const q = {
      topic: topic.value,
      destination_id: dest.value,
      "time[gte]": since.value ? new Date(Date.now() - Number(since.value) * 3600e3).toISOString() : "",
      limit: 50,
      ...cursor,
    };
    let page;
    if (status.value === "failed" || status.value === "delivered") {
      // Failed or delivered: the API filters the attempts (all of them, not
      // the newest page of events), a page of them at a time; their events
      // are then read by id. An event whose failure was later delivered
      // drops out below, when its states are known.
      const attempts = await api("GET", `/attempts${query({ ...q, status: status.value === "failed" ? "failed" : "success", limit: 200 })}`);
      const ids = [...new Set((attempts.models || []).map((a) => a.event_id))];
      const found = ids.length ? await api("GET", `/events${query({ id: ids, limit: 200 })}`) : { models: [] };
      page = { models: found.models || [], pagination: attempts.pagination };
    } else if (status.value === "pending") {
      // Pending (routed, no attempt yet) is a moment in a delivery's life,
      // so it is looked for among the newest 200 events.
      page = await api("GET", `/events${query({ ...q, limit: 200 })}`);
      page.pagination = null;
    } else {
      page = await api("GET", `/events${query(q)}`);
    }
    const events = page.models || [];
    const attempts = events.length
      ? (await api("GET", `/attempts${query({ event_id: events.map((e) => e.id), limit: 1000 })}`)).models || []
      : [];
    const last = latest(attempts);
    const rows = events
      .map((e) => ({ e, states: deliveryStatus(e, last) }))
      .filter(({ states }) => !status.value || states.some((s) => s.state === status.value));
    const name = (id) => {
      const d = destinations.find((x) => x.id === id);
      return d ? label(d) : id;
    };
    mount(
      results,
      table(
        [
          { label: "Topic", cell: ({ e }) => h("a", { href: `#/events/${encodeURIComponent(e.id)}` }, topicName(e.topic)) },
          { label: "Time", cell: ({ e }) => h("time", { datetime: e.time, title: exact(e.time) }, ago(e.time)) },
          {
            label: "Deliveries",
            cell: ({ states }) =>
              states.length
                ? h("span", { class: "chips" }, states.map((s) => badge(`${name(s.dest)}: ${s.state}`, s.state === "delivered" ? "ok" : s.state === "failed" ? "bad" : "neutral")))
                : h("span", { class: "muted" }, "No matching destination"),
          },
          { label: "Id", cell: ({ e }) => h("code", { class: "muted" }, e.id) },
        ],
        rows,
        {
          caption: "Events",
          empty: "No events match.",
          onRow: ({ e }) => (window.location.hash = `#/events/${encodeURIComponent(e.id)}`),
        },
      ),
      page.pagination && (page.pagination.next || page.pagination.prev)
        ? h(
            "nav",
            { class: "pager", "aria-label": "Pages of events" },
            h("button", { type: "button", class: "button small", id: "events-newer", disabled: !page.pagination.prev, onclick: () => load({ prev: page.pagination.prev }) }, "← Newer events"),
            h("button", { type: "button", class: "button small", id: "events-older", disabled: !page.pagination.next, onclick: () => load({ next: page.pagination.next }) }, "Older events →"),
          )
        : null,
    );
  };
  const refresh = () => {
    replaceHashParams({ topic: topic.value, status: status.value, destination: dest.value, since: since.value });
    load().catch((err) => mount(results, errorBox(err)));
  };
  for (const c of [topic, status, dest, since]) c.addEventListener("change", refresh);
  mount(
    outlet,
    h(
      "div",
      { class: "page-head" },
      h("h1", null, "Events"),
      h("div", { class: "actions" }, replayButton(ctx, { destinations, topics: ctx.topicNames(), name: (d) => `${ctx.type(d.type)?.label || d.type}: ${label(d)}` }), h("button", { type: "button", class: "button small", onclick: refresh }, "Refresh")),
    ),
    h("div", { class: "filters" }, topic, status, dest, since),
    ctx.settings.retention_days
      ? h("p", { class: "hint", id: "retention" }, `Events and their delivery attempts are kept for ${ctx.settings.retention_days} days.`)
      : null,
    results,
  );
  await load();
}

async function detail(outlet, ctx, id) {
  let e;
  try {
    e = await api("GET", `/events/${encodeURIComponent(id)}`);
  } catch (err) {
    if (err.status === 404) {
      mount(outlet, h("section", { class: "card", "data-screen": "not-found" }, h("h1", null, "Event not found"), h("p", null, "There is no such event in this account, or it has expired."), h("a", { class: "button", href: "#/events" }, "All events")));
      return;
    }
    throw err;
  }
  const [attempts, destinations] = await Promise.all([
    api("GET", `/attempts${query({ event_id: e.id, include: ["event.data", "response_data"], dir: "asc", limit: 1000 })}`),
    api("GET", own("/destinations")),
  ]);
  const rows = attempts.models || [];
  const dest = (id2) => destinations.find((d) => d.id === id2);
  const last = latest(rows);
  const refresh = () => window.dispatchEvent(new HashChangeEvent("hashchange"));
  // Ordered destinations this event may block (a last failure holds its lane).
  const blocked = new Set();
  await Promise.all(
    e.matched_destination_ids
      .filter((d) => dest(d)?.delivery_policy?.ordering)
      .map((d) =>
        api("GET", own(`/destinations/${encodeURIComponent(d)}/blocked`))
          .then(({ models }) => models.some((b) => b.event_id === e.id) && blocked.add(d))
          .catch(() => {}),
      ),
  );
  mount(
    outlet,
    h("div", { class: "page-head" }, h("div", null, h("p", { class: "crumbs" }, h("a", { href: "#/events" }, "Events"), " / ", e.id), h("h1", null, topicName(e.topic))), h("button", { type: "button", class: "button small", onclick: refresh }, "Refresh")),
    h("p", { class: "muted" }, h("time", { datetime: e.time }, exact(e.time))),
    h(
      "section",
      { class: "card" },
      h("h2", null, "Deliveries"),
      e.matched_destination_ids.length
        ? h(
            "ul",
            { class: "delivery-list" },
            e.matched_destination_ids.map((d) => {
              const a = last.get(`${e.id} ${d}`);
              return h(
                "li",
                null,
                h("a", { href: `#/destinations/${encodeURIComponent(d)}` }, dest(d) ? label(dest(d)) : d),
                " ",
                blocked.has(d) ? badge("Blocked", "bad") : a ? attemptStatus(a) : badge("Pending", "neutral"),
                a && a.status === "failed" ? retryButton(a, refresh) : null,
                blocked.has(d) ? skipButton({ event_id: e.id, topic: topicName(e.topic) }, dest(d), refresh) : null,
              );
            }),
          )
        : h("p", { class: "muted" }, "No destination matched this event."),
    ),
    h("section", { class: "card" }, h("h2", null, "Payload"), jsonView(e.data, "payload")),
    h("section", { class: "card" }, h("h2", null, "Metadata"), jsonView(e.metadata || {}, "metadata")),
    h(
      "section",
      { class: "card" },
      h("h2", null, "Attempts"),
      table(
        [
          { label: "Destination", cell: (a) => (dest(a.destination_id) ? label(dest(a.destination_id)) : a.destination_id) },
          { label: "Status", cell: (a) => attemptStatus(a) },
          { label: "Code", cell: (a) => a.code },
          { label: "Attempt", cell: (a) => `#${a.attempt_number}${a.manual ? " (manual)" : ""}` },
          { label: "Time", cell: (a) => h("time", { datetime: a.time, title: exact(a.time) }, ago(a.time)) },
          { label: "Duration", cell: (a) => duration(a.duration_ms) },
        ],
        rows,
        { caption: "Attempts", empty: "No attempt yet.", onRow: (a) => attemptDrawer(a, dest(a.destination_id)) },
      ),
    ),
  );
  // An attempt's own address (`?attempt=`) opens it over the event.
  const linked = hashParams().get("attempt");
  const shown = linked && rows.find((a) => String(a.id) === linked);
  if (shown) attemptDrawer(shown, dest(shown.destination_id));
  else if (linked) openAttempt(undefined, `/attempts/${encodeURIComponent(linked)}`);
}

/** An event's topic as shown: published without one, it went to every
 * destination. */
function topicName(topic) {
  return topic || "(no topic: sent to every destination)";
}
