// Forms generated from a destination type's schema (the documents of
// GET /destination-types): one input per config and credential field, the
// topics picker and the payload filter editor. The API validates again and
// its 422 messages ("config.url: …") are shown at their fields.

import { h, uid } from "./dom.js";
import { api } from "../api.js";
import { errorBox, jsonView } from "./widgets.js";

/** The inputs of one section (`config` or `credentials`). `values` are
 * the current ones (masked for stored secrets: sent back unchanged, they
 * keep the stored value). */
export function sectionForm(section, fields, values = {}, { hidden = [] } = {}) {
  const inputs = fields
    .filter((f) => !hidden.includes(f.key))
    .map((f) => fieldInput(section, f, values[f.key]));
  return {
    node: h("div", { class: "fields" }, inputs.map((i) => i.node)),
    read() {
      const out = {};
      for (const i of inputs) {
        const v = i.read();
        if (v !== undefined) out[i.field.key] = v;
      }
      return out;
    },
    /** Client-side checks (required, pattern); messages as the API words them. */
    check() {
      return inputs.map((i) => i.check()).filter(Boolean);
    },
    inputs,
  };
}

function fieldInput(section, field, value) {
  const id = uid(field.key);
  const path = `${section}.${field.key}`;
  const errorId = `${id}-error`;
  const hint = field.description ? h("p", { class: "hint", id: `${id}-hint` }, field.description) : null;
  const error = h("p", { class: "field-error", id: errorId, hidden: true });
  const describedBy = [hint ? `${id}-hint` : null, errorId].filter(Boolean).join(" ");
  const label = h("label", { for: id }, field.label || field.key, field.required ? h("span", { class: "required", "aria-hidden": "true" }, " *") : null);
  let control;
  let read;
  switch (field.type) {
    case "checkbox": {
      const on = value !== undefined ? ["true", "on", true].includes(value) : ["true", "on"].includes(field.default);
      control = h("input", { id, type: "checkbox", checked: on, "aria-describedby": describedBy });
      read = () => (control.checked ? "true" : "false");
      return wrap(h("div", { class: "field checkbox" }, control, label, hint, error));
    }
    case "select": {
      control = h(
        "select",
        { id, required: field.required, "aria-describedby": describedBy },
        field.required ? null : h("option", { value: "" }, "—"),
        (field.options || []).map((o) => h("option", { value: o.value, selected: o.value === value }, o.label)),
      );
      read = () => control.value || undefined;
      break;
    }
    case "key_value_map": {
      const editor = keyValueEditor(id, value, field);
      control = editor.node;
      read = editor.read;
      return wrap(h("fieldset", { class: "field" }, h("legend", null, field.label || field.key), hint, control, error));
    }
    default: {
      const secret = field.sensitive;
      control = h("input", {
        id,
        type: secret ? "password" : "text",
        value: value ?? "",
        required: field.required,
        placeholder: field.placeholder || "",
        autocomplete: secret ? "new-password" : "off",
        spellcheck: "false",
        "aria-describedby": describedBy,
      });
      read = () => (control.value.trim() === "" ? undefined : control.value);
      if (secret) {
        const toggle = h("button", { type: "button", class: "button small", "aria-label": `Show ${field.label || field.key}` }, "Show");
        toggle.addEventListener("click", () => {
          const show = control.type === "password";
          control.type = show ? "text" : "password";
          toggle.textContent = show ? "Hide" : "Show";
        });
        return wrap(h("div", { class: "field" }, label, h("div", { class: "with-button" }, control, toggle), hint, error));
      }
    }
  }
  return wrap(h("div", { class: "field" }, label, control, hint, error));

  function wrap(node) {
    const showError = (message) => {
      error.hidden = !message;
      error.textContent = message || "";
      if (control.setAttribute) control.setAttribute("aria-invalid", message ? "true" : "false");
    };
    // An error is about the value it was given: editing the field clears
    // it (the next submit checks again).
    for (const kind of ["input", "change"]) node.addEventListener(kind, () => showError(null));
    return {
      field,
      path,
      node,
      read,
      showError,
      check() {
        const v = read();
        if (field.required && (v === undefined || v === "")) return `${path}: is required`;
        if (field.pattern && typeof v === "string" && v !== "") {
          try {
            // In words, not the raw expression: what the field is for.
            if (!new RegExp(field.pattern).test(v)) return `${path}: is not valid here (${field.description || field.label})`;
          } catch {
            return null; // the API checks it
          }
        }
        return null;
      },
    };
  }
}

