//! Operator events: alerts and subscription changes reach the operator's
//! sink signed, in Outpost's shapes, without credentials, and survive the
//! sink being down.

use std::time::Duration;

use crate::helpers::hmac_hex;
use chrono::Utc;
use outbound::app::Parts;
use outbound::config::Settings;
use outbound::delivery::operator_events::OperatorEventSender;
use outbound::delivery::worker::Worker;
use outbound::domain::operator_event::OperatorTopics;
use serde_json::{json, Value};

use crate::helpers::app::{build, TestApp};
use crate::helpers::db::TestDb;
use crate::helpers::factory::{tenant, webhook};
use crate::helpers::receiver::{Received, Reply, TestReceiver};

const SIGNING: &str = "ops-signing-key";
/// The alert topics: what `*` meant before the per-attempt topics, which
/// `*` now includes (as in Outpost).
const ALERTS: &[&str] = &[
    "alert.destination.consecutive_failure",
    "alert.destination.disabled",
    "alert.attempt.exhausted_retries",
];
/// The destination's signing secret and a custom header value: neither may
/// appear in any operator event.
pub(crate) const SECRET: &str = "whsec_NEVER_SHOWN_1234";
pub(crate) const HEADER_SECRET: &str = "hdr-NEVER-SHOWN-5678";

/// The settings an operator would set, for topics `topics`, with the sink
/// at `sink`.
fn operator(s: &mut Settings, topics: &[&str], sink: &str) {
    s.operator_events.topics = OperatorTopics::parse(topics).unwrap();
    s.operator_events.http_url = Some(sink.to_owned());
    s.operator_events.signing_secret = Some(SIGNING.to_owned());
}

/// The worker and the operator-event sender of the service as built.
async fn service(db: &TestDb, tweak: impl FnOnce(&mut Settings)) -> (Worker, OperatorEventSender) {
    let none = Parts {
        api: false,
        worker: false,
        maintenance: false,
    };
    let app = build(db, none, tweak).await;
    let sender = app.operator_events().expect("a sink is configured").clone();
    (app.worker().clone(), sender)
}

/// Checks the signature and envelope of one request, and that no secret is
/// in it; returns the envelope.
fn envelope(r: &Received) -> Value {
    assert_eq!(r.method, "POST");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.header("x-outpost-signature"),
        Some(format!("v0={}", hmac_hex(SIGNING, &r.body)).as_str()),
        "signed with the operator's key over the body"
    );
    let text = String::from_utf8_lossy(&r.body);
    assert!(!text.contains(SECRET), "a credential leaked: {text}");
    assert!(
        !text.contains(HEADER_SECRET),
        "a header value leaked: {text}"
    );
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["data", "id", "tenant_id", "time", "topic"], "{v}");
    assert!(chrono::DateTime::parse_from_rfc3339(v["time"].as_str().unwrap()).is_ok());
    v
}

pub(crate) fn data_keys(v: &Value) -> Vec<String> {
    let mut keys: Vec<String> = v["data"].as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

pub(crate) fn assert_destination_projection(d: &Value) {
    let mut keys: Vec<&str> = d.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "config",
            "created_at",
            "disabled_at",
            "id",
            "tenant_id",
            "topics",
            "type"
        ],
        "{d}"
    );
}

/// A failing webhook destination "flaky" of tenant acme, with a secret and
/// a secret custom header.
pub(crate) async fn flaky(c: &deadpool_postgres::Object, url: &str) {
    let acme = tenant(c, "acme").await;
    webhook(c, &acme, "flaky", &["*"], url, json!({ "secret": SECRET })).await;
    c.execute(
        "UPDATE outbound.destinations SET config = config || $1 WHERE id = 'flaky'",
        &[&json!({"custom_headers": {"X-Api-Key": HEADER_SECRET}})],
    )
    .await
    .unwrap();
}

pub(crate) async fn publish(c: &deadpool_postgres::Object, id: &str, retry: bool) {
    c.execute(
        "INSERT INTO outbound.events (id, tenant_id, topic, data, eligible_for_retry)
         VALUES ($1, 'acme', 'user.created', '{\"n\":1}', $2)",
        &[&id, &retry],
    )
    .await
    .unwrap();
}

/// A moment after every row written so far (the database's clock and the
/// test's may disagree by a little).
pub(crate) fn soon() -> chrono::DateTime<Utc> {
    Utc::now() + chrono::Duration::seconds(1)
}

