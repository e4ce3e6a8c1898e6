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
        operator(s, &["*"], &sink.url("/ops"));
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
    assert_eq!(
        levels,
        [(5, 10, 50), (7, 10, 70), (9, 10, 90), (10, 10, 100)],
        "50, 70, 90 and 100 % of 10"
    );
    let first = failures[0];
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
        operator(s, &["*"], &sink.url("/ops"));
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
    // e1 and e2 failed in one batch: the alert names whichever failed first.
    let first = got[0]["data"]["event"]["id"].as_str().unwrap();
    assert!(["e1", "e2"].contains(&first), "{first}");
    assert_eq!(got[1]["data"]["event"]["id"], "e4");
    assert_eq!(got[1]["data"]["attempt"]["status"], "failed");
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
