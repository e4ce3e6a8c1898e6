// The portal, used as a tenant administrator uses it, in Debian's headless
// Chromium driven by playwright-core. Run by tests/it/portal.rs, which
// starts a real `outbound serve` and a real receiver and passes them in:
//
//   PORTAL_LINK   the portal link of a tenant that does not exist yet
//   EXPIRED_LINK  a portal link whose token has expired
//   API           http://host:port/api/v1, API_KEY the operator's key
//   RECEIVER      the receiver's base URL (/__default/<status> sets its reply)
//   OTHER_DESTINATION, OTHER_EVENT  another tenant's ids
//   PORTAL_ASSETS every asset's path under /portal/<version>/, comma-separated
//   SCREENSHOTS   optional: a folder for the screenshots of each tab
//   FIRST_SCREEN_BUDGET_MS  optional: the first screen's budget (release builds)
//
// Exits 0 when every step held; prints what it measured (first render,
// sizes) as `measure:` lines.

import { chromium } from "playwright-core";
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { gzipSync } from "node:zlib";

const env = process.env;
const tenant = new URL(env.PORTAL_LINK).searchParams.get("tenant_id");
const shots = env.SCREENSHOTS;
// Every JS and CSS file of the portal (from outbound::portal::asset_paths).
const ASSETS = (env.PORTAL_ASSETS || "").split(",").filter(Boolean);
if (shots) mkdirSync(shots, { recursive: true });