pub(crate) async fn outbox_len(c: &deadpool_postgres::Object) -> i64 {
    c.query_one("SELECT count(*) FROM outbound.operator_events", &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn consecutive_failures_alert_at_each_level_then_the_destination_is_disabled() {
    alerts_at_each_level_then_disabled(&TestDb::new().await).await;
}

/// The alerts of a failing destination, on `db` (a single node's or a
/// Citus cluster's, see tests/it/citus.rs).
pub(crate) async fn alerts_at_each_level_then_disabled(db: &TestDb) {
    let c = db.client().await;
    let hooks = TestReceiver::start().await;
    hooks.set_default(Reply::Status(500));
    let sink = TestReceiver::start().await;
    flaky(&c, &hooks.url("/")).await;
    let (worker, sender) = service(db, |s| {
        operator(s, ALERTS, &sink.url("/ops"));
        s.delivery.disable_after_failures = 10;
        s.delivery.disable_min_failing = Duration::ZERO;
        s.delivery.retry_schedule = Some(vec![Duration::from_secs(3600)]);
    })
    .await;

    // One failed attempt per batch, two seconds apart: the count goes
    // 1, 2, … 10.
    let t0 = soon();
    for i in 1..=10 {
        publish(&c, &format!("e{i}"), true).await;
        worker
            .run_once(t0 + chrono::Duration::seconds(2 * i))
            .await
            .unwrap();
    }
    let round = sender.run_once(None).await.unwrap();
    assert_eq!(round.delivered, 5);
    assert_eq!(outbox_len(&c).await, 0, "delivered events are deleted");

    let got: Vec<Value> = sink.requests().iter().map(envelope).collect();
    let failures: Vec<&Value> = got
        .iter()
        .filter(|v| v["topic"] == "alert.destination.consecutive_failure")
        .collect();
    let levels: Vec<(i64, i64, i64)> = failures
        .iter()
        .map(|v| {
            let f = &v["data"]["consecutive_failures"];
            (
                f["current"].as_i64().unwrap(),
                f["max"].as_i64().unwrap(),
                f["threshold"].as_i64().unwrap(),
            )
        })
        .collect();
    // Sent 16 at a time, so in no set order within a round (as Outpost's
    // concurrent sends): compared as a set of levels.
    let mut levels = levels;
    levels.sort_unstable();
    assert_eq!(
        levels,
        [(5, 10, 50), (7, 10, 70), (9, 10, 90), (10, 10, 100)],
        "50, 70, 90 and 100 % of 10"
    );
    let first = *failures
        .iter()
        .min_by_key(|v| v["data"]["consecutive_failures"]["current"].as_i64())
        .unwrap();
    assert_eq!(first["tenant_id"], "acme");
    assert_eq!(
        data_keys(first),
        [
            "attempt",
            "consecutive_failures",
            "destination",
            "event",
            "tenant_id"
        ]
    );
    assert_eq!(
        first["data"]["event"]["id"], "e5",
        "the attempt that crossed the level"
    );
    assert_eq!(first["data"]["event"]["data"], json!({"n": 1}));
    assert_eq!(first["data"]["attempt"]["status"], "failed");
    assert_eq!(first["data"]["attempt"]["code"], "500");
    assert_eq!(first["data"]["attempt"]["attempt_number"], 1);
    assert_destination_projection(&first["data"]["destination"]);
    assert_eq!(first["data"]["destination"]["id"], "flaky");
    assert_eq!(
        first["data"]["destination"]["config"]["url"],
        hooks.url("/")
    );

    let disabled: Vec<&Value> = got
        .iter()
        .filter(|v| v["topic"] == "alert.destination.disabled")
        .collect();
    assert_eq!(disabled.len(), 1);
    let d = &disabled[0]["data"];
    assert_eq!(
        data_keys(disabled[0]),
        [
            "attempt",
            "destination",
            "disabled_at",
            "event",
            "reason",
            "tenant_id"
        ]
    );
    assert_eq!(d["reason"], "consecutive_failures");
    assert_eq!(d["event"]["id"], "e10");
    assert!(d["disabled_at"].is_string());
    assert_eq!(d["destination"]["disabled_at"], d["disabled_at"]);
}

#[tokio::test]
async fn without_auto_disable_the_alerts_come_and_the_destination_stays_enabled() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let hooks = TestReceiver::start().await;
    hooks.set_default(Reply::Status(500));
    let sink = TestReceiver::start().await;
    flaky(&c, &hooks.url("/")).await;
    let (worker, sender) = service(&db, |s| {
        operator(s, ALERTS, &sink.url("/ops"));
        s.delivery.disable_after_failures = 2;
        s.delivery.disable_min_failing = Duration::ZERO;
        s.operator_events.auto_disable = false;
        s.delivery.retry_schedule = Some(vec![Duration::from_secs(3600)]);
    })
    .await;
    let t0 = soon();
    for i in 1..=3 {
        publish(&c, &format!("e{i}"), true).await;
        worker
            .run_once(t0 + chrono::Duration::seconds(2 * i))
            .await
            .unwrap();
    }
    sender.run_once(None).await.unwrap();
    let topics: Vec<String> = sink
        .requests()
        .iter()
        .map(|r| envelope(r)["topic"].as_str().unwrap().to_owned())
        .collect();
    // Threshold 2: 50 % at 1 failure, 70/90/100 % all at 2 (the highest reported).
    assert_eq!(
        topics,
        [
            "alert.destination.consecutive_failure",
            "alert.destination.consecutive_failure"
        ]
    );
    let disabled: bool = c
        .query_one(
            "SELECT disabled_at IS NOT NULL FROM outbound.destinations WHERE id = 'flaky'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(!disabled);
}

#[tokio::test]
async fn exhausted_retries_alert_once_per_destination_per_window() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let hooks = TestReceiver::start().await;
    hooks.set_default(Reply::Status(500));
    let sink = TestReceiver::start().await;
    flaky(&c, &hooks.url("/")).await;
    let (worker, sender) = service(&db, |s| {
        operator(s, &["alert.attempt.exhausted_retries"], &sink.url("/ops"));
        s.operator_events.exhausted_retries_window = Duration::from_secs(600);
    })
    .await;

    // Events with one attempt only: each failure is final.
    publish(&c, "e1", false).await;
    publish(&c, "e2", false).await;
    let t0 = soon();
    worker.run_once(t0).await.unwrap();
    publish(&c, "e3", false).await;
    worker
        .run_once(t0 + chrono::Duration::seconds(300))
        .await
        .unwrap();
    // The window has passed.
    publish(&c, "e4", false).await;
    worker
        .run_once(t0 + chrono::Duration::seconds(601))
        .await
        .unwrap();
    sender.run_once(None).await.unwrap();

    let got: Vec<Value> = sink.requests().iter().map(envelope).collect();
    assert_eq!(got.len(), 2, "e3 falls in the first one's window: {got:?}");
    for v in &got {
        assert_eq!(v["topic"], "alert.attempt.exhausted_retries");
        assert_eq!(
            data_keys(v),
            ["attempt", "destination", "event", "tenant_id"]
        );
        assert_destination_projection(&v["data"]["destination"]);
    }
    // e1 and e2 failed in one batch: the alert names whichever failed
    // first. The two alerts went out in one round, in no set order.
    let (mut named, mut e4): (Vec<&Value>, Vec<&Value>) = (Vec::new(), Vec::new());
    for v in &got {
        if v["data"]["event"]["id"] == "e4" {
            e4.push(v);
        } else {
            named.push(v);
        }
    }
    assert_eq!((named.len(), e4.len()), (1, 1), "{got:?}");
    let first = named[0]["data"]["event"]["id"].as_str().unwrap();
    assert!(["e1", "e2"].contains(&first), "{first}");
    assert_eq!(e4[0]["data"]["attempt"]["status"], "failed");
}

#[tokio::test]
async fn destination_writes_through_the_api_emit_tenant_subscription_updated() {
    let db = TestDb::new().await;
    let sink = TestReceiver::start().await;
    let url = sink.url("/ops");
    let tweak = |s: &mut Settings| operator(s, &["tenant.subscription.updated"], &url);
    let api = TestApp::start_with(&db, tweak).await;
    let (_, sender) = service(&db, tweak).await;
    api.admin("PUT", "/api/v1/tenants/acme", None).await;
    let create = |id: &str, topics: Value| {
        json!({"id": id, "type": "webhook", "topics": topics,
               "config": {"url": "https://x.test/hook", "custom_headers": {"X-Api-Key": HEADER_SECRET}},
               "credentials": {"secret": SECRET}})
    };
    let path = "/api/v1/tenants/acme/destinations";
    let (s, e) = api
        .admin("POST", path, Some(create("d1", json!(["b", "a"]))))
        .await;
    assert_eq!(s, 201, "{e}");
    let (s, _) = api
        .admin("POST", path, Some(create("d2", json!(["a"]))))
        .await;
    assert_eq!(s, 201);
    // Renaming nothing: no change, no event.
    let (s, _) = api
        .admin(
            "PATCH",
            &format!("{path}/d2"),
            Some(json!({"topics": ["a"]})),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = api.admin("PUT", &format!("{path}/d1/disable"), None).await;
    assert_eq!(s, 200);
    let (s, _) = api.admin("DELETE", &format!("{path}/d1"), None).await;
    assert_eq!(s, 200);

    sender.run_once(None).await.unwrap();
    let got: Vec<Value> = sink.requests().iter().map(envelope).collect();
    let data: Vec<Value> = got
        .iter()
        .map(|v| {
            assert_eq!(v["topic"], "tenant.subscription.updated");
            assert_eq!(v["tenant_id"], "acme");
            assert_eq!(
                data_keys(v),
                [
                    "destinations_count",
                    "previous_destinations_count",
                    "previous_topics",
                    "tenant_id",
                    "topics"
                ]
            );
            v["data"].clone()
        })
        .collect();
    let summary: Vec<(Value, Value, Value, Value)> = data
        .iter()
        .map(|d| {
            (
                d["previous_topics"].clone(),
                d["topics"].clone(),
                d["previous_destinations_count"].clone(),
                d["destinations_count"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            // create d1
            (json!([]), json!(["a", "b"]), json!(0), json!(1)),
            // create d2: same topics, one more destination
            (json!(["a", "b"]), json!(["a", "b"]), json!(1), json!(2)),
            // disable d1: its topics leave the subscription
            (json!(["a", "b"]), json!(["a"]), json!(2), json!(2)),
            // delete d1
            (json!(["a"]), json!(["a"]), json!(2), json!(1)),
        ]
    );
}

#[tokio::test]
async fn an_event_waits_while_the_sink_is_down_and_arrives_once_it_is_up() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let hooks = TestReceiver::start().await;
    hooks.set_default(Reply::Status(500));
    let sink = TestReceiver::start().await;
    sink.set_default(Reply::Status(503));
    flaky(&c, &hooks.url("/")).await;
    let (worker, sender) = service(&db, |s| {
        operator(s, &["alert.destination.disabled"], &sink.url("/ops"));
        s.delivery.disable_after_failures = 1;
        s.delivery.disable_min_failing = Duration::ZERO;
    })
    .await;
    publish(&c, "e1", true).await;
    worker.run_once(soon()).await.unwrap();

    let round = sender.run_once(None).await.unwrap();
    assert_eq!((round.delivered, round.retrying), (0, 1));
    assert_eq!(outbox_len(&c).await, 1, "kept for a retry");
    // Not due again straight away.
    assert_eq!(sender.run_once(None).await.unwrap().retrying, 0);

    sink.set_default(Reply::Status(200));
    let later = Utc::now() + chrono::Duration::minutes(1);
    assert_eq!(sender.run_once(Some(later)).await.unwrap().delivered, 1);
    assert_eq!(outbox_len(&c).await, 0);
    let got = sink.requests();
    assert_eq!(got.len(), 2, "the refused try and the accepted one");
    assert_eq!(
        envelope(&got[0]),
        envelope(&got[1]),
        "the same event, same id"
    );
    assert_eq!(envelope(&got[1])["topic"], "alert.destination.disabled");
}

#[tokio::test]
async fn an_event_claimed_by_a_process_that_died_is_sent_after_its_lease() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let hooks = TestReceiver::start().await;
    hooks.set_default(Reply::Status(500));
    let sink = TestReceiver::start().await;
    flaky(&c, &hooks.url("/")).await;
    let (worker, sender) = service(&db, |s| {
        operator(s, &["alert.destination.disabled"], &sink.url("/ops"));
        s.delivery.disable_after_failures = 1;
        s.delivery.disable_min_failing = Duration::ZERO;
    })
    .await;
    publish(&c, "e1", true).await;
    worker.run_once(soon()).await.unwrap();

    // Another process claims it and dies before sending.
    let claimed =
        outbound::store::operator_events::claim(&c, None, 10, "dead-worker", 60_000, None)
            .await
            .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(sender.run_once(None).await.unwrap().delivered, 0, "leased");
    let later = Utc::now() + chrono::Duration::minutes(2);
    assert_eq!(sender.run_once(Some(later)).await.unwrap().delivered, 1);
    assert_eq!(sink.count(), 1);
    assert_eq!(envelope(&sink.requests()[0])["id"], claimed[0].id);
}

#[tokio::test]
async fn nothing_is_emitted_when_operator_events_are_off() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let hooks = TestReceiver::start().await;
    hooks.set_default(Reply::Status(500));
    flaky(&c, &hooks.url("/")).await;
    let worker = crate::helpers::app::worker(&db, |s| {
        s.delivery.disable_after_failures = 1;
        s.delivery.disable_min_failing = Duration::ZERO;
    })
    .await;
    publish(&c, "e1", false).await;
    let rec = worker.run_once(soon()).await.unwrap();
    assert_eq!(rec.newly_disabled.len(), 1);
    assert_eq!(outbox_len(&c).await, 0);
}

/// maintain() raises the alert itself (V13), from the settings this
/// process wrote when it started, and the sender delivers it like any.
#[tokio::test]
async fn a_delivery_ended_by_the_retention_raises_exhausted_retries_at_the_sink() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let hooks = TestReceiver::start().await;
    let sink = TestReceiver::start().await;
    flaky(&c, &hooks.url("/")).await;
    let (_, sender) = service(&db, |s| {
        operator(s, &["alert.attempt.exhausted_retries"], &sink.url("/ops"));
    })
    .await;
    // Never attempted: still pending when its event reaches the retention.
    publish(&c, "e1", true).await;
    let later = Utc::now() + chrono::Duration::days(20);
    let maintainer =
        outbound::store::maintenance::Maintainer::new(db.pool.clone(), Duration::from_secs(60));
    let report = maintainer.run_once(Some(later)).await.unwrap();
    assert_eq!(report["exhausted_retries_alerts"], 1, "{report}");

    assert_eq!(sender.run_once(None).await.unwrap().delivered, 1);
    assert_eq!(hooks.count(), 0);
    let got: Vec<Value> = sink.requests().iter().map(envelope).collect();
    assert_eq!(got.len(), 1);
    let v = &got[0];
    assert_eq!(v["topic"], "alert.attempt.exhausted_retries");
    assert_eq!(v["tenant_id"], "acme");
    assert_eq!(
        data_keys(v),
        ["attempt", "destination", "event", "tenant_id"]
    );
    assert_eq!(v["data"]["event"]["id"], "e1");
    assert_eq!(v["data"]["attempt"]["code"], "expired");
    assert_eq!(v["data"]["attempt"]["attempt_number"], 1);
    assert_destination_projection(&v["data"]["destination"]);
}

