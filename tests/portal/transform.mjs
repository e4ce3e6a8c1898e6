// A destination's payload transformation in the portal, in Debian's
// headless Chromium driven by playwright-core. Run by
// tests/it/transform_portal.rs, which starts a real `outbound serve` (with
// the example catalog) and passes in:
//
//   PORTAL_LINK   a portal link of tenant acme
//   API           http://host:port/api/v1, API_KEY the operator's key
//   DESTINATION   a webhook of acme whose transformation fails
//   FAILED_EVENT  an event whose delivery to it failed (transform_failed)
//   SCREENSHOTS   optional: a folder for a screenshot of the preview
//
// Exits 0 when every step held, printing "transform: ok".

import { chromium } from "playwright-core";

const env = process.env;
const browser = await chromium.launch({
  executablePath: env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
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

const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const page = await context.newPage();
const errors = [];
page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
page.on("response", (r) => {
  if (r.status() >= 500) errors.push(`server error: ${r.status()} ${r.url()}`);
});
async function ready() {
  await page.waitForFunction(() => document.body.dataset.ready === "true", null, { timeout: 15000 });
}
async function go(hash) {
  await page.evaluate(() => (document.body.dataset.ready = ""));
  await page.evaluate((h) => (location.hash = h), hash);
  await ready();
}

try {
  await page.goto(env.PORTAL_LINK);
  await ready();

  step = "the saved transformation in the destination's settings";
  await go(`#/destinations/${encodeURIComponent(env.DESTINATION)}?pane=settings`);
  const body = page.getByLabel("Body (jq)");
  await body.waitFor();
  check((await body.inputValue()).includes("error("), `the saved body program is shown: ${await body.inputValue()}`);
  check(await page.getByRole("heading", { name: "Transformation" }).isVisible(), "a Transformation section");

  step = "preview a program against a catalog sample";
  await body.fill("{user: .data.user_id, topic: .topic}");
  await page.getByLabel("Headers (jq)").fill('{"team": "growth"}');
  check((await page.locator("#transform-sample").inputValue()) === "user.created", "the sample of a topic the destination takes");
  await page.locator("#transform-preview").click();
  await page.getByRole("heading", { name: "Body sent for user.created" }).waitFor();
  const shown = await page.locator(".transform-preview").innerText();
  check(shown.includes('"user": "usr_1f8e2a"'), `the transformed sample: ${shown}`);
  check(shown.includes('"team": "growth"'), `the headers in the metadata sent: ${shown}`);
  if (env.SCREENSHOTS) await page.locator("fieldset.transform").screenshot({ path: `${env.SCREENSHOTS}/transform-preview.png` });

  step = "a program's mistake, in preview and on save";
  await body.fill("{user: frob}");
  await page.locator("#transform-preview").click();
  await page.locator(".transform-preview .error-box").waitFor();
  const said = await page.locator(".transform-preview .error-box").innerText();
  check(said.includes("line 1, column 8: undefined filter frob/0"), `the preview names the mistake: ${said}`);
  await page.getByRole("button", { name: "Save changes" }).click();
  await page.getByText("delivery_policy.transform.body: line 1, column 8: undefined filter frob/0").first().waitFor();

  step = "save a working program";
  await body.fill("{user: .data.user_id}");
  await page.getByRole("button", { name: "Save changes" }).click();
  await page.getByText("Saved").first().waitFor();
  const saved = await admin("GET", `/tenants/acme/destinations/${env.DESTINATION}`);
  const t = saved.json.delivery_policy.transform;
  check(t && t.body === "{user: .data.user_id}" && t.headers === '{"team": "growth"}', `the API has it: ${JSON.stringify(t)}`);

  step = "the failed delivery shows why";
  await go(`#/events/${encodeURIComponent(env.FAILED_EVENT)}`);
  await page.getByText("Failed", { exact: true }).first().waitFor();
  await page.locator("table tbody tr").first().click();
  await page.getByRole("heading", { name: "Error" }).waitFor();
  const error = await page.locator(".response-error").innerText();
  check(error.includes("transform_failed: transform.body: no usr_7"), `the attempt's error: ${error}`);
  check(await page.locator("#payload-transformed").isVisible(), "the payload shown is said to be before the transformation");
  await page.keyboard.press("Escape");

  step = "preview in the new-destination form";
  await go("#/destinations/new");
  await page.locator('[data-type="webhook"]').click();
  await page.getByLabel("Body (jq)").fill("{email: .data.email}");
  await page.locator("#transform-sample").selectOption("user.created");
  await page.locator("#transform-preview").click();
  await page.getByRole("heading", { name: "Body sent for user.created" }).waitFor();
  check((await page.locator(".transform-preview").innerText()).includes('"email": "ada@example.com"'), "the new destination's preview");
} catch (e) {
  problems.push(`${step}: ${e.message}`);
}
for (const e of errors) problems.push(e);
await browser.close();
if (problems.length) {
  console.error(`${problems.length} problem(s):\n${problems.join("\n")}`);
  process.exit(1);
}
console.log("transform: ok");
