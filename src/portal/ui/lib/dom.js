// The portal's one way to make DOM: h(tag, attrs, ...children).
//
// Children that are strings become text nodes, so anything that came from
// an event, a receiver or a tenant is shown as text and never parsed as
// HTML: there is no innerHTML anywhere in the portal.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

/** An SVG element (icons, sparklines). */
export function svg(tag, attrs, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  if (!attrs) return;
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") {
      el.addEventListener(k.slice(2), v);
    } else if (k === "class") {
      el.setAttribute("class", Array.isArray(v) ? v.filter(Boolean).join(" ") : v);
    } else if (k === "value" || k === "checked" || k === "disabled" || k === "selected") {
      el[k] = v;
    } else {
      el.setAttribute(k, v === true ? "" : String(v));
    }
  }
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces the content of `el`. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A unique id for label/input pairs. */
let seq = 0;
export function uid(prefix = "f") {
  seq += 1;
  return `${prefix}-${seq}`;
}

/** The parameters after `?` in the address's hash (`#/events?status=failed`). */
export function hashParams() {
  return new URLSearchParams(window.location.hash.split("?")[1] || "");
}

/** Sets parameters of the hash (an empty value removes one) in place: no
 * new route is rendered and no history entry added, so a reload or a
 * copied link opens the same view. */
export function replaceHashParams(changes) {
  const path = window.location.hash.split("?")[0] || "#/";
  const p = hashParams();
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined || v === null || v === "") p.delete(k);
    else p.set(k, v);
  }
  const q = p.toString();
  history.replaceState(null, "", `${path}${q ? `?${q}` : ""}`);
}