#[tokio::test]
async fn the_deployment_id_is_in_the_signed_envelope_when_set() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let hooks = TestReceiver::start().await;
    hooks.set_default(Reply::Status(500));
    let sink = TestReceiver::start().await;
    flaky(&c, &hooks.url("/")).await;
    let (worker, sender) = service(&db, |s| {
        operator(s, &["alert.destination.disabled"], &sink.url("/ops"));
        s.operator_events.deployment_id = Some("eu-prod-1".into());
        s.delivery.disable_after_failures = 1;
        s.delivery.disable_min_failing = Duration::ZERO;
    })
    .await;
    publish(&c, "e1", true).await;
    worker.run_once(soon()).await.unwrap();
    assert_eq!(sender.run_once(None).await.unwrap().delivered, 1);
    let got = sink.requests();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].header("x-outpost-signature"),
        Some(format!("v0={}", hmac_hex(SIGNING, &got[0].body)).as_str())
    );
    let v: Value = serde_json::from_slice(&got[0].body).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["id", "topic", "time", "deployment_id", "tenant_id", "data"],
        "Outpost's order"
    );
    assert_eq!(v["deployment_id"], "eu-prod-1");
}

/// Per-attempt topics on: "ok" answers 200, "flaky" 500.
async fn two_destinations(
    db: &TestDb,
    topics: &[&str],
) -> (Worker, OperatorEventSender, TestReceiver, TestReceiver) {
    let c = db.client().await;
    let hooks = TestReceiver::start().await;
    hooks.set_default(Reply::Text(500, "down for maintenance".into()));
    let good = TestReceiver::start().await;
    good.set_default(Reply::Text(200, "thanks".into()));
    let sink = TestReceiver::start().await;
    flaky(&c, &hooks.url("/")).await;
    let acme = outbound::domain::ids::TenantId::parse("acme").unwrap();
    webhook(
        &c,
        &acme,
        "ok",
        &["*"],
        &good.url("/"),
        json!({ "secret": SECRET }),
    )
    .await;
    let url = sink.url("/ops");
    let (worker, sender) = service(db, |s| {
        operator(s, topics, &url);
        s.delivery.retry_schedule = Some(vec![Duration::from_secs(3600)]);
    })
    .await;
    (worker, sender, sink, hooks)
}

