// Add a destination: pick a type, then configure it — fields from the
// type's schema, topics, and an optional payload filter — with the type's
// guide beside the form. The API's 422 messages appear at their fields.

import { api, own } from "../api.js";
import { h, mount } from "../lib/dom.js";
import { errorBox, typeIcon } from "../lib/widgets.js";
import { markdown } from "../lib/markdown.js";
import { filterEditor, placeMessages, sectionForm, topicsPicker } from "../lib/fields.js";
import { transformEditor } from "../lib/transform.js";

export async function render(outlet, ctx) {
  pickType(outlet, ctx);
}

function pickType(outlet, ctx) {
  mount(
    outlet,
    h("div", { class: "page-head" }, h("h1", null, "Add destination"), h("a", { class: "button", href: "#/destinations" }, "Cancel")),
    h("p", { class: "step" }, "Step 1 of 2 · Choose where events go"),
    // A list of buttons: each card is a real button inside its list item,
    // so assistive technology announces it as one.
    h(
      "ul",
      { class: "type-grid", "aria-label": "Destination types" },
      ctx.types.map((t) =>
        h(
          "li",
          null,
          h(
            "button",
            { type: "button", class: "card type-card", "data-type": t.type, onclick: () => configure(outlet, ctx, t) },
            h("span", { class: "type-card-head" }, typeIcon(t, 28), h("strong", null, t.label)),
            h("span", { class: "muted" }, t.description),
          ),
        ),
      ),
    ),
  );
}

/** Fields the deployment turned off in the portal. */
function hiddenConfig(ctx, type) {
  return type.type === "webhook" && !ctx.settings.enable_webhook_custom_headers ? ["custom_headers"] : [];
}

function configure(outlet, ctx, type) {
  const config = sectionForm("config", type.config_fields, {}, { hidden: hiddenConfig(ctx, type) });
  const credentials = sectionForm("credentials", type.credential_fields);
  const topics = topicsPicker(ctx.topicNames(), [], { wildcards: ctx.settings.wildcard_topics });
  const filter = ctx.settings.enable_destination_filter ? filterEditor(null, ctx.catalog) : null;
  const transform = transformEditor(null, { catalog: ctx.catalog, topics: () => topics.read() });
  const errors = h("div", { "aria-live": "polite" });
  const submit = h("button", { type: "submit", class: "button primary" }, "Create destination");
  const form = h(
    "form",
    { class: "form", novalidate: true, "aria-label": `New ${type.label} destination` },
    // No heading over nothing (Hookdeck has credentials only).
    config.inputs.length ? [h("h2", null, "Configuration"), config.node] : null,
    type.credential_fields.length ? [h("h2", null, "Credentials"), credentials.node] : null,
    h("h2", null, "Events"),
    topics.node,
    filter ? filter.node : null,
    h("h2", null, "Transformation (optional)"),
    transform.node,
    errors,
    h("div", { class: "actions" }, h("button", { type: "button", class: "button", onclick: () => pickType(outlet, ctx) }, "Back"), submit),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const local = [...config.check(), ...credentials.check()];
    const chosen = topics.read();
    if (!chosen.length) local.push("topics: choose at least one topic, or All topics");
    const f = filter ? filter.read() : { ok: true, value: null };
    if (!f.ok) local.push(f.error);
    if (local.length) return show(local);
    const body = { type: type.type, topics: chosen, config: config.read(), credentials: credentials.read() };
    if (f.value) body.filter = f.value;
    const tr = transform.read();
    if (tr) body.delivery_policy = { transform: tr };
    submit.disabled = true;
    try {
      const d = await api("POST", own("/destinations"), body);
      window.location.hash = `#/destinations/${encodeURIComponent(d.id)}`;
    } catch (err) {
      submit.disabled = false;
      show(err.messages || [err.message]);
    }
  });
  function show(messages) {
    const rest = placeMessages(messages, [config, credentials]);
    mount(errors, rest.length ? errorBox({ messages: rest }) : null);
    const first = form.querySelector("[aria-invalid=true]") || errors;
    if (first.focus) first.focus();
  }
  mount(
    outlet,
    h("div", { class: "page-head" }, h("h1", null, "Add destination"), h("a", { class: "button", href: "#/destinations" }, "Cancel")),
    h("p", { class: "step" }, `Step 2 of 2 · Configure ${type.label}`),
    h(
      "div",
      { class: "with-guide" },
      form,
      h(
        "aside",
        { class: "card guide", "aria-label": `${type.label} guide` },
        h("h2", null, h("span", { class: "type" }, typeIcon(type, 24), type.label)),
        h("p", null, type.description),
        guide(type),
        type.link ? h("p", null, h("a", { href: type.link, target: "_blank", rel: "noopener noreferrer" }, "Documentation ↗")) : null,
        type.setup_link ? h("p", null, h("a", { class: "button", href: type.setup_link.href, target: "_blank", rel: "noopener noreferrer" }, type.setup_link.cta)) : null,
      ),
    ),
  );
  // Keyboard focus follows the choice into the form's first field.
  const firstField = form.querySelector("input, select, textarea");
  if (firstField) firstField.focus();
}

/** How to set the type up: its instructions (Markdown, from the API);
 * without them, what each field is for, from the schema. */
function guide(type) {
  if (type.instructions) return h("div", { class: "instructions" }, markdown(type.instructions));
  const fields = [...type.config_fields, ...type.credential_fields];
  if (!fields.length) return null;
  return h(
    "dl",
    { class: "guide-fields" },
    fields.map((f) => [h("dt", null, f.label, f.required ? " (required)" : ""), h("dd", null, f.description)]),
  );
}


