// The portal: boot (settings, session, theme), the layout and the router.
//
// Routes are in the hash (#/destinations/des_1), so the server serves one
// page and a reload keeps the place. Every screen is a module exporting
// `render(outlet, ctx)`; the context carries the settings and what the
// screens share (the destination types, the topic catalog).

import { api, startSession, tenantId, endSession, SessionExpired, ApiError } from "./api.js";
import { h, mount } from "./lib/dom.js";
import { errorBox, loading } from "./lib/widgets.js";

const settings = readSettings();
const app = document.getElementById("app");

function readSettings() {
  try {
    return JSON.parse(document.getElementById("portal-settings").textContent) || {};
  } catch {
    return {};
  }
}

const ROUTES = [
  { pattern: /^\/destinations\/new$/, load: () => import("./screens/new_destination.js"), tab: "destinations" },
  { pattern: /^\/destinations\/([^/]+)$/, load: () => import("./screens/destination.js"), tab: "destinations" },
  { pattern: /^\/destinations$/, load: () => import("./screens/destinations.js"), tab: "destinations" },
  { pattern: /^\/events\/([^/]+)$/, load: () => import("./screens/events.js"), tab: "events", detail: true },
  { pattern: /^\/events$/, load: () => import("./screens/events.js"), tab: "events" },
  { pattern: /^\/catalog$/, load: () => import("./screens/catalog.js"), tab: "catalog" },
];

const TABS = [
  ["destinations", "Destinations"],
  ["events", "Events"],
  ["catalog", "Topic Catalog"],
];

/** Light or dark: the operator's forced theme, then `?theme=`, then the
 * user's last choice, then the system's. */
function applyTheme() {
  const url = new URL(window.location.href);
  const asked = url.searchParams.get("theme");
  if (asked === "light" || asked === "dark") sessionStorage.setItem("outbound.portal.theme", asked);
  const chosen = settings.force_theme || sessionStorage.getItem("outbound.portal.theme");
  const system = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  document.documentElement.dataset.theme = chosen || system;
  if (settings.brand_color) document.documentElement.style.setProperty("--brand", settings.brand_color);
}

function toggleTheme() {
  const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
  sessionStorage.setItem("outbound.portal.theme", next);
  document.documentElement.dataset.theme = next;
  renderHeaderLogo();
}

let logoSlot;
function renderHeaderLogo() {
  if (!logoSlot) return;
  const dark = document.documentElement.dataset.theme === "dark";
  const src = (dark && settings.logo_dark) || settings.logo;
  mount(
    logoSlot,
    src ? h("img", { class: "logo", src, alt: settings.organization_name || "Logo" }) : null,
    h("span", { class: "org" }, settings.organization_name || "Webhooks"),
  );
}

/** The screen for a missing, expired or invalid session: never a blank page. */
function sessionExpired() {
  endSession();
  const links = [];
  if (settings.refresh_url) links.push(h("a", { class: "button primary", href: settings.refresh_url }, "Get a new link"));
  if (settings.referer_url) links.push(h("a", { class: "button", href: settings.referer_url }, "Back"));
  mount(
    app,
    h(
      "main",
      { class: "centered" },
      h(
        "section",
        { class: "card narrow", "data-screen": "session-expired" },
        h("h1", null, "Session expired"),
        h("p", null, "This link has expired or is not valid. Open the webhooks settings again from your account to get a new one."),
        links.length ? h("div", { class: "actions" }, links) : null,
      ),
    ),
  );
}

function layout(activeTab) {
  logoSlot = h("a", { class: "brand", href: "#/destinations" });
  renderHeaderLogo();
  const outlet = h("main", { id: "main", tabindex: "-1" });
  const nav = h(
    "nav",
    { class: "tabs", "aria-label": "Sections" },
    TABS.map(([id, label]) =>
      h("a", { href: `#/${id}`, class: ["tab", id === activeTab ? "active" : null], "aria-current": id === activeTab ? "page" : null }, label),
    ),
  );
  mount(
    app,
    h("a", { class: "skip", href: "#main", onclick: (e) => { e.preventDefault(); outlet.focus(); } }, "Skip to content"),
    h(
      "header",
      { class: "top" },
      logoSlot,
      h(
        "div",
        { class: "top-actions" },
        settings.referer_url ? h("a", { class: "button small", href: settings.referer_url }, "← Back") : null,
        settings.force_theme ? null : h("button", { type: "button", class: "button small", onclick: toggleTheme, "aria-label": "Switch between light and dark theme" }, "Theme"),
      ),
    ),
    nav,
    outlet,
    settings.disable_branding ? null : h("footer", { class: "foot" }, "Powered by outbound"),
  );
  return outlet;
}