#[tokio::test]
async fn each_attempt_reaches_the_sink_as_attempt_success_or_attempt_failed() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let (worker, sender, sink, _hooks) =
        two_destinations(&db, &["attempt.success", "attempt.failed"]).await;
    publish(&c, "e1", true).await;
    let rec = worker.run_once(soon()).await.unwrap();
    assert_eq!(rec.accepted, 2);
    assert_eq!(outbox_len(&c).await, 2, "one operator event per attempt");
    assert_eq!(sender.run_once(None).await.unwrap().delivered, 2);
    assert_eq!(outbox_len(&c).await, 0);

    let mut got: Vec<Value> = sink.requests().iter().map(envelope).collect();
    got.sort_by_key(|v| v["topic"].as_str().unwrap().to_owned());
    let topics: Vec<&str> = got.iter().map(|v| v["topic"].as_str().unwrap()).collect();
    assert_eq!(topics, ["attempt.failed", "attempt.success"], "{got:#?}");
    for v in &got {
        assert_eq!(v["tenant_id"], "acme");
        assert_eq!(
            data_keys(v),
            ["attempt", "destination", "event", "tenant_id"],
            "Outpost's AttemptData"
        );
        let d = &v["data"];
        assert_eq!(d["tenant_id"], "acme");
        let mut event_keys: Vec<&str> = d["event"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        event_keys.sort();
        assert_eq!(
            event_keys,
            [
                "data",
                "destination_id",
                "eligible_for_retry",
                "id",
                "metadata",
                "tenant_id",
                "time",
                "topic"
            ]
        );
        assert_eq!(d["event"]["id"], "e1");
        assert_eq!(d["event"]["topic"], "user.created");
        assert_eq!(d["event"]["eligible_for_retry"], true);
        assert_eq!(d["event"]["data"], json!({"n": 1}));
        let mut attempt_keys: Vec<&str> = d["attempt"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        attempt_keys.sort();
        assert_eq!(
            attempt_keys,
            [
                "attempt_number",
                "code",
                "destination_id",
                "destination_type",
                "event_id",
                "id",
                "manual",
                "response_data",
                "status",
                "tenant_id",
                "time"
            ]
        );
        assert_eq!(d["attempt"]["event_id"], "e1");
        assert_eq!(d["attempt"]["destination_type"], "webhook");
        assert_eq!(d["attempt"]["attempt_number"], 1);
        assert_eq!(d["attempt"]["manual"], false);
        assert_destination_projection(&d["destination"]);
        assert_eq!(d["destination"]["id"], d["attempt"]["destination_id"]);
        // The attempt is the one in the log, under its id.
        let logged: String = c
            .query_one(
                "SELECT id::text FROM outbound.attempts
                 WHERE event_id = 'e1' AND destination_id = $1",
                &[&d["attempt"]["destination_id"].as_str().unwrap()],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(d["attempt"]["id"], logged.as_str());
    }
    let (failed, ok) = (&got[0]["data"]["attempt"], &got[1]["data"]["attempt"]);
    assert_eq!(failed["destination_id"], "flaky");
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["code"], "500");
    assert_eq!(
        failed["response_data"],
        json!({"status": 500, "body": "down for maintenance"})
    );
    assert_eq!(ok["destination_id"], "ok");
    assert_eq!(ok["status"], "success");
    assert_eq!(ok["code"], "200");
    assert_eq!(
        ok["response_data"],
        json!({"status": 200, "body": "thanks"})
    );

    // Every retry is an attempt, and so an attempt.failed of its own.
    worker
        .run_once(soon() + chrono::Duration::hours(2))
        .await
        .unwrap();
    assert_eq!(sender.run_once(None).await.unwrap().delivered, 1);
    let retry = envelope(&sink.requests()[2]);
    assert_eq!(retry["topic"], "attempt.failed");
    assert_eq!(retry["data"]["attempt"]["attempt_number"], 2);
}

#[tokio::test]
async fn only_the_topics_asked_for_are_emitted_and_none_by_default() {
    let db = TestDb::new().await;
    let c = db.client().await;
    // The alerts only: no per-attempt event.
    let (worker, _, _, _) = two_destinations(&db, ALERTS).await;
    publish(&c, "e1", true).await;
    assert_eq!(worker.run_once(soon()).await.unwrap().accepted, 2);
    assert_eq!(outbox_len(&c).await, 0);

    // attempt.failed alone: the failure's, not the success's.
    let db = TestDb::new().await;
    let c = db.client().await;
    let (worker, _, _, _) = two_destinations(&db, &["attempt.failed"]).await;
    publish(&c, "e1", true).await;
    assert_eq!(worker.run_once(soon()).await.unwrap().accepted, 2);
    let topics: Vec<String> = c
        .query("SELECT topic FROM outbound.operator_events", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(topics, ["attempt.failed"]);

    // The default: off.
    let defaults = crate::helpers::app::settings(&db);
    assert!(!defaults.operator_events.topics.attempts());
}

/// The operator event is written in the attempt's transaction: when its
/// insert fails, the attempt is not recorded either (the delivery stays
/// leased and is sent again), and once it succeeds both are there.
#[tokio::test]
async fn an_attempt_and_its_operator_event_commit_together() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let (worker, _, _, _) = two_destinations(&db, &["attempt.success", "attempt.failed"]).await;
    c.batch_execute(
        "CREATE FUNCTION public.refuse() RETURNS trigger LANGUAGE plpgsql AS
         $$ BEGIN RAISE EXCEPTION 'outbox refused'; END $$;
         CREATE TRIGGER refuse BEFORE INSERT ON outbound.operator_events
         FOR EACH ROW EXECUTE FUNCTION public.refuse();",
    )
    .await
    .unwrap();
    publish(&c, "e1", true).await;
    let t0 = soon();
    assert!(
        worker.run_once(t0).await.is_err(),
        "the batch is not written"
    );
    let count = |sql: &'static str| {
        let c = &c;
        async move { c.query_one(sql, &[]).await.unwrap().get::<_, i64>(0) }
    };
    assert_eq!(count("SELECT count(*) FROM outbound.attempts").await, 0);
    assert_eq!(
        count("SELECT count(*) FROM outbound.operator_events").await,
        0
    );

    // Its leases expired, the deliveries are sent and recorded again,
    // with their operator events this time.
    c.batch_execute("DROP TRIGGER refuse ON outbound.operator_events")
        .await
        .unwrap();
    worker
        .run_once(t0 + chrono::Duration::minutes(10))
        .await
        .unwrap();
    let unmatched = count(
        "SELECT count(*) FROM outbound.attempts a FULL JOIN outbound.operator_events o
           ON o.data #>> '{attempt,id}' = a.id::text
         WHERE a.id IS NULL OR o.id IS NULL",
    )
    .await;
    assert_eq!(count("SELECT count(*) FROM outbound.attempts").await, 2);
    assert_eq!(
        unmatched, 0,
        "each attempt has its operator event, and only they"
    );
}

/// Per-attempt events come as fast as deliveries: the sender takes a
/// round's worth at once, several in flight, each arriving once.
#[tokio::test]
async fn a_burst_of_attempt_events_is_sent_in_one_round_each_once() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let (worker, sender, sink, _hooks) =
        two_destinations(&db, &["attempt.success", "attempt.failed"]).await;
    for i in 0..20 {
        publish(&c, &format!("e{i}"), true).await;
    }
    assert_eq!(worker.run_once(soon()).await.unwrap().accepted, 40);
    let round = sender.run_once(None).await.unwrap();
    assert_eq!((round.delivered, round.retrying), (40, 0));
    assert_eq!(outbox_len(&c).await, 0);
    let mut ids: Vec<String> = sink
        .requests()
        .iter()
        .map(|r| envelope(r)["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 40);
}