/** Rows of name/value inputs, for custom headers. */
function keyValueEditor(id, value, field) {
  let map = {};
  if (value && typeof value === "object") map = value;
  else if (typeof value === "string" && value) {
    try {
      map = JSON.parse(value);
    } catch {
      map = {};
    }
  }
  const rows = h("div", { class: "kv-rows", id });
  const addRow = (k = "", v = "") => {
    const key = h("input", { type: "text", value: k, placeholder: field.key_placeholder || "Name", "aria-label": `${field.label || field.key} name`, spellcheck: "false" });
    const val = h("input", { type: "text", value: v, placeholder: field.value_placeholder || "Value", "aria-label": `${field.label || field.key} value`, spellcheck: "false" });
    const row = h("div", { class: "kv-row" }, key, val);
    row.append(h("button", { type: "button", class: "icon-button", "aria-label": "Remove", onclick: () => row.remove() }, "✕"));
    rows.append(row);
  };
  for (const [k, v] of Object.entries(map)) addRow(k, String(v));
  const node = h("div", null, rows, h("button", { type: "button", class: "button small", onclick: () => addRow() }, "Add"));
  return {
    node,
    read() {
      const out = {};
      for (const row of rows.querySelectorAll(".kv-row")) {
        const [k, v] = row.querySelectorAll("input");
        if (k.value.trim()) out[k.value.trim()] = v.value;
      }
      return Object.keys(out).length ? out : undefined;
    },
  };
}

/** Shows the API's messages at their fields; returns those no field took. */
export function placeMessages(messages, forms) {
  const inputs = forms.flatMap((f) => f.inputs);
  for (const i of inputs) i.showError(null);
  const rest = [];
  for (const m of messages) {
    const i = inputs.find((x) => m.startsWith(`${x.path}:`) || m.startsWith(`${x.path}.`));
    if (i) i.showError(m.slice(m.indexOf(":") + 1).trim() || m);
    else rest.push(m);
  }
  return rest;
}

