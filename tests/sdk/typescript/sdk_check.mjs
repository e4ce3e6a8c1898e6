// Drives a running outbound with Hookdeck Outpost's published TypeScript
// SDK (@hookdeck/outpost-sdk, pinned in package-lock.json). The SDK
// validates every response against its models, so this fails on any
// incompatibility. Env: OUTBOUND_URL, API_KEY. Exits non-zero on failure.

import http from "node:http";
import { Outpost } from "@hookdeck/outpost-sdk";

const received = [];
const server = http.createServer((req, res) => {
  let body = "";
  req.on("data", (c) => (body += c));
  req.on("end", () => {
    received.push({ url: req.url, headers: req.headers, body });
    res.writeHead(200).end("ok");
  });
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const hook = `http://127.0.0.1:${server.address().port}/hook`;

function check(ok, what, value) {
  if (!ok) throw new Error(`${what}: ${JSON.stringify(value)}`);
}

const sdk = new Outpost({ serverURL: `${process.env.OUTBOUND_URL}/api/v1`, apiKey: process.env.API_KEY });

try {
  const tenant = await sdk.tenants.upsert("ts_tenant", { metadata: { name: "TS" } });
  check(tenant.id === "ts_tenant", "tenant", tenant);

  // A wildcard subscription (the service runs with TOPICS_ALLOW_WILDCARDS).
  const dest = await sdk.destinations.create("ts_tenant", {
    type: "webhook",
    topics: ["user.*"],
    config: { url: hook },
  });
  check(JSON.stringify(dest.topics) === '["user.*"]', "wildcard topics kept", dest);
  check(dest.target === hook && dest.targetUrl == null, "Outpost's target for a webhook", dest);

  const published = await sdk.publish({ tenantId: "ts_tenant", topic: "user.profile.updated", id: "ts_evt_1", data: { n: 1 } });
  check(JSON.stringify(published.destinationIds) === JSON.stringify([dest.id]), "the pattern matched", published);
  const again = await sdk.publish({ tenantId: "ts_tenant", topic: "user.profile.updated", id: "ts_evt_1", data: { n: 1 } });
  check(again.duplicate === true && again.destinationIds.length === 1, "a duplicate answers where it went", again);

  // include=destination on the attempts list and on one attempt.
  let attempts = [];
  for (let i = 0; i < 100 && !attempts.length; i++) {
    const page = await sdk.attempts.list({ tenantId: "ts_tenant", eventId: "ts_evt_1", include: ["destination"] });
    attempts = page.models;
    if (!attempts.length) await new Promise((r) => setTimeout(r, 200));
  }
  check(attempts.length === 1 && attempts[0].status === "success", "one successful attempt", attempts);
  check(attempts[0].destination?.id === dest.id, "the attempt carries its destination", attempts[0]);
  const one = await sdk.attempts.get(attempts[0].id, "ts_tenant", ["destination"]);
  check(one.destination?.id === dest.id, "one attempt carries its destination", one);
  check(received.length === 1 && JSON.parse(received[0].body).n === 1, "the receiver got the event", received);

  // Every type documents its set-up in Markdown.
  const types = await sdk.schemas.listDestinationTypes();
  const missing = types.filter((t) => !(t.instructions || "").startsWith("#")).map((t) => t.type);
  check(types.length === 9 && missing.length === 0, "instructions for every type", missing);

  console.log(`outpost-sdk (TypeScript) OK: ${dest.id} ${attempts[0].id} types: ${types.length}`);
} catch (e) {
  console.error(`SDK check failed: ${e?.name}: ${e?.message}`);
  if (e?.rawValue) console.error(JSON.stringify(e.rawValue).slice(0, 2000));
  process.exitCode = 1;
} finally {
  server.close();
}
