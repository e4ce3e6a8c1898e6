// A destination's payload transformation (the API's
// `delivery_policy.transform`): a jq program for the body and one for the
// headers, with a preview against a topic's sample payload from the
// catalog. The API compiles and runs the programs; its messages (with the
// line and column of a mistake) are shown as they come.

import { api, own } from "../api.js";
import { h, uid } from "./dom.js";
import { errorBox, jsonView } from "./widgets.js";

/** The editor for `transform` (null: none). `preview(body)` asks the API
 * to run programs: the destination's preview route, or the tenant's before
 * the destination exists. `topics()` → the topics the destination takes.
 * Returns `node` and `read()` → the transform, or null for none. */
export function transformEditor(transform, { catalog, topics, destinationId }) {
  const t = transform || {};
  const program = (label, hint, value, placeholder) => {
    const id = uid("transform");
    const area = h("textarea", { id, rows: 4, spellcheck: "false", autocomplete: "off", placeholder, "aria-describedby": `${id}-hint` }, value || "");
    return { area, node: h("div", { class: "field" }, h("label", { for: id }, label), h("p", { class: "hint", id: `${id}-hint` }, hint), area) };
  };
  const body = program(
    "Body (jq)",
    "Its output is sent in place of the event's data, and signed. The input is the event: {id, topic, time, metadata, data}. Empty: the data as published.",
    t.body,
    '{text: "\\(.topic): \\(.data.email)"}',
  );
  const headers = program(
    "Headers (jq)",
    "An object of strings, added to the metadata sent (on webhooks as x-outpost-<name> headers). Empty: none.",
    t.headers,
    '{source: .metadata.source}',
  );
  const read = () => {
    const out = {};
    if (body.area.value.trim()) out.body = body.area.value;
    if (headers.area.value.trim()) out.headers = headers.area.value;
    return Object.keys(out).length ? out : null;
  };
  const samples = (catalog || []).filter((e) => e.sample);
  const pick = h(
    "select",
    { "aria-label": "Sample event to preview the transformation on", id: "transform-sample" },
    samples.map((e) => h("option", { value: e.name }, e.name)),
  );
  // The first sample the destination takes, by default.
  const taken = topics();
  const first = samples.find((e) => taken.includes("*") || taken.includes(e.name));
  if (first) pick.value = first.name;
  const button = h("button", { type: "button", class: "button small", id: "transform-preview" }, "Preview");
  const result = h("div", { class: "transform-preview", role: "status", "aria-live": "polite" });
  button.addEventListener("click", async () => {
    const ask = { transform: read(), event: { topic: pick.value } };
    const path = destinationId ? own(`/destinations/${encodeURIComponent(destinationId)}/transform/preview`) : own("/transform/preview");
    if (!destinationId) ask.topics = topics().length ? topics() : ["*"];
    button.disabled = true;
    try {
      const r = await api("POST", path, ask);
      result.replaceChildren(
        h("h3", null, `Body sent for ${r.topic}`),
        jsonView(r.body, "transformed body"),
        h("h3", null, "Metadata sent"),
        jsonView(r.metadata, "metadata sent"),
      );
    } catch (e) {
      result.replaceChildren(errorBox(e));
    } finally {
      button.disabled = false;
    }
  });
  const node = h(
    "fieldset",
    { class: "field transform" },
    h("legend", { class: "visually-hidden" }, "Transformation"),
    h("p", { class: "hint" }, "Reshape what this destination is sent with jq programs. A program that fails records the delivery as failed (transform_failed), without retries."),
    body.node,
    headers.node,
    samples.length ? h("div", { class: "with-button" }, pick, button) : null,
    result,
  );
  return { node, read };
}
