// A destination's delivery policy in its settings: its own retries, their
// delays, its timeout, its rate limit and its ordering (the API's `delivery_policy`). An empty field
// follows the deployment's setting; the API checks the operator's bounds
// and its messages are shown as they come.

import { h, uid } from "./dom.js";

/** The editor: `node`, and `read()` → { ok, value } (the policy, {} for
 * none) or { ok: false, error }. */
export function policyEditor(policy = {}) {
  const retry = policy.retry || {};
  const field = (label, hint, attrs) => {
    const id = uid("policy");
    const input = h("input", { id, type: "text", inputmode: attrs.numeric ? "numeric" : null, autocomplete: "off", value: attrs.value ?? "", placeholder: "the platform's default", "aria-describedby": `${id}-hint` });
    return {
      input,
      node: h("div", { class: "field" }, h("label", { for: id }, label), input, h("p", { class: "hint", id: `${id}-hint` }, hint)),
    };
  };
  const retries = field("Retries", "How many times a failed delivery is tried again.", { numeric: true, value: retry.max_retries });
  const delays = field("Retry delays (seconds)", "Comma separated, one per retry, e.g. 5, 60, 600. Empty: the delay doubles from the platform's interval.", { value: (retry.schedule_seconds || []).join(", ") });
  const timeout = field("Timeout (seconds)", "How long one delivery may take before it counts as failed.", { numeric: true, value: policy.timeout_seconds });
  const limit = policy.rate_limit || {};
  const rate = field("Rate limit", "At most this many deliveries; more wait their turn, none is dropped. Empty: no limit.", { numeric: true, value: limit.per_second ?? limit.per_minute });
  rate.input.placeholder = "no limit";
  const unit = h(
    "select",
    { "aria-label": "Rate limit per", id: uid("policy") },
    h("option", { value: "per_second", selected: limit.per_minute === undefined }, "per second"),
    h("option", { value: "per_minute", selected: limit.per_minute !== undefined }, "per minute"),
  );
  // The number and its unit on one line.
  const line = h("div", { class: "with-button" });
  rate.input.replaceWith(line);
  line.append(rate.input, unit);
  // Ordering: off, or one at a time in publish order (per key, if given).
  const ordering = policy.ordering;
  const orderId = uid("policy");
  const order = h(
    "select",
    { id: orderId, "aria-describedby": `${orderId}-hint` },
    h("option", { value: "", selected: !ordering }, "Any order (fastest)"),
    h("option", { value: "block", selected: ordering && ordering.after_failure !== "skip" }, "In publish order; a failure blocks"),
    h("option", { value: "skip", selected: ordering?.after_failure === "skip" }, "In publish order; a failure is skipped"),
  );
  const orderNode = h(
    "div",
    { class: "field" },
    h("label", { for: orderId }, "Order"),
    order,
    h("p", { class: "hint", id: `${orderId}-hint` }, "In publish order: one delivery at a time, the next once the one before succeeded. After its last retry a failed one either blocks what follows until you retry or skip it, or is skipped."),
  );
  const key = field("Order per", "A path into the event, e.g. data.order_id: each value keeps its own order, so one stuck order does not hold the others. Empty: one order for the whole destination.", { value: ordering?.key });
  key.input.placeholder = "the whole destination";
  const showKey = () => (key.node.style.display = order.value ? "" : "none");
  order.addEventListener("change", showKey);
  showKey();
  const node = h(
    "fieldset",
    { class: "field policy" },
    // The section's heading (h2) names it on screen; the legend names the group.
    h("legend", { class: "visually-hidden" }, "Delivery policy"),
    h("p", { class: "hint" }, "Leave a field empty to follow the platform's default. A receiver's Retry-After is always honoured."),
    h("div", { class: "policy-fields" }, retries.node, delays.node, timeout.node, rate.node, orderNode, key.node),
  );
  return {
    node,
    read() {
      const whole = (input, name) => {
        const v = input.value.trim();
        if (!v) return undefined;
        if (!/^\d+$/.test(v)) throw new Error(`${name} must be a whole number`);
        return Number(v);
      };
      try {
        const out = {};
        const schedule = delays.input.value.split(",").map((s) => s.trim()).filter(Boolean);
        const n = whole(retries.input, "Retries");
        if (schedule.length) {
          if (!schedule.every((s) => /^\d+$/.test(s))) throw new Error("Retry delays must be whole seconds, separated by commas");
          if (n !== undefined && n !== schedule.length) throw new Error("Retries: with retry delays, there is one retry per delay; leave Retries empty");
          out.retry = { schedule_seconds: schedule.map(Number) };
        } else if (n !== undefined) {
          out.retry = { max_retries: n };
          if (retry.interval_seconds !== undefined) out.retry.interval_seconds = retry.interval_seconds;
        }
        const t = whole(timeout.input, "Timeout");
        if (t !== undefined) out.timeout_seconds = t;
        const r = whole(rate.input, "Rate limit");
        if (r !== undefined) {
          out.rate_limit = { [unit.value]: r };
          if (limit.burst !== undefined) out.rate_limit.burst = limit.burst;
        }
        if (order.value) {
          out.ordering = { after_failure: order.value };
          const k = key.input.value.trim();
          if (k) out.ordering.key = k;
        }
        return { ok: true, value: out };
      } catch (err) {
        return { ok: false, error: err.message };
      }
    },
  };
}

/** A merge-patch (RFC 7396) that turns `stored` into `next`: what `next`
 * leaves out is set to null. An empty `next` is null: no policy. */
export function replacing(stored = {}, next = {}) {
  if (!Object.keys(next).length) return null;
  const out = { ...next };
  for (const [k, v] of Object.entries(stored)) {
    if (!(k in next)) out[k] = null;
    else if (v && typeof v === "object" && !Array.isArray(v) && next[k] && typeof next[k] === "object" && !Array.isArray(next[k])) out[k] = replacing(v, next[k]) ?? {};
  }
  return out;
}