/** Topics: the catalog's (or the deployment's list), or all (`*`). */
export function topicsPicker(available, selected = [], { wildcards = false } = {}) {
  const all = selected.includes("*");
  const id = uid("topics");
  const star = h("input", { type: "checkbox", id: `${id}-all`, checked: all });
  const box = (value, text, checked) =>
    h("label", { class: "check" }, h("input", { type: "checkbox", value, checked: !all && checked }), text);
  // With wildcards on, the topics are grouped by their first part, and each
  // group offers its pattern (`user.*`: every user topic, later ones too).
  const prefix = (t) => (t.includes(".") ? t.slice(0, t.indexOf(".")) : null);
  const groups = new Map();
  for (const t of available) {
    const p = wildcards ? prefix(t) : null;
    if (!groups.has(p)) groups.set(p, []);
    groups.get(p).push(t);
  }
  const patterns = [];
  const boxes = [];
  const listed = [];
  const grouped = [];
  for (const [p, topics] of groups) {
    const members = topics.map((t) => box(t, t, selected.includes(t)));
    boxes.push(...members);
    if (p === null || topics.length < 2) {
      listed.push(...members);
      continue;
    }
    const pattern = `${p}.*`;
    const whole = box(pattern, h("span", null, h("code", null, pattern), ` all ${p} topics`), selected.includes(pattern));
    patterns.push(whole);
    const inner = h("div", { class: "topic-group-members" }, members);
    const syncGroup = () => {
      inner.hidden = whole.querySelector("input").checked;
    };
    whole.querySelector("input").addEventListener("change", syncGroup);
    syncGroup();
    const group = h("div", { class: "topic-group", role: "group", "aria-label": `${p} topics` }, whole, inner);
    grouped.push({ group, whole, members });
    listed.push(group);
  }
  const offered = new Set([...available, ...patterns.map((b) => b.querySelector("input").value)]);
  const others = all ? [] : selected.filter((t) => !offered.has(t));
  const free = available.length && !wildcards
    ? null
    : h("input", {
        id: `${id}-free`,
        type: "text",
        value: others.join(", "),
        placeholder: wildcards ? "order.*.completed, *.created" : "user.created, user.deleted",
        // With a list the visible "Other patterns" label names it.
        "aria-label": available.length ? null : "Topics, comma separated",
      });
  const freeField = free
    ? h(
        "div",
        { class: "topic-free" },
        available.length ? h("label", { for: `${id}-free` }, "Other patterns") : null,
        free,
        wildcards
          ? h("p", { class: "hint" }, "Use * for any characters: user.* matches user.created and user.profile.updated; *.created matches every topic ending in .created.")
          : null,
      )
    : null;
  // A search over a long list: it hides what does not match, never
  // unticks anything.
  const search = available.length >= 5 ? h("input", { type: "search", id: `${id}-search`, class: "topic-search", placeholder: "Search topics", "aria-label": "Search topics", autocomplete: "off" }) : null;
  const none = h("p", { class: "hint", hidden: true }, "No topic matches the search.");
  if (search) {
    search.addEventListener("input", () => {
      const q = search.value.trim().toLowerCase();
      const fits = (label) => !q || label.querySelector("input").value.toLowerCase().includes(q);
      for (const b of boxes) b.hidden = !fits(b);
      for (const g of grouped) {
        const any = g.members.some((b) => !b.hidden);
        g.whole.hidden = !(fits(g.whole) || any);
        g.group.hidden = g.whole.hidden;
      }
      none.hidden = boxes.some((b) => !b.hidden) || grouped.some((g) => !g.group.hidden);
    });
    // Enter in the search field must not submit the form.
    search.addEventListener("keydown", (e) => {
      if (e.key === "Enter") e.preventDefault();
    });
  }
  const list = h("div", { class: "topic-list" }, search, none, listed, freeField);
  const sync = () => {
    list.hidden = star.checked;
  };
  star.addEventListener("change", sync);
  sync();
  const node = h(
    "fieldset",
    { class: "field" },
    h("legend", null, "Topics", h("span", { class: "required", "aria-hidden": "true" }, " *")),
    h("label", { class: "check", for: `${id}-all` }, star, "All topics"),
    h("p", { class: "hint" }, "All topics includes topics added later, and can be a high volume of events."),
    list,
  );
  const checked = (labels) => labels.map((b) => b.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
  return {
    node,
    read() {
      if (star.checked) return ["*"];
      const typed = free ? free.value.split(",").map((s) => s.trim()).filter(Boolean) : [];
      const chosenPatterns = checked(patterns);
      // A topic inside a chosen group is covered by its pattern.
      const inGroup = (t) => chosenPatterns.some((p) => t.startsWith(p.slice(0, -1)));
      return [...chosenPatterns, ...checked(boxes).filter((t) => !inGroup(t)), ...typed];
    },
  };
}

/** The payload filter: a JSON editor, checked by the API as you go, with a
 * preview against a topic's sample payload. */
export function filterEditor(initial, catalog) {
  const id = uid("filter");
  const area = h("textarea", { id, rows: 6, spellcheck: "false", placeholder: '{"data": {"plan": "pro"}}' }, initial ? JSON.stringify(initial, null, 2) : "");
  const status = h("div", { class: "filter-status", role: "status", "aria-live": "polite" });
  const samples = catalog.filter((e) => e.sample);
  const pick = h(
    "select",
    { "aria-label": "Sample payload to test the filter against" },
    samples.map((e) => h("option", { value: e.name }, e.name)),
  );
  const preview = h("button", { type: "button", class: "button small" }, "Does it match?");
  const read = () => {
    const text = area.value.trim();
    if (!text) return { ok: true, value: null };
    try {
      return { ok: true, value: JSON.parse(text) };
    } catch (e) {
      return { ok: false, error: `The filter is not valid JSON: ${e.message}` };
    }
  };
  preview.addEventListener("click", async () => {
    const f = read();
    if (!f.ok) return status.replaceChildren(errorBox({ messages: [f.error] }));
    const entry = samples.find((e) => e.name === pick.value);
    if (!entry) return;
    try {
      const r = await api("POST", "/filters/match", {
        filter: f.value || {},
        event: { topic: entry.name, data: entry.sample, metadata: {} },
      });
      status.replaceChildren(
        h("p", { class: r.matches ? "ok" : "warn" }, r.matches ? `Matches the ${entry.name} sample.` : `Does not match the ${entry.name} sample.`),
        jsonView(entry.sample, "sample payload"),
      );
    } catch (e) {
      status.replaceChildren(errorBox(e));
    }
  });
  const node = h(
    "div",
    { class: "field" },
    h("label", { for: id }, "Payload filter (optional)"),
    h("p", { class: "hint" }, "Only events whose envelope {id, topic, time, metadata, data} contains this JSON are delivered. Operators such as $gt, $in, $exist and $or are supported."),
    area,
    samples.length ? h("div", { class: "with-button" }, pick, preview) : null,
    status,
  );
  return { node, read };
}
