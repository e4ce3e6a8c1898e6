// Replay… in the portal, in Debian's headless Chromium driven by
// playwright-core. Run by tests/it/portal.rs, which starts a real `outbound
// serve` and a real receiver, and leaves a tenant whose events all failed
// at two destinations (the receiver answered 500; no retries):
//
//   PORTAL_LINK   the tenant's portal link
//   API, API_KEY  http://host:port/api/v1 and the operator's key
//   DESTINATION   a destination whose failures the receiver now accepts
//   SLOW          one rate-limited to 1 a minute: a replay to it keeps running
//   EVENTS        how many events failed at each
//
// Exits 0 when every step held.

import { chromium } from "playwright-core";

const env = process.env;
const tenant = new URL(env.PORTAL_LINK).searchParams.get("tenant_id");
const events = Number(env.EVENTS);

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

async function admin(method, path, body) {
  const res = await fetch(`${env.API}${path}`, {
    method,
    headers: { authorization: `Bearer ${env.API_KEY}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

async function ready(page) {
  await page.waitForFunction(() => document.body.dataset.ready === "true", null, { timeout: 15000 });
}

async function go(page, hash) {
  await page.evaluate(() => (document.body.dataset.ready = ""));
  await page.evaluate((h) => (location.hash = h), hash);
  await ready(page);
}

const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
const page = await context.newPage();
const errors = [];
page.on("console", (m) => {
  if (m.type() === "error" && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) errors.push(`console: ${m.text()}`);
});
page.on("response", (r) => {
  if (r.status() >= 500) errors.push(`server error: ${r.status()} ${r.url()}`);
});
page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));

try {
  step = "the destination page offers Replay…";
  await page.goto(env.PORTAL_LINK);
  await ready(page);
  await go(page, `#/destinations/${encodeURIComponent(env.DESTINATION)}`);
  await page.locator("#replay").click();
  const drawer = page.getByRole("dialog", { name: "Replay events" });
  await drawer.waitFor();
  check(await page.locator("#replay-failed-only").isChecked(), "failed only is the default");
  check(!(await page.locator("#replay-destination").count()), "no destination to choose on a destination's page");

  step = "a replay of the destination's failures runs to the end";
  await page.locator("#replay-go").click();
  const card = drawer.locator("[data-replay]").first();
  await card.waitFor();
  await card.locator(".replay-state", { hasText: "Finished" }).waitFor({ timeout: 60000 });
  const counts = await card.locator(".replay-counts").textContent();
  check(counts.includes(`${events} events looked at`) && counts.includes(`${events} queued`), `the counts: ${counts}`);
  const delivered = await admin("GET", `/attempts?tenant_id=${tenant}&destination_id=${env.DESTINATION}&status=success&limit=100`);
  check(delivered.json.models.length === events, `the receiver got the ${events} events: ${delivered.json.models.length}`);
  check((await card.locator("progress").getAttribute("value")) === "100", "the progress bar is full");
  await page.keyboard.press("Escape");

  step = "the Events page offers Replay… for one destination or all";
  await go(page, "#/events");
  await page.locator("#replay").click();
  await drawer.waitFor();
  check((await page.locator("#replay-destination option").count()) === 3, "every destination, and all of them");
  await drawer.locator("[data-replay]").first().waitFor();
  check((await drawer.locator("#replay-recent [data-replay]").count()) === 1, "the recent replays are listed");

  step = "a replay to a rate-limited destination runs until it is cancelled";
  await page.locator("#replay-destination").selectOption(env.SLOW);
  await page.locator("#replay-go").click();
  const running = drawer.locator("[data-replay]").first();
  await running.locator(".replay-counts", { hasText: "waiting to be sent" }).waitFor({ timeout: 30000 });
  check((await running.locator(".replay-state").textContent()) === "Running", "running while the destination takes one a minute");
  await running.locator(".replay-cancel").click();
  await running.locator(".replay-state", { hasText: "Cancelled" }).waitFor();
  const id = await running.getAttribute("data-replay");
  const r = await admin("GET", `/tenants/${tenant}/replays/${id}`);
  check(r.json.state === "cancelled" && r.json.deliveries_cancelled > 0, `cancelled, and what waited taken back: ${JSON.stringify(r.json)}`);
  check((await running.locator(".replay-counts").textContent()).includes("taken back"), "the card says what was taken back");

  step = "a bad range is refused with the API's message";
  await page.keyboard.press("Escape");
  await page.locator("#replay").click();
  await drawer.waitFor();
  await drawer.locator("input[type=datetime-local]").first().fill("2020-01-01T00:00");
  await page.locator("#replay-go").click();
  await drawer.locator(".error-box", { hasText: "start" }).waitFor();
} catch (err) {
  check(false, `${err.message}`);
}

check(errors.length === 0, `page errors: ${errors.join("; ")}`);
await browser.close();
if (problems.length) {
  console.error(problems.join("\n"));
  process.exit(1);
}
console.log("replay: ok");
