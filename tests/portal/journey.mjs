// The portal, used as a tenant administrator uses it, in Debian's headless
// Chromium driven by playwright-core. Run by tests/it/portal.rs, which
// starts a real `outbound serve` and a real receiver and passes them in:
//
//   PORTAL_LINK   the portal link of a tenant that does not exist yet
//   EXPIRED_LINK  a portal link whose token has expired
//   API           http://host:port/api/v1, API_KEY the operator's key
//   RECEIVER      the receiver's base URL (/__default/<status> sets its reply)
//   OTHER_DESTINATION, OTHER_EVENT  another tenant's ids
//   SCREENSHOTS   optional: a folder for the screenshots of each tab
//
// Exits 0 when every step held; prints what it measured (first render,
// sizes) as `measure:` lines.

import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { gzipSync } from "node:zlib";

const env = process.env;
const tenant = new URL(env.PORTAL_LINK).searchParams.get("tenant_id");
const shots = env.SCREENSHOTS;
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

async function ready(page) {
  await page.waitForFunction(() => document.body.dataset.ready === "true", null, { timeout: 15000 });
}

async function go(page, hash) {
  await page.evaluate(() => (document.body.dataset.ready = ""));
  await page.evaluate((h) => (location.hash = h), hash);
  await ready(page);
}

async function shot(page, name) {
  if (!shots) return;
  await page.evaluate(() => document.querySelectorAll(".toast").forEach((t) => t.remove()));
  for (const theme of ["light", "dark"]) {
    await page.evaluate((t) => (document.documentElement.dataset.theme = t), theme);
    await page.screenshot({ path: `${shots}/${name}-${theme}.png`, fullPage: true });
  }
  await page.evaluate(() => (document.documentElement.dataset.theme = "light"));
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
await shot(page, "setup");
await page.getByRole("button", { name: "Set up Webhooks" }).click();
await ready(page);
check(await page.getByRole("heading", { name: "Destinations" }).isVisible(), "the destinations tab after set-up");
const firstRender = await page.evaluate(() => window.__portalFirstRender);
console.log(`measure: first screen usable ${Math.round(firstRender)} ms after navigation`);

step = "first load time";
{
  // A fresh load of an existing tenant's portal, as a user opening the link.
  const link = await admin("GET", `/tenants/${tenant}/portal`);
  const p = await newPage();
  await p.goto(link.json.redirect_url);
  await ready(p);
  const ms = await p.evaluate(() => window.__portalFirstRender);
  console.log(`measure: first screen usable ${Math.round(ms)} ms after navigation (returning tenant)`);
  const sizes = await p.evaluate(() =>
    performance.getEntriesByType("resource").filter((r) => r.name.includes("/portal/")).map((r) => r.name),
  );
  let raw = 0;
  let gz = 0;
  const external = [];
  for (const url of sizes) {
    if (!url.startsWith(new URL(env.API).origin)) external.push(url);
    const body = Buffer.from(await (await fetch(url)).arrayBuffer());
    raw += body.length;
    gz += gzipSync(body).length;
  }
  console.log(`measure: portal JS and CSS ${raw} bytes, ${gz} bytes gzipped, ${sizes.length} files`);
  check(gz <= 100 * 1024, `JS + CSS are ${gz} bytes gzipped (budget 100 kB)`);
  const all = await p.evaluate(() => performance.getEntriesByType("resource").map((r) => r.name));
  check(all.every((u) => u.startsWith(new URL(env.API).origin) || u.startsWith("data:")), `nothing from other hosts: ${all}`);
  check(p.errors.length === 0, `no console errors: ${p.errors}`);
  await p.context().close();
}

step = "add a webhook destination through the form";
await page.getByRole("link", { name: "Add destination" }).click();
await ready(page);
await shot(page, "new-destination");
{
  await page.getByRole("list", { name: "Destination types" }).waitFor();
  const cards = page.getByRole("list", { name: "Destination types" }).getByRole("listitem");
  const n = await cards.count();
  check(n >= 9 && (await cards.getByRole("button").count()) === n, `each type card is a button inside a list item (${n})`);
}
await page.locator('[data-type="webhook"]').click();
check(await page.evaluate(() => document.activeElement?.closest("form") !== null), "focus moves into the form after choosing a type");
// The type's set-up instructions (the API's Markdown) beside the form.
await page.locator(".guide .instructions h3").first().waitFor();
check((await page.locator(".guide .instructions code").count()) > 0, "the instructions render their code spans");
check((await page.locator(".guide .instructions script").count()) === 0, "the instructions are text, not markup");
// A field's error goes away once the field is edited.
await page.getByRole("button", { name: "Create destination" }).click();
await page.locator(".field-error:not([hidden])").first().waitFor();
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
await page.getByRole("button", { name: "Send test event" }).click();
await page.locator("#test-event-link").click();
await ready(page);
await until(page, async () => (await page.getByText("Delivered").count()) > 0, "the test event's delivery");
check(await page.getByRole("heading", { name: "Payload" }).isVisible(), "the event shows its payload");
await shot(page, "event");

step = "a failing receiver, its status code and body, and retry";
await receiverReplies(500);
const failing = await admin("POST", "/publish", { tenant_id: tenant, topic: "user.created", data: { user_id: "usr_fail" } });
check(failing.status === 202, "published");
await go(page, `#/events/${encodeURIComponent(failing.json.id)}`);
await until(page, async () => (await page.getByText("Failed", { exact: true }).count()) > 0, "the failed delivery");
await page.locator("table tbody tr").first().click();
await page.getByRole("heading", { name: "Response 500" }).waitFor();
check(await page.locator(".response-body").innerText().then((t) => t.includes("receiver refused")), "the response body is shown");
await page.keyboard.press("Escape");
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
  await go(page, "#/events?status=failed");
  await until(page, async () => (await page.locator("#event-list tbody tr").count()) > 0, "the old failure under Failed");
  check((await page.locator("#event-list").innerText()).includes("failed"), "the failed event is listed");
}
await go(page, "#/events");
{
  // Each destination in the filter names its type beside its target.
  const options = await page.locator("#events-destination option").allInnerTexts();
  check(options.slice(1).every((o) => /^[A-Z][^:]*: /.test(o)), `destination options name their type: ${options.join(" | ")}`);
}
check((await page.locator("#retention").innerText()).includes("kept for 7 days"), "the Events page says how long events are kept");
await page.locator("#events-status").selectOption("failed");
await page.waitForTimeout(500);
await shot(page, "events");

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
await shot(page, "settings");