/** Shared, loaded once: the deliverable types and the topic catalog. */
const ctx = {
  settings,
  tenant: () => tenantId(),
  types: null,
  catalog: null,
  topics: null,
  async load() {
    if (!this.types) {
      const [types, catalog, topics] = await Promise.all([
        api("GET", "/destination-types"),
        api("GET", "/topics/catalog"),
        api("GET", "/topics"),
      ]);
      this.types = types;
      this.catalog = catalog;
      this.topics = topics;
    }
  },
  type(kind) {
    return (this.types || []).find((t) => t.type === kind);
  },
  /** The topics a destination can subscribe to: the catalog's, else the
   * deployment's list (empty: any topic). */
  topicNames() {
    const names = (this.catalog || []).map((e) => e.name);
    return names.length ? names : this.topics || [];
  },
};

/** The route the address names, and its parameters. */
function current() {
  const path = (window.location.hash || "#/destinations").slice(1).split("?")[0] || "/destinations";
  return ROUTES.map((r) => ({ r, m: r.pattern.exec(path) })).find((x) => x.m);
}

/** The first screen's data, fetched during boot (see `boot`). */
let early = null;

async function route() {
  const match = current();
  if (!match) {
    window.location.hash = "#/destinations";
    return;
  }
  const outlet = layout(match.r.tab);
  mount(outlet, loading());
  try {
    await ctx.load();
    const screen = await match.r.load();
    const args = match.m.slice(1).map(decodeURIComponent);
    const prefetched = early;
    early = null;
    if (prefetched && screen.prefetch && args.length === 0) {
      await screen.render(outlet, ctx, prefetched);
    } else {
      await screen.render(outlet, ctx, ...args);
    }
    document.body.dataset.ready = "true";
    // Milliseconds from the start of navigation to the first usable screen
    // (the browser tests print it).
    if (!window.__portalFirstRender) window.__portalFirstRender = performance.now();
  } catch (err) {
    if (err instanceof SessionExpired) return sessionExpired();
    mount(outlet, h("section", { class: "card" }, h("h1", null, "Something went wrong"), errorBox(err)));
  }
}

async function boot() {
  applyTheme();
  const session = startSession();
  if (!session) return sessionExpired();
  // The shared data, the first screen's module and its data all load
  // while the tenant is checked: one round trip to a usable screen, not
  // three. (A failed prefetch is simply fetched again by the screen.)
  const shared = ctx.load().catch(() => {});
  const first = current();
  if (first && first.m.length === 1) {
    early = first.r
      .load()
      .then((screen) => (screen.prefetch ? screen.prefetch() : null))
      .catch(() => null);
  }
  try {
    await api("GET", `/tenants/${encodeURIComponent(session.tenant)}`);
    await shared;
  } catch (err) {
    if (err instanceof SessionExpired) return sessionExpired();
    if (err instanceof ApiError && err.status === 404) {
      const setup = await import("./screens/setup.js");
      return setup.render(app, ctx, () => boot());
    }
    if (err instanceof ApiError && err.status === 403) {
      // A way back: where the platform sends its users, else a fresh link.
      const back = settings.referer_url || settings.refresh_url;
      return mount(app, h("main", { class: "centered" }, h("section", { class: "card narrow" }, h("h1", null, "Not allowed"), h("p", null, "This session is for another account. Open the webhooks settings again from your account."), back ? h("a", { class: "button primary", href: back, id: "not-allowed-back" }, "Back to your account") : null)));
    }
    return mount(app, h("main", { class: "centered" }, h("section", { class: "card narrow" }, h("h1", null, "Something went wrong"), errorBox(err))));
  }
  window.addEventListener("hashchange", route);
  await route();
}

boot();