const browser = await chromium.launch({
  executablePath: env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

const problems = [];
let step = "start";
function check(ok, what) {
  if (!ok) {
    problems.push(`${step}: ${what}`);
    console.error(`FAIL ${step}: ${what}`);
  }
}

/** The operator's API, for what the test does besides the portal. */
async function admin(method, path, body) {
  const res = await fetch(`${env.API}${path}`, {
    method,
    headers: { authorization: `Bearer ${env.API_KEY}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

async function receiverReplies(status) {
  await fetch(`${env.RECEIVER}/__default/${status}`, { method: "POST" });
}

/** A page that records console errors, page errors and dialogs (which an
 * injected script would open). */
async function newPage(options = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, ...options });
  const page = await context.newPage();
  page.errors = [];
  page.on("console", (m) => {
    // Chromium logs every 4xx answer as a console error; the journey
    // provokes some on purpose (a 422 shown inline, another tenant's 404),
    // so those are checked by the steps themselves and 5xx answers below.
    if (m.type() === "error" && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) {
      page.errors.push(`console: ${m.text()}`);
    }
  });
  page.on("response", (r) => {
    if (r.status() >= 500) page.errors.push(`server error: ${r.status()} ${r.url()}`);
  });
  page.on("pageerror", (e) => page.errors.push(`page error: ${e.message}`));
  page.on("dialog", (d) => {
    page.errors.push(`dialog opened: ${d.message()}`);
    d.dismiss();
  });
  return page;
}

/** The address as the page has it now: the portal changes it in place
 * (history.replaceState), which page.url() learns of only later. */
async function here(page) {
  return page.evaluate(() => location.href);
}

async function ready(page) {
  await page.waitForFunction(() => document.body.dataset.ready === "true", null, { timeout: 15000 });
}

async function go(page, hash) {
  await page.evaluate(() => (document.body.dataset.ready = ""));
  await page.evaluate((h) => (location.hash = h), hash);
  await ready(page);
}

/** Screenshots of the page as it is, light and dark, at 1280 px and at a
 * phone's 390 px (`-phone`). */
async function shot(page, name) {
  if (!shots) return;
  await page.evaluate(() => document.querySelectorAll(".toast").forEach((t) => t.remove()));
  const size = page.viewportSize();
  for (const [suffix, width] of [["", size.width], ["-phone", 390]]) {
    await page.setViewportSize({ width, height: width === 390 ? 844 : size.height });
    for (const theme of ["light", "dark"]) {
      await page.evaluate((t) => (document.documentElement.dataset.theme = t), theme);
      await page.screenshot({ path: `${shots}/${name}${suffix}-${theme}.png`, fullPage: true });
    }
  }
  await page.setViewportSize(size);
  await page.evaluate(() => (document.documentElement.dataset.theme = "light"));
}

// axe-core, pinned in package-lock.json: the accessibility pass.
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
const audited = [];

/** Runs axe-core on the page as it is, in the light and the dark theme;
 * any serious or critical violation is a failed check. */
async function audit(page, name) {
  const theme = await page.evaluate(() => document.documentElement.dataset.theme);
  for (const t of ["light", "dark"]) {
    await page.evaluate((x) => (document.documentElement.dataset.theme = x), t);
    // Evaluated by the driver, so the page's CSP (scripts from its own
    // origin only) does not stand in the way.
    if (!(await page.evaluate(() => typeof window.axe === "object"))) await page.evaluate(axeSource);
    const found = await page.evaluate(async () => {
      const r = await window.axe.run(document, { resultTypes: ["violations"] });
      return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")) }));
    });
    const bad = found.filter((v) => v.impact === "serious" || v.impact === "critical");
    audited.push(`${name}/${t}: ${found.length} violation(s), ${bad.length} serious or critical${found.length ? ` (${found.map((v) => `${v.id} [${v.impact}]`).join(", ")})` : ""}`);
    check(bad.length === 0, `axe on ${name} (${t}): ${bad.map((v) => `${v.id} [${v.impact}] at ${v.nodes.join(", ")}`).join("; ")}`);
  }
  await page.evaluate((x) => (document.documentElement.dataset.theme = x), theme);
}

/** A screen reached: its accessibility pass, then its screenshots. */
async function screen(page, name) {
  await audit(page, name);
  await shot(page, name);
}

/** Polls `fn` until it returns truthy, reloading the route in between.
 * 100 tries (40 s and more): a delivery waited for here shares the machine
 * with the rest of the suite, which on 2 cores can hold it up for seconds. */
async function until(page, fn, what, tries = 100) {
  for (let i = 0; i < tries; i += 1) {
    if (await fn()) return true;
    await page.waitForTimeout(400);
    await page.evaluate(() => window.dispatchEvent(new HashChangeEvent("hashchange")));
    await ready(page);
  }
  check(false, `timed out waiting for ${what}`);
  return false;
}

const page = await newPage({ colorScheme: "light" });

step = "first visit: set up";
await page.goto(env.PORTAL_LINK);
await page.getByRole("button", { name: "Set up Webhooks" }).waitFor();
check(!page.url().includes("token="), "the token left the address bar");
check(await page.evaluate(() => !!sessionStorage.getItem("outbound.portal.session")), "the token is in session storage");
await screen(page, "setup");
await page.getByRole("button", { name: "Set up Webhooks" }).click();
await ready(page);
check(await page.getByRole("heading", { name: "Destinations" }).isVisible(), "the destinations tab after set-up");
const firstRender = await page.evaluate(() => window.__portalFirstRender);
console.log(`measure: first screen usable ${Math.round(firstRender)} ms after navigation`);

step = "first load time";
{
  // Five fresh pages (a new browser context each: no cache, no session),
  // as a user opening the portal link; the median is the figure.
  const link = await admin("GET", `/tenants/${tenant}/portal`);
  const times = [];
  let wire = 0;
  let body = 0;
  for (let i = 0; i < 5; i++) {
    const p = await newPage();
    await p.goto(link.json.redirect_url);
    await ready(p);
    times.push(await p.evaluate(() => window.__portalFirstRender));
    if (i === 0) {
      // Bytes on the wire for the first screen: the page, its assets and
      // the API's answers, headers included (transferSize), and bodies as
      // sent (encodedBodySize, compressed where the server compressed).
      const entries = await p.evaluate(() => [...performance.getEntriesByType("navigation"), ...performance.getEntriesByType("resource")].map((e) => ({ name: e.name, transfer: e.transferSize, encoded: e.encodedBodySize, decoded: e.decodedBodySize })));
      wire = entries.reduce((n, e) => n + e.transfer, 0);
      body = entries.reduce((n, e) => n + e.encoded, 0);
      const decoded = entries.reduce((n, e) => n + e.decoded, 0);
      const sent = entries.filter((e) => e.name.includes("/portal/") && e.decoded > 1024);
      check(sent.length > 0 && sent.every((e) => e.encoded < e.decoded), `the assets arrive compressed: ${sent.map((e) => `${e.name.split("/").pop()} ${e.encoded}/${e.decoded}`)}`);
      console.log(`measure: first screen on the wire ${wire} bytes in ${entries.length} requests (bodies ${body} bytes as sent, ${decoded} bytes decoded)`);
      const external = entries.filter((e) => !e.name.startsWith(new URL(env.API).origin));
      check(external.length === 0, `nothing from other hosts: ${external.map((e) => e.name)}`);
      const assets = entries.filter((e) => e.name.includes("/portal/"));
      let raw = 0;
      let gz = 0;
      for (const e of assets) {
        const bytes = Buffer.from(await (await fetch(e.name)).arrayBuffer());
        raw += bytes.length;
        gz += gzipSync(bytes).length;
      }
      console.log(`measure: first screen's JS and CSS ${raw} bytes, ${gz} bytes gzipped, ${assets.length} files`);
    }
    check(p.errors.length === 0, `no console errors: ${p.errors}`);
    await p.context().close();
  }
  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted[2];
  console.log(`measure: first screen usable, median of 5 fresh pages: ${Math.round(median)} ms (${times.map((t) => Math.round(t)).join(", ")})`);
  if (env.FIRST_SCREEN_BUDGET_MS) {
    check(median <= Number(env.FIRST_SCREEN_BUDGET_MS), `first screen median ${Math.round(median)} ms (budget ${env.FIRST_SCREEN_BUDGET_MS} ms)`);
  }
  // Every asset of every screen, for the size budget.
  let raw = 0;
  let gz = 0;
  const html = await (await fetch(new URL(env.API).origin + "/")).text();
  const version = /\/portal\/([0-9a-f]+)\//.exec(html)[1];
  for (const file of ASSETS) {
    const bytes = Buffer.from(await (await fetch(`${new URL(env.API).origin}/portal/${version}/${file}`)).arrayBuffer());
    raw += bytes.length;
    gz += gzipSync(bytes).length;
  }
  console.log(`measure: all portal JS and CSS ${raw} bytes, ${gz} bytes gzipped, ${ASSETS.length} files`);
  check(gz <= 100 * 1024, `JS + CSS are ${gz} bytes gzipped (budget 100 kB)`);
}

step = "add a webhook destination through the form";
await page.getByRole("link", { name: "Add destination" }).click();
await ready(page);
await screen(page, "new-destination");
{
  await page.getByRole("list", { name: "Destination types" }).waitFor();
  const cards = page.getByRole("list", { name: "Destination types" }).getByRole("listitem");
  const n = await cards.count();
  check(n >= 9 && (await cards.getByRole("button").count()) === n, `each type card is a button inside a list item (${n})`);
}
{
  // Hookdeck has credentials only: no "Configuration" heading over nothing.
  await page.locator('[data-type="hookdeck"]').click();
  const headings = await page.locator("form h2").allInnerTexts();
  check(headings.includes("Credentials") && !headings.includes("Configuration"), `Hookdeck's form headings: ${headings}`);
  await page.getByRole("button", { name: "Back" }).click();
}
await page.locator('[data-type="webhook"]').click();
check(await page.evaluate(() => document.activeElement?.closest("form") !== null), "focus moves into the form after choosing a type");
await page.locator(".guide .instructions h3").first().waitFor();
await screen(page, "new-webhook");
// The type's set-up instructions (the API's Markdown) beside the form.
await page.locator(".guide .instructions h3").first().waitFor();
check((await page.locator(".guide .instructions code").count()) > 0, "the instructions render their code spans");
check((await page.locator(".guide .instructions script").count()) === 0, "the instructions are text, not markup");
// A field's error goes away once the field is edited.
await page.getByRole("button", { name: "Create destination" }).click();
await page.locator(".field-error:not([hidden])").first().waitFor();
{
  // An address the service may not reach: said in the tenant's words, with
  // no operator setting named.
  await page.getByLabel("All topics").check();
  await page.getByLabel("Endpoint URL").fill("http://10.1.2.3/hook");
  await page.getByRole("button", { name: "Create destination" }).click();
  await page.getByText("may not reach").first().waitFor();
  const said = await page.locator("form").innerText();
  check(said.includes("operator") && !said.includes("DESTINATIONS_"), `the network guard's message: ${said.slice(0, 300)}`);
}
await page.getByLabel("Endpoint URL").fill(`${env.RECEIVER}/hook`);
check(!(await page.getByLabel("Endpoint URL").locator("xpath=ancestor::div[contains(@class,'field')][1]").locator(".field-error").isVisible()), "the URL's error is gone once it is filled");
await page.getByRole("button", { name: "Add" }).click();
await page.getByLabel("Custom headers name").fill("X-Team");
await page.getByLabel("Custom headers value").fill("payments");
await page.getByLabel("All topics").uncheck();
await page.getByLabel("user.created", { exact: true }).check();
await page.getByLabel("campaign.completed", { exact: true }).check();
// A filter that is not valid is refused with the API's message, inline.
await page.getByLabel("Payload filter (optional)").fill('{"data": {"plan": {"$bogus": 1}}}');
await page.getByRole("button", { name: "Create destination" }).click();
await page.getByText("$bogus").first().waitFor();
// The preview says whether a filter matches the topic's sample.
await page.getByLabel("Payload filter (optional)").fill('{"topic": "user.created"}');
await page.getByLabel("Sample payload to test the filter against").selectOption("user.created");
await page.getByRole("button", { name: "Does it match?" }).click();
await page.getByText("Matches the user.created sample.").waitFor();
await page.getByLabel("Payload filter (optional)").fill("");
await page.getByRole("button", { name: "Create destination" }).click();
await page.getByRole("button", { name: "Test" }).waitFor();
await ready(page);
const destinationId = decodeURIComponent(page.url().split("#/destinations/")[1]);
check(destinationId.length > 0, "landed on the new destination's page");
const created = await admin("GET", `/tenants/${tenant}/destinations/${destinationId}`);
check(created.status === 200 && created.json.config.url === `${env.RECEIVER}/hook`, "the API has the destination");
check(JSON.stringify(created.json.topics) === JSON.stringify(["user.created", "campaign.completed"]), `topics saved: ${JSON.stringify(created.json.topics)}`);

step = "test the destination and follow it to its event";
await page.getByRole("button", { name: "Test" }).click();
await page.getByLabel("Topic").selectOption("user.created");
await audit(page, "test drawer");
await page.getByRole("button", { name: "Send test event" }).click();
await page.locator("#test-event-link").click();
await ready(page);
await until(page, async () => (await page.getByText("Delivered").count()) > 0, "the test event's delivery");
check(await page.getByRole("heading", { name: "Payload" }).isVisible(), "the event shows its payload");
await screen(page, "event");

step = "a failing receiver, its status code and body, and retry";
await receiverReplies(500);
const failing = await admin("POST", "/publish", { tenant_id: tenant, topic: "user.created", data: { user_id: "usr_fail" } });
check(failing.status === 202, "published");
await go(page, `#/events/${encodeURIComponent(failing.json.id)}`);
await until(page, async () => (await page.getByText("Failed", { exact: true }).count()) > 0, "the failed delivery");
await page.locator("table tbody tr").first().click();
await page.getByRole("heading", { name: "Response 500" }).waitFor();
check(await page.locator(".response-body").innerText().then((t) => t.includes("receiver refused")), "the response body is shown");
check(await page.locator("#headers-rebuilt").isVisible(), "Headers sent says it is rebuilt from what is stored");
await audit(page, "attempt drawer");
{
  // The attempt has its own address: a reload opens it again.
  const linked = await here(page);
  check(/[?&]attempt=\d+/.test(linked), `the drawer's address names the attempt: ${linked}`);
  await page.reload();
  await ready(page);
  await page.getByRole("heading", { name: "Response 500" }).waitFor();
  check((await here(page)) === linked, "the reloaded address is the attempt's");
}
await page.keyboard.press("Escape");
// The address changes in place (history.replaceState): read it in the page.
const left = await page.waitForFunction(() => !location.hash.includes("attempt="), null, { timeout: 5000 }).then(() => true, () => false);
check(left, `closing the drawer leaves the attempt's address: ${await page.evaluate(() => location.href)}`);
await receiverReplies(200);
await page.locator(".delivery-list").getByRole("button", { name: "Retry" }).click();
await until(page, async () => (await page.locator(".delivery-list").getByText("Delivered").count()) > 0, "the retried delivery");
const attempts = await admin("GET", `/attempts?event_id=${failing.json.id}`);
check(attempts.json.models.some((a) => a.manual && a.status === "success"), "a manual attempt succeeded");

step = "events list with filters";
{
  // One failure older than the newest 50 events: the Failed filter still
  // finds it (the API filters; the browser no longer filters one page).
  await receiverReplies(500);
  const old = await admin("POST", "/publish", { tenant_id: tenant, topic: "user.created", data: { user_id: "usr_old_failure" } });
  await until(page, async () => {
    const a = await admin("GET", `/attempts?event_id=${old.json.id}`);
    return a.json.models.length > 0;
  }, "the old failure recorded");
  await receiverReplies(200);
  for (let i = 0; i < 60; i++) {
    await admin("POST", "/publish", { tenant_id: tenant, topic: "user.created", data: { user_id: `usr_ok_${i}` } });
  }
  await until(page, async () => {
    const a = await admin("GET", `/attempts?tenant_id=${tenant}&status=success&limit=100`);
    return a.json.models.length >= 60;
  }, "the 60 newer events delivered");
  // Delivered: found by the API too, every row delivered somewhere.
  await go(page, "#/events?status=delivered");
  const delivered = page.locator("#event-list tbody tr");
  check((await delivered.count()) > 0, "delivered events listed");
  check((await page.locator("#event-list tbody tr:not(:has(.badge.ok))").count()) === 0, "each delivered to some destination");
  await go(page, "#/events?status=failed");
  await until(page, async () => (await page.locator("#event-list tbody tr").count()) > 0, "the old failure under Failed");
  check((await page.locator("#event-list").innerText()).includes("failed"), "the failed event is listed");
}
await go(page, "#/events");
{
  // 60+ events: a page of 50, then older ones and back (cursor paging).
  check((await page.locator("#event-list tbody tr").count()) === 50, "a page of 50 events");
  // Rows compared by the event they name (their "… ago" text moves on).
  const first = () => page.locator("#event-list tbody tr a").first().getAttribute("href");
  const newest = await first();
  check(await page.locator("#events-newer").isDisabled(), "no newer page on the first");
  await page.locator("#events-older").click();
  await page.locator("#events-newer:not([disabled])").waitFor();
  check((await first()) !== newest, "older events on the next page");
  await page.locator("#events-newer").click();
  await page.locator("#events-newer[disabled]").waitFor();
  check((await first()) === newest, "back to the newest");
}
{
  // Each destination in the filter names its type beside its target.
  const options = await page.locator("#events-destination option").allInnerTexts();
  check(options.slice(1).every((o) => /^[A-Z][^:]*: /.test(o)), `destination options name their type: ${options.join(" | ")}`);
}
check((await page.locator("#retention").innerText()).includes("kept for 7 days"), "the Events page says how long events are kept");
await page.locator("#events-status").selectOption("failed");
await page.waitForTimeout(500);
await screen(page, "events");

step = "rotate the secret";
await go(page, `#/destinations/${encodeURIComponent(destinationId)}?pane=settings`);
await page.locator("#reveal-secret").waitFor();
await page.locator("#reveal-secret").click();
const before = await page.locator("#secret-value").innerText();
check(before.startsWith("whsec_"), "the revealed secret");
await page.locator("#rotate-secret").click();
await page.getByRole("button", { name: "Rotate", exact: true }).click();
await page.getByText("previous secret is still accepted").waitFor();
await page.locator("#reveal-secret").click();
const after = await page.locator("#secret-value").innerText();
check(after.startsWith("whsec_") && after !== before, "a new secret after rotation");
await screen(page, "settings");

step = "wildcard topics in the settings";
// TOPICS_ALLOW_WILDCARDS: the catalog's user topics are offered as user.*,
// and any other pattern can be typed.
{
  // The picker's search hides what does not match, and unticks nothing.
  await page.getByLabel("Search topics").fill("campaign");
  check(await page.getByLabel("campaign.completed", { exact: true }).isVisible(), "a matching topic stays");
  check(!(await page.getByLabel("user.created", { exact: true }).isVisible()) && !(await page.getByLabel("user.* all user topics").isVisible()), "the others are hidden");
  await page.getByLabel("Search topics").fill("zzz");
  await page.getByText("No topic matches the search.").waitFor();
  await page.getByLabel("Search topics").fill("");
  check(await page.getByLabel("user.created", { exact: true }).isChecked(), "a hidden topic kept its tick");
}
await page.getByLabel("user.* all user topics").check();
check(!(await page.getByLabel("user.created", { exact: true }).isVisible()), "a chosen group hides its topics");
await page.getByLabel("Other patterns").fill("*.completed");
await page.getByRole("button", { name: "Save changes" }).click();
await until(page, async () => {
  const d = await admin("GET", `/tenants/${tenant}/destinations/${destinationId}`);
  return JSON.stringify(d.json.topics) === JSON.stringify(["user.*", "*.completed"]);
}, "topics saved as patterns (campaign.completed folded into *.completed)");
await page.reload();
await ready(page);
await page.getByLabel("Other patterns").waitFor();
check(await page.getByLabel("user.* all user topics").isChecked(), "the saved pattern shows as its group");
check((await page.getByLabel("Other patterns").inputValue()) === "*.completed", "the other pattern shows as typed");

step = "the destination's delivery policy";
{
  /** The policy as the API has it, keys sorted (the API's order is its own). */
  const policyNow = async () => {
    const d = await admin("GET", `/tenants/${tenant}/destinations/${destinationId}`);
    const p = d.json.delivery_policy;
    return JSON.stringify(Object.fromEntries(Object.keys(p).sort().map((k) => [k, p[k]])));
  };
  await page.getByLabel("Retries").fill("3");
  await page.getByLabel("Timeout (seconds)").fill("4");
  await page.getByLabel("Rate limit", { exact: true }).fill("10");
  await page.getByLabel("Rate limit per").selectOption("per_minute");
  await page.getByRole("button", { name: "Save changes" }).click();
  await until(page, async () => (await policyNow()) === JSON.stringify({ rate_limit: { per_minute: 10 }, retry: { max_retries: 3 }, timeout_seconds: 4 }), "retries, timeout and rate limit saved");
  // Delays instead of a count, and no rate limit: those go, the timeout stays.
  await page.getByLabel("Retries").waitFor();
  check((await page.getByLabel("Retries").inputValue()) === "3", "the saved count shows");
  check((await page.getByLabel("Rate limit per").inputValue()) === "per_minute", "the saved rate's unit shows");
  await page.getByLabel("Retries").fill("");
  await page.getByLabel("Retry delays (seconds)").fill("2, 10");
  await page.getByLabel("Rate limit", { exact: true }).fill("");
  await page.getByRole("button", { name: "Save changes" }).click();
  await until(page, async () => (await policyNow()) === JSON.stringify({ retry: { schedule_seconds: [2, 10] }, timeout_seconds: 4 }), "the schedule saved, the rate limit dropped");
  // Past the operator's bound: the API's message, inline.
  await page.getByLabel("Timeout (seconds)").waitFor();
  await page.getByLabel("Timeout (seconds)").fill("99");
  await page.getByRole("button", { name: "Save changes" }).click();
  await page.getByText("timeout_seconds must be whole seconds, from 1 to 5").waitFor();
  await audit(page, "delivery policy error");
  await page.getByLabel("Timeout (seconds)").fill("4");
  // Ordered delivery, per key; the key's field shows only when ordered.
  check(!(await page.getByLabel("Order per").isVisible()), "no key without an order");
  await page.getByLabel("Order", { exact: true }).selectOption("skip");
  await page.getByLabel("Order per").fill("data.order_id");
  await page.getByRole("button", { name: "Save changes" }).click();
  await until(page, async () => (await policyNow()) === JSON.stringify({ ordering: { key: "data.order_id", after_failure: "skip" }, retry: { schedule_seconds: [2, 10] }, timeout_seconds: 4 }), "the ordering saved");
  await page.getByLabel("Order", { exact: true }).waitFor();
  check((await page.getByLabel("Order per").inputValue()) === "data.order_id", "the saved key shows");
  // Back to any order, for the rest of the journey.
  await page.getByLabel("Order", { exact: true }).selectOption("");
  await page.getByRole("button", { name: "Save changes" }).click();
  await until(page, async () => (await policyNow()) === JSON.stringify({ retry: { schedule_seconds: [2, 10] }, timeout_seconds: 4 }), "the ordering dropped");
}

step = "overview: counts and charts over a time range";
await go(page, `#/destinations/${encodeURIComponent(destinationId)}?pane=overview`);
await page.locator('.stats-row[data-range="24h"]').waitFor();
{
  const stats = await page.locator(".stats-row").innerText();
  check(/Success rate/.test(stats) && /Events/.test(stats), `the overview's counts: ${stats}`);
  const codes = await page.locator("#status-codes").innerText();
  check(/500/.test(codes) && /200/.test(codes), `deliveries by status code: ${codes}`);
  check((await page.locator("figure.chart svg.chart-plot").count()) === 3, "three charts: events, deliveries, error rate");
  check((await page.locator("svg.chart-plot rect.chart-ok").count()) > 0, "delivered bars drawn");
  check((await page.locator("svg.chart-plot rect.chart-bad").count()) > 0, "failed bars drawn");
  check((await page.locator("svg.chart-plot polyline.chart-line, svg.chart-plot circle.chart-dot").count()) > 0, "the error rate drawn");
  check((await page.locator("svg.chart-plot[role=img]").first().getAttribute("aria-label")).includes("over the last 24 hours"), "a chart says what it shows");
  await page.locator('.segmented [data-range="7d"]').click();
  await page.locator('.stats-row[data-range="7d"]').waitFor();
  check((await here(page)).includes("range=7d"), "the range is in the address");
  await page.locator('.segmented [data-range="24h"]').click();
  await page.locator('.stats-row[data-range="24h"]').waitFor();
}
await screen(page, "destination");
{
  // Copy buttons for the id and the target.
  await page.context().grantPermissions(["clipboard-read", "clipboard-write"]);
  await page.getByRole("button", { name: "Copy destination id" }).click();
  check((await page.evaluate(() => navigator.clipboard.readText())) === destinationId, "the id copied");
  await page.getByRole("button", { name: "Copy target" }).click();
  check((await page.evaluate(() => navigator.clipboard.readText())).startsWith(env.RECEIVER), "the target copied");
}

step = "deliveries: time range, status and topic filters, and pages";
await go(page, `#/destinations/${encodeURIComponent(destinationId)}?pane=deliveries`);
{
  const rows = page.locator("table tbody tr");
  await page.locator("#deliveries-range").waitFor();
  check((await rows.count()) === 25, `a page of 25 deliveries (${await rows.count()})`);
  const first = () => rows.first().locator("a").first().getAttribute("href");
  const newest = await first();
  check(await page.locator("#deliveries-newer").isDisabled(), "no newer page on the first");
  await page.locator("#deliveries-older").click();
  await page.locator("#deliveries-newer:not([disabled])").waitFor();
  check((await first()) !== newest, "older deliveries on the next page");
  await page.locator("#deliveries-newer").click();
  await page.locator("#deliveries-newer[disabled]").waitFor();
  check((await first()) === newest, "back to the newest");
  await page.locator("#deliveries-status").selectOption("failed");
  await page.locator("#deliveries-status").waitFor();
  await until(page, async () => {
    // The pane loads after the page reports ready: wait for its filters,
    // which come with its rows.
    await page.locator("#deliveries-status").waitFor();
    const n = await rows.count();
    const failed = await page.locator("table tbody tr .badge.bad").count();
    return n > 0 && n === failed;
  }, "only failed deliveries", 20);
  check((await here(page)).includes("status=failed"), "the filter is in the address");
  await page.reload();
  await ready(page);
  await page.locator("#deliveries-status").waitFor();
  check((await page.locator("#deliveries-status").inputValue()) === "failed", "a reload keeps the filter");
  await page.locator("#deliveries-status").selectOption("");
  await page.locator("#deliveries-topic").selectOption("campaign.completed");
  await page.getByText("No deliveries match.").waitFor();
  await page.locator("#deliveries-topic").selectOption("user.created");
  await page.locator("table tbody tr a").first().waitFor();
  const topics = await page.locator("table tbody tr a").allInnerTexts();
  check(topics.length > 0 && topics.every((t) => t === "user.created"), `user.created only: ${topics.slice(0, 5)}`);
  await page.locator("#deliveries-range").selectOption("30d");
  check((await here(page)).includes("range=30d"), "the range is in the address");
  await page.locator("#deliveries-topic").selectOption("");
  await page.locator("#deliveries-range").selectOption("24h");
}
await screen(page, "deliveries");

step = "filter the destination list";
await admin("POST", `/tenants/${tenant}/destinations`, { id: "d_second", type: "webhook", topics: ["*"], config: { url: `${env.RECEIVER}/second` } });
await go(page, "#/destinations");
check((await page.locator("#destination-list tbody tr").count()) === 2, "two destinations listed");
await page.locator("#filter-topic").selectOption("campaign.completed");
check((await page.locator("#destination-list tbody tr").count()) === 2, "campaign.completed: one by its pattern, one by All topics");
await page.locator("#filter-topic").selectOption("employee.updated");
check((await page.locator("#destination-list tbody tr").count()) === 1, "employee.updated: only the one on All topics");
await page.locator("#filter-topic").selectOption("");
await page.locator("#filter-search").fill("second");
check((await page.locator("#destination-list tbody tr").count()) === 1, "search by target");
await page.locator("#filter-search").fill("");
await screen(page, "destinations");

step = "a long URL, and a test the destination's filter drops";
{
  const long = `${env.RECEIVER}/${"p".repeat(2000)}?q=1`;
  const made = await admin("POST", `/tenants/${tenant}/destinations`, {
    id: "d_long", type: "webhook", topics: ["user.*"], config: { url: long },
    filter: { data: { roles: ["reviewer"] } },
  });
  check(made.status === 201, `the long-URL destination: ${made.status}`);
  for (const hash of ["#/destinations/d_long", "#/events", "#/destinations"]) {
    await go(page, hash);
    const wide = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    check(wide <= 1, `${hash} stays within the window with a 2,000-character URL (${wide} px wider)`);
  }
  // The sample of user.created has roles [member]: the filter drops it,
  // and the drawer says so instead of "Sent.".
  await go(page, "#/destinations/d_long");
  await page.getByRole("button", { name: "Test" }).click();
  await page.getByLabel("Topic").selectOption("user.created");
  await page.getByRole("button", { name: "Send test event" }).click();
  await page.locator("#test-filtered").waitFor();
  check((await page.locator("#test-filtered").innerText()).includes("payload filter"), "the drawer names the filter");
  await page.keyboard.press("Escape");
  check((await admin("DELETE", `/tenants/${tenant}/destinations/d_long`)).status === 200, "the long-URL destination deleted");
}

step = "disable and delete";
await go(page, "#/destinations/d_second");
await page.locator("#disable").click();
// It asks first; Cancel leaves it enabled.
check((await page.locator("dialog.dialog").innerText()).includes("events wait for it"), "disabling asks first and says what happens");
await audit(page, "disable dialog");
await page.locator("dialog.dialog").getByRole("button", { name: "Cancel" }).click();
check((await admin("GET", `/tenants/${tenant}/destinations/d_second`)).json.disabled_at === null, "Cancel leaves it enabled");
await page.locator("#disable").click();
await page.locator("#disable-confirm").click();
await page.getByText("Destination disabled").waitFor();
await ready(page);
check((await page.locator(".page-head .badge").innerText()) === "Disabled", "shown disabled");
check((await admin("GET", `/tenants/${tenant}/destinations/d_second`)).json.disabled_at !== null, "disabled in the API");

step = "events wait for a disabled destination, then go out";
/** Polls the operator's API until `ok(json)` holds (at most ~10 s). */
async function pollApi(path, ok) {
  let last;
  for (let i = 0; i < 100; i++) {
    last = await admin("GET", path);
    if (ok(last.json)) return last.json;
    await page.waitForTimeout(100);
  }
  return last.json;
}
const second = `/tenants/${tenant}/destinations/d_second`;
for (const n of [1, 2]) {
  check((await admin("POST", "/publish", { tenant_id: tenant, topic: "user.created", data: { waiting: n } })).status === 202, "published while disabled");
}
check((await admin("GET", second)).json.held_events === 2, "held for it, counted in the API");
await go(page, "#/destinations");
await go(page, "#/destinations/d_second");
check((await page.locator(".page-head .waiting").innerText()) === "2 events waiting", "the waiting count is shown");
check((await page.locator(".notice").innerText()).includes("2 events waiting"), "the note says they are kept");
await page.locator("#enable").click();
check((await page.locator("dialog.dialog").innerText()).includes("2 events waiting"), "enabling asks what to do with them");
await screen(page, "enable-waiting");
await page.locator("#enable-deliver").click();
const enabled = await pollApi(second, (d) => d.disabled_at === null);
check(enabled.disabled_at === null && enabled.held_events === 0, "enabled, and what waited released");
const sent = await pollApi(`/attempts?tenant_id=${tenant}&destination_id=d_second&limit=100`, (p) => (p.models || []).length >= 2);
check((sent.models || []).length === 2, `the waiting events were sent (${(sent.models || []).length} attempts)`);

step = "enabling can discard what waited";
check((await admin("PUT", `${second}/disable`)).status === 200, "disabled again");
check((await admin("POST", "/publish", { tenant_id: tenant, topic: "user.created", data: { discarded: true } })).status === 202, "published while disabled");
await pollApi(second, (d) => d.held_events === 1);
await go(page, "#/destinations");
await go(page, "#/destinations/d_second");
await page.locator("#enable").click();
await page.locator("#enable-discard").click();
const reenabled = await pollApi(second, (d) => d.disabled_at === null);
check(reenabled.disabled_at === null && reenabled.held_events === 0, "enabled, nothing waiting");
const discarded = await pollApi(`/attempts?tenant_id=${tenant}&destination_id=d_second&limit=100`, (p) => (p.models || []).some((a) => a.code === "discarded"));
check((discarded.models || []).filter((a) => a.code === "discarded").length === 1, "one discarded attempt in the log");
await go(page, "#/destinations/d_second?pane=deliveries");
await page.getByText("Discarded", { exact: true }).first().waitFor();

step = "delete";
await page.locator("#delete").click();
await page.getByRole("button", { name: "Delete", exact: true }).last().click();
await page.getByRole("heading", { name: "Destinations" }).waitFor();
check((await admin("GET", `/tenants/${tenant}/destinations/d_second`)).status === 404, "deleted in the API");

step = "the topic catalog";
await go(page, "#/catalog");
check((await page.locator(".catalog article").count()) > 3, "the catalog lists topics");
await page.locator("#catalog-search").fill("campaign");
await page.waitForTimeout(600);
const topicNames = await page.locator(".catalog article h2").allInnerTexts();
check(topicNames.length > 0 && topicNames.every((n) => n.includes("campaign")), `search: ${topicNames}`);
await page.locator("#catalog-search").fill("");
await page.waitForTimeout(600);
await screen(page, "catalog");

step = "hostile text is shown as text";
const evil = `<img src=x onerror="window.__xss=1"></script><script>window.__xss=2</script>`;
const xssDest = await admin("POST", `/tenants/${tenant}/destinations`, {
  id: "d_xss",
  type: "webhook",
  topics: ["*"],
  config: { url: `${env.RECEIVER}/xss` },
  delivery_metadata: { note: evil },
  metadata: { note: evil },
});
check(xssDest.status === 201, `destination with hostile metadata: ${JSON.stringify(xssDest.json)}`);
await receiverReplies("500-xss");
const xss = await admin("POST", "/publish", { tenant_id: tenant, topic: "user.created", data: { name: evil, nested: { html: evil } }, metadata: { source: evil } });
await go(page, `#/events/${encodeURIComponent(xss.json.id)}`);
await until(page, async () => (await page.getByText("Failed", { exact: true }).count()) > 0, "the hostile event's failed delivery");
await page.locator("table tbody tr").first().click();
await page.getByRole("heading", { name: /^Response/ }).waitFor();
check((await page.locator("pre").allInnerTexts()).join("").includes("onerror"), "the payload is shown as text");
await page.keyboard.press("Escape");
await go(page, "#/destinations/d_xss?pane=deliveries");
await go(page, "#/events");
check((await page.evaluate(() => window.__xss)) === undefined, "no injected script ran");
check(page.errors.length === 0, `no console errors and no dialogs: ${page.errors}`);
await receiverReplies(200);

step = "another tenant's ids typed into the address";
await go(page, `#/destinations/${encodeURIComponent(env.OTHER_DESTINATION)}`);
check(await page.getByRole("heading", { name: "Destination not found" }).isVisible(), "another tenant's destination is refused");
await go(page, `#/events/${encodeURIComponent(env.OTHER_EVENT)}`);
check(await page.getByRole("heading", { name: "Event not found" }).isVisible(), "another tenant's event is refused");

step = "keyboard and labels";
const unlabeled = await page.evaluate(() => {
  const bad = [];
  for (const el of document.querySelectorAll("input, select, textarea, button, a[href]")) {
    const name = el.getAttribute("aria-label") || (el.labels && el.labels.length && el.labels[0].textContent.trim()) || el.textContent.trim() || el.getAttribute("title");
    if (!name) bad.push(el.outerHTML.slice(0, 80));
  }
  return bad;
});
check(unlabeled.length === 0, `every control has a name: ${unlabeled}`);
await go(page, "#/destinations");
await page.keyboard.press("Tab");
await page.keyboard.press("Tab");
check(await page.evaluate(() => document.activeElement && document.activeElement !== document.body), "Tab reaches the controls");

step = "a phone-sized screen";
{
  const phone = await newPage({ viewport: { width: 390, height: 844 } });
  const link = await admin("GET", `/tenants/${tenant}/portal?theme=dark`);
  await phone.goto(link.json.redirect_url);
  await ready(phone);
  check((await phone.evaluate(() => document.documentElement.dataset.theme)) === "dark", "?theme=dark");
  await audit(phone, "destinations at 390 px");
  const wide = await phone.evaluate(() => document.scrollingElement.scrollWidth);
  check(wide <= 390, `no sideways scrolling at 390 px (${wide})`);
  check(phone.errors.length === 0, `no console errors: ${phone.errors}`);
  await phone.context().close();
}

step = "a session for another account";
{
  // This tenant's token with another tenant's id in the link: refused,
  // with a way back to the platform.
  const link = await admin("GET", `/tenants/${tenant}/portal`);
  const p = await newPage();
  await p.goto(link.json.redirect_url.replace(`tenant_id=${tenant}`, "tenant_id=othercorp"));
  await p.getByRole("heading", { name: "Not allowed" }).waitFor();
  await audit(p, "not allowed");
  check((await p.locator("#not-allowed-back").getAttribute("href")) === env.REFERER, "Not allowed leads back to the platform");
  await p.context().close();
}

step = "an expired session";
{
  const p = await newPage();
  await p.goto(env.EXPIRED_LINK);
  await p.getByRole("heading", { name: "Session expired" }).waitFor();
  await audit(p, "session expired");
  const back = await p.getByRole("link", { name: "Back" }).getAttribute("href");
  check(back === env.REFERER, `the referer link: ${back}`);
  check((await p.getByRole("link", { name: "Get a new link" }).getAttribute("href")) === env.REFRESH, "the refresh link");
  if (shots) await p.screenshot({ path: `${shots}/session-expired-light.png` });
  await p.context().close();
}

await browser.close();
console.log(`measure: axe-core ${audited.length} passes:\n${audited.map((a) => `measure:   ${a}`).join("\n")}`);
if (problems.length) {
  console.error(`${problems.length} problem(s):\n${problems.join("\n")}`);
  process.exit(1);
}
console.log("journey: ok");