step = "wildcard topics in the settings";
// TOPICS_ALLOW_WILDCARDS: the catalog's user topics are offered as user.*,
// and any other pattern can be typed.
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

step = "overview";
await go(page, `#/destinations/${encodeURIComponent(destinationId)}?pane=overview`);
await page.locator('[data-window="24 h"]').waitFor();
check(await page.locator('[data-window="24 h"]').innerText().then((t) => /Success rate/.test(t)), "the overview's counts");
check(await page.locator('[data-window="24 h"]').innerText().then((t) => /500/.test(t)), "failures by status code");
await shot(page, "destination");

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
await shot(page, "destinations");

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
await shot(page, "enable-waiting");
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
await shot(page, "catalog");

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
  const wide = await phone.evaluate(() => document.scrollingElement.scrollWidth);
  check(wide <= 390, `no sideways scrolling at 390 px (${wide})`);
  if (shots) await phone.screenshot({ path: `${shots}/destinations-phone-dark.png`, fullPage: true });
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
  check((await p.locator("#not-allowed-back").getAttribute("href")) === env.REFERER, "Not allowed leads back to the platform");
  await p.context().close();
}

step = "an expired session";
{
  const p = await newPage();
  await p.goto(env.EXPIRED_LINK);
  await p.getByRole("heading", { name: "Session expired" }).waitFor();
  const back = await p.getByRole("link", { name: "Back" }).getAttribute("href");
  check(back === env.REFERER, `the referer link: ${back}`);
  check((await p.getByRole("link", { name: "Get a new link" }).getAttribute("href")) === env.REFRESH, "the refresh link");
  if (shots) await p.screenshot({ path: `${shots}/session-expired-light.png` });
  await p.context().close();
}

await browser.close();
if (problems.length) {
  console.error(`${problems.length} problem(s):\n${problems.join("\n")}`);
  process.exit(1);
}
console.log("journey: ok");
