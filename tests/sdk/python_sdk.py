"""Drives a running outbound with Hookdeck Outpost's published Python SDK
(`pip install outpost-sdk`). The SDK validates every response against its
models, so this fails on any incompatibility. Env: OUTBOUND_URL, API_KEY."""

import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

from outpost_sdk import Outpost

received = []


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        received.append((dict(self.headers), body))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def main():
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{server.server_port}/hook"

    sdk = Outpost(server_url=os.environ["OUTBOUND_URL"] + "/api/v1", api_key=os.environ["API_KEY"])

    tenant = sdk.tenants.upsert(tenant_id="sdk_tenant", body={"metadata": {"name": "SDK"}})
    assert tenant.id == "sdk_tenant", tenant
    got = sdk.tenants.get(tenant_id="sdk_tenant")
    assert got.metadata == {"name": "SDK"}, got

    dest = sdk.destinations.create(
        tenant_id="sdk_tenant",
        body={"type": "webhook", "topics": ["user.created"], "config": {"url": hook}},
    )
    assert dest.type == "webhook", dest
    assert dest.credentials.secret.startswith("whsec_"), dest
    listed = sdk.destinations.list(tenant_id="sdk_tenant")
    assert [d.id for d in listed] == [dest.id], listed

    published = sdk.publish(
        request={"tenant_id": "sdk_tenant", "topic": "user.created", "data": {"user_id": "usr_1"}, "id": "sdk_evt_1"}
    )
    assert published.id == "sdk_evt_1", published
    assert published.duplicate is False and published.destination_ids == [dest.id], published

    deadline = time.time() + 20
    attempts = None
    while time.time() < deadline:
        attempts = sdk.attempts.list(request={"tenant_id": "sdk_tenant"})
        if attempts.models:
            break
        time.sleep(0.2)
    assert attempts and attempts.models, "no attempt recorded"
    attempt = attempts.models[0]
    assert attempt.status == "success" and attempt.event_id == "sdk_evt_1", attempt
    assert received and json.loads(received[0][1]) == {"user_id": "usr_1"}, received

    events = sdk.events.list(request={"tenant_id": "sdk_tenant"})
    assert [e.id for e in events.models] == ["sdk_evt_1"], events
    token = sdk.tenants.get_token(tenant_id="sdk_tenant")
    assert token.tenant_id == "sdk_tenant" and token.token, token
    portal = sdk.tenants.get_portal_url(tenant_id="sdk_tenant")
    assert "token=" in portal.redirect_url, portal
    topics = sdk.topics.list()

    # Wildcard topics (the service runs with TOPICS_ALLOW_WILDCARDS=true).
    orders = sdk.destinations.create(
        tenant_id="sdk_tenant",
        body={"type": "webhook", "topics": ["order.*"], "config": {"url": hook + "/orders"}},
    )
    assert orders.topics == ["order.*"], orders
    published = sdk.publish(
        request={"tenant_id": "sdk_tenant", "topic": "order.payment.completed", "data": {"n": 2}, "id": "sdk_evt_2"}
    )
    assert published.destination_ids == [orders.id], published

    # include=destination: each attempt carries its destination, without
    # credentials, with Outpost's target.
    deadline = time.time() + 20
    with_dest = []
    while time.time() < deadline:
        page = sdk.attempts.list(request={"tenant_id": "sdk_tenant", "event_id": "sdk_evt_2", "include": ["destination"]})
        with_dest = page.models
        if with_dest:
            break
        time.sleep(0.2)
    assert with_dest, "no attempt for the wildcard destination"
    shown = with_dest[0].destination
    assert shown is not None and shown.id == orders.id and shown.target == hook + "/orders", with_dest[0]
    one = sdk.attempts.get(attempt_id=with_dest[0].id, tenant_id="sdk_tenant", include=["destination"])
    assert one.destination is not None and one.destination.id == orders.id, one

    # Every destination type documents its set-up in Markdown.
    types = sdk.schemas.list_destination_types()
    missing = [t.type for t in types if not (t.instructions or "").startswith("#")]
    assert not missing, f"types without instructions: {missing}"
    print("outpost-sdk OK:", tenant.id, dest.id, attempt.id, "topics:", topics, "types:", len(types))


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001 - report everything the SDK raises
        print(f"SDK check failed: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
