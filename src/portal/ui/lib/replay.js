// Replay…: send the events of a time range again (POST …/replays), then
// follow the replay's progress and cancel it. The destination page offers
// it for its destination; the Events page for one destination or all.
// The work runs in the database; this only starts, reads and cancels it.

import { api, own } from "../api.js";
import { h, mount, uid } from "./dom.js";
import { count, exact } from "./format.js";
import { drawer, errorBox, loading } from "./widgets.js";
import { topicsPicker } from "./fields.js";

const STATES = {
  running: ["Running", "neutral"],
  finished: ["Finished", "ok"],
  cancelled: ["Cancelled", "neutral"],
  failed: ["Failed", "bad"],
};

/** How often an open drawer reads a running replay again. */
const POLL_MS = 1000;

/**
 * The Replay… button. `destination`: the destination page's own (the
 * replay is for it); without it, `destinations` are offered to choose
 * from, or all of them. `topics`: the topics offered (the catalog's, or
 * those the destination takes). `name(d)` is how a destination is shown.
 */
export function replayButton(ctx, { destination = null, destinations = [], topics = [], name = (d) => d.id } = {}) {
  const b = h("button", { type: "button", class: "button", id: "replay" }, "Replay…");
  b.addEventListener("click", () => openReplay(ctx, { destination, destinations, topics, name }));
  return b;
}

/** A value for `<input type="datetime-local">`: local time, to the minute. */
function localInput(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

function field(label, input, hint) {
  return h("div", { class: "field" }, h("label", { for: input.id }, label), input, hint ? h("p", { class: "hint" }, hint) : null);
}

function openReplay(ctx, { destination, destinations, topics: available, name }) {
  const now = new Date();
  const start = h("input", { type: "datetime-local", id: uid("replay-start"), value: localInput(new Date(now.getTime() - 24 * 3600e3)), required: true });
  const end = h("input", { type: "datetime-local", id: uid("replay-end"), value: localInput(new Date(now.getTime() + 60e3)), required: true });
  const which = destination
    ? null
    : h(
        "select",
        { id: "replay-destination" },
        h("option", { value: "" }, "Every destination each event was sent to"),
        destinations.map((d) => h("option", { value: d.id }, name(d))),
      );
  const failedOnly = h("input", { type: "checkbox", id: "replay-failed-only", checked: true });
  const topics = topicsPicker(available, ["*"], { wildcards: ctx.settings.wildcard_topics });
  const errors = h("div", { "aria-live": "polite" });
  const go = h("button", { type: "submit", class: "button primary", id: "replay-go" }, "Replay");
  const body = h("div");
  const recent = h("div", { id: "replay-recent" });
  const form = h(
    "form",
    { class: "form", novalidate: true, "aria-label": "Replay events" },
    h("p", { class: "hint" }, destination
      ? `Sends the events of a time range to ${name(destination)} again: those it was sent before.`
      : "Sends the events of a time range again, to the destinations they were sent to before."),
    field("From", start),
    field("To", end, ctx.settings.retention_days ? `Events are kept for ${ctx.settings.retention_days} days: the range cannot start earlier.` : null),
    which ? field("Destination", which) : null,
    h("div", { class: "field checkbox" }, failedOnly, h("label", { for: failedOnly.id }, "Only events whose last delivery failed"), h("p", { class: "hint" }, "Untick to send delivered events again too.")),
    topics.node,
    errors,
    h("div", { class: "actions" }, go),
  );
  let stop = false;
  drawer({ title: "Replay events", onClose: () => (stop = true) }, body);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const request = { start: new Date(start.value).toISOString(), end: new Date(end.value).toISOString(), failed_only: failedOnly.checked };
    const chosen = topics.read();
    if (!chosen.length) return mount(errors, errorBox({ messages: ["topics: choose at least one topic, or All topics"] }));
    if (!chosen.includes("*")) request.topics = chosen;
    const target = destination ? destination.id : which.value;
    if (target) request.destination_id = target;
    go.disabled = true;
    try {
      const r = await api("POST", own("/replays"), request);
      mount(body, progressCard(r, name, destinations.concat(destination ? [destination] : []), () => stop));
    } catch (err) {
      mount(errors, errorBox(err));
    } finally {
      go.disabled = false;
    }
  });
  mount(body, form, recent);
  showRecent(recent, destination, name, destinations, () => stop);
}

/** The latest replays (of this destination, on its page) with their
 * progress: one started earlier can be followed and cancelled here too. */
async function showRecent(el, destination, name, destinations, stopped) {
  let list;
  try {
    list = await api("GET", own("/replays?limit=20"));
  } catch {
    return;
  }
  const mine = list.filter((r) => !destination || r.destination_id === destination.id).slice(0, 5);
  if (!mine.length) return;
  const all = destinations.concat(destination ? [destination] : []);
  mount(el, h("h3", null, "Recent replays"), mine.map((r) => progressCard(r, name, all, stopped)));
}

/** One replay: state, progress, counts and Cancel while it runs; read
 * again every POLL_MS while it runs and the drawer is open. */
function progressCard(replay, name, destinations, stopped) {
  const card = h("section", { class: "card replay", "data-replay": replay.id });
  const target = (r) => {
    if (!r.destination_id) return "every destination each event was sent to";
    const d = destinations.find((x) => x.id === r.destination_id);
    return d ? name(d) : r.destination_id;
  };
  const render = (r) => {
    const [label, kind] = STATES[r.state] || [r.state, "neutral"];
    const cancel = r.state === "running"
      ? h("button", { type: "button", class: "button danger replay-cancel" }, "Cancel replay")
      : null;
    if (cancel) {
      cancel.addEventListener("click", async () => {
        cancel.disabled = true;
        try {
          render(await api("POST", own(`/replays/${encodeURIComponent(r.id)}/cancel`)));
        } catch (err) {
          mount(card, errorBox(err));
        }
      });
    }
    const percent = Math.round((r.progress || 0) * 100);
    mount(
      card,
      h("p", null, h("span", { class: ["badge", kind, "replay-state"] }, label), ` ${target(r)} · ${exact(r.start)} – ${exact(r.end)}${r.failed_only ? " · failed only" : ""}${r.topics ? ` · ${r.topics.join(", ")}` : ""}`),
      h("progress", { max: 100, value: percent, "aria-label": `Replay progress: ${percent} % of the range looked at` }),
      h(
        "p",
        { class: "muted replay-counts" },
        `${count(r.events_scanned)} events looked at · ${count(r.deliveries_queued)} queued`,
        r.deliveries_held ? ` · ${count(r.deliveries_held)} held (destination disabled)` : "",
        r.deliveries_skipped ? ` · ${count(r.deliveries_skipped)} already queued` : "",
        r.deliveries_waiting ? ` · ${count(r.deliveries_waiting)} waiting to be sent` : "",
        r.deliveries_cancelled ? ` · ${count(r.deliveries_cancelled)} taken back` : "",
      ),
      r.error ? h("p", { class: "notice bad", role: "note" }, r.error) : null,
      cancel ? h("div", { class: "actions" }, cancel) : null,
    );
    if (r.state === "running") {
      setTimeout(async () => {
        if (stopped() || !card.isConnected) return;
        try {
          render(await api("GET", own(`/replays/${encodeURIComponent(r.id)}`)));
        } catch (err) {
          mount(card, errorBox(err));
        }
      }, POLL_MS);
    }
  };
  mount(card, loading());
  render(replay);
  return card;
}
