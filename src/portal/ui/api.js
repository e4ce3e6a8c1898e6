// The one module that calls /api/v1 and knows the session token.
//
// The token arrives once, in the portal link's query string; boot moves it
// to sessionStorage (this tab only, gone when the tab closes) and removes it
// from the address bar, so it is not left in history, bookmarks or a
// shared screenshot.

const KEY = "outbound.portal.session";

/** An answer of the API other than 2xx: its status, message and the
 * per-field messages of a 422. */
export class ApiError extends Error {
  constructor(status, message, data) {
    super(message);
    this.status = status;
    this.data = data;
  }
  /** The messages to show: the 422's list, or the message. */
  get messages() {
    return Array.isArray(this.data) && this.data.length ? this.data : [this.message];
  }
}

/** The session is missing, expired or refused (401). */
export class SessionExpired extends Error {}

let session = null;

/** Takes `token` and `tenant_id` from the URL into sessionStorage and
 * cleans the address bar; returns the session (or null). */
export function startSession() {
  const url = new URL(window.location.href);
  const token = url.searchParams.get("token");
  const tenant = url.searchParams.get("tenant_id");
  if (token && tenant) {
    sessionStorage.setItem(KEY, JSON.stringify({ token, tenant }));
  }
  for (const p of ["token", "tenant_id"]) url.searchParams.delete(p);
  if (url.href !== window.location.href) {
    history.replaceState(null, "", url.pathname + url.search + url.hash);
  }
  try {
    session = JSON.parse(sessionStorage.getItem(KEY) || "null");
  } catch {
    session = null;
  }
  return session;
}

export function tenantId() {
  return session ? session.tenant : null;
}

export function endSession() {
  sessionStorage.removeItem(KEY);
  session = null;
}

/** Calls the API; resolves with the JSON answer, rejects with ApiError or
 * SessionExpired. */
export async function api(method, path, body) {
  if (!session) throw new SessionExpired("no session");
  const init = {
    method,
    headers: { authorization: `Bearer ${session.token}` },
    credentials: "omit",
    cache: "no-store",
  };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(`/api/v1${path}`, init);
  } catch (err) {
    throw new ApiError(0, `The service could not be reached (${err.message}).`);
  }
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (res.status === 401) throw new SessionExpired("session expired");
  if (!res.ok) {
    throw new ApiError(res.status, (json && json.message) || `HTTP ${res.status}`, json && json.data);
  }
  return json;
}

/** `/tenants/<tenant>` + rest, the tenant's own resources. */
export function own(rest = "") {
  return `/tenants/${encodeURIComponent(tenantId())}${rest}`;
}

/** A query string from an object; arrays repeat the key; empty values are left out. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === "") continue;
    for (const item of Array.isArray(v) ? v : [v]) q.append(k, item);
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}
