//! The delivery engine against a real Postgres and real receivers on loopback.

use std::time::Duration;

use crate::helpers::hmac_hex;
use chrono::{DateTime, Utc};
use outbound::delivery::attempt::Outcome;
use outbound::domain::ids::{DestinationId, EventId, TenantId};
use outbound::store::deliveries::Thresholds;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::helpers::app::worker;
use crate::helpers::db::TestDb;
use crate::helpers::factory::{attempts_of, tenant, webhook};
use crate::helpers::receiver::{Reply, TestReceiver};

async fn queue_len(c: &deadpool_postgres::Object) -> i64 {
    c.query_one("SELECT count(*) FROM outbound.deliveries", &[])
        .await
        .unwrap()
        .get(0)
}

/// Waits until the queue is empty; fails the test after `limit`.
async fn queue_drains(c: &deadpool_postgres::Object, limit: Duration) {
    crate::helpers::eventually(
        limit,
        || async move { (queue_len(c).await == 0).then_some(()) },
    )
    .await
    .expect("queue drains");
}

#[tokio::test]
async fn an_event_inserted_by_sql_reaches_the_receiver_signed() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let rx = TestReceiver::start().await;
    let acme = tenant(&c, "acme").await;
    webhook(
        &c,
        &acme,
        "des_1",
        &["user.created"],
        &rx.url("/hooks"),
        json!({"secret": "whsec_test"}),
    )
    .await;
    c.execute(
        "UPDATE outbound.destinations SET config = config || '{\"custom_headers\":{\"X-Api-Key\":\"k-123\"}}',
                delivery_metadata = '{\"region\":\"eu\"}' WHERE id = 'des_1'",
        &[],
    )
    .await
    .unwrap();

    let cancel = CancellationToken::new();
    let w = worker(&db, |_| {}).await;
    let running = tokio::spawn(w.run(cancel.clone()));

    let body = "{\"user_id\": \"usr_1\",  \"z\": 1, \"a\": [1.50]}";
    let before = Utc::now();
    c.execute(
        "INSERT INTO outbound.events (id, tenant_id, topic, data, metadata)
         VALUES ('evt_1', 'acme', 'user.created', $1::text::json, '{\"source\":\"crm\"}')",
        &[&body],
    )
    .await
    .unwrap();

    let got = rx.wait_for(1, Duration::from_secs(10)).await;
    let req = &got[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/hooks");
    assert_eq!(
        &req.body[..],
        body.as_bytes(),
        "the body is the data exactly as published"
    );
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert!(req.header("user-agent").unwrap().starts_with("outbound/"));
    assert_eq!(req.header("x-outpost-event-id"), Some("evt_1"));
    assert_eq!(req.header("x-outpost-topic"), Some("user.created"));
    assert_eq!(req.header("x-outpost-source"), Some("crm"));
    assert_eq!(req.header("x-outpost-region"), Some("eu"));
    assert_eq!(req.header("x-api-key"), Some("k-123"));
    let ts: DateTime<Utc> = req.header("x-outpost-timestamp").unwrap().parse().unwrap();
    assert!(
        ts >= before - chrono::Duration::seconds(1) && ts <= Utc::now(),
        "{ts}"
    );
    let expected = format!("v0={}", hmac_hex("whsec_test", body.as_bytes()));
    assert_eq!(req.header("x-outpost-signature"), Some(expected.as_str()));

    // The attempt is logged and the queue row is gone.
    let ok = crate::helpers::eventually(Duration::from_secs(5), || {
        let c = &c;
        async move {
            let a = attempts_of(c, "evt_1", "des_1").await;
            (!a.is_empty() && queue_len(c).await == 0).then_some(a)
        }
    })
    .await
    .expect("attempt recorded");
    assert_eq!(ok, [(1, "success".to_string(), "200".to_string(), false)]);
    let row = c
        .query_one(
            "SELECT response_status, response_body, duration_ms >= 0 FROM outbound.attempts WHERE event_id = 'evt_1'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, Option<i32>>(0), Some(200));
    assert_eq!(
        row.get::<_, Option<String>>(1).as_deref(),
        Some("{\"ok\":true}")
    );

    cancel.cancel();
    running.await.unwrap();
}

#[tokio::test]
async fn during_rotation_both_secrets_sign_newest_first() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let rx = TestReceiver::start().await;
    let acme = tenant(&c, "acme").await;
    let until = (Utc::now() + chrono::Duration::hours(24)).to_rfc3339();
    webhook(
        &c,
        &acme,
        "des_1",
        &["*"],
        &rx.url("/"),
        json!({"secret": "whsec_new", "previous_secret": "whsec_old", "previous_secret_invalid_at": until}),
    )
    .await;
    c.execute(
        "INSERT INTO outbound.events (tenant_id, topic, data) VALUES ('acme', 'a.b', '{\"x\":1}')",
        &[],
    )
    .await
    .unwrap();
    let w = worker(&db, |_| {}).await;
    w.run_once(Utc::now()).await.unwrap();
    let req = &rx.requests()[0];
    let expected = format!(
        "v0={},{}",
        hmac_hex("whsec_new", &req.body),
        hmac_hex("whsec_old", &req.body)
    );
    assert_eq!(req.header("x-outpost-signature"), Some(expected.as_str()));
}

#[tokio::test]
async fn failures_are_retried_on_schedule_with_numbered_attempts() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let rx = TestReceiver::start().await;
    rx.script([Reply::Status(500), Reply::Status(500), Reply::Status(200)]);
    let acme = tenant(&c, "acme").await;
    webhook(&c, &acme, "d", &["*"], &rx.url("/"), json!({"secret": "s"})).await;
    c.execute(
        "INSERT INTO outbound.events (id, tenant_id, topic, data) VALUES ('e', 'acme', 't', '{}')",
        &[],
    )
    .await
    .unwrap();
    let w = worker(&db, |s| {
        s.delivery.retry_interval = Duration::from_secs(30);
        s.delivery.max_retry_limit = 10;
    })
    .await;

    let t0 = Utc::now();
    assert_eq!(w.run_once(t0).await.unwrap().accepted, 1);
    let next: DateTime<Utc> = c
        .query_one(
            "SELECT next_attempt_at FROM outbound.deliveries WHERE event_id = 'e'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let wait = (next - t0).num_milliseconds();
    assert!(
        (27_000..=33_000).contains(&wait),
        "first retry ≈ 30 s ± jitter, got {wait} ms"
    );
    // Not due yet: nothing happens.
    assert_eq!(
        w.run_once(t0 + chrono::Duration::seconds(20))
            .await
            .unwrap()
            .accepted,
        0
    );
    assert_eq!(
        w.run_once(t0 + chrono::Duration::seconds(40))
            .await
            .unwrap()
            .accepted,
        1
    );
    let next: DateTime<Utc> = c
        .query_one(
            "SELECT next_attempt_at FROM outbound.deliveries WHERE event_id = 'e'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let wait = (next - (t0 + chrono::Duration::seconds(40))).num_milliseconds();
    assert!(
        (54_000..=66_000).contains(&wait),
        "second retry ≈ 60 s, got {wait} ms"
    );
    assert_eq!(
        w.run_once(t0 + chrono::Duration::seconds(200))
            .await
            .unwrap()
            .accepted,
        1
    );

    assert_eq!(
        attempts_of(&c, "e", "d").await,
        [
            (1, "failed".into(), "500".into(), false),
            (2, "failed".into(), "500".into(), false),
            (3, "success".into(), "200".into(), false),
        ]
    );
    assert_eq!(queue_len(&c).await, 0);
    assert_eq!(rx.count(), 3);
}

#[tokio::test]
async fn an_event_not_eligible_for_retry_gets_one_attempt() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let rx = TestReceiver::start().await;
    rx.set_default(Reply::Status(500));
    let acme = tenant(&c, "acme").await;
    webhook(&c, &acme, "d", &["*"], &rx.url("/"), json!({"secret": "s"})).await;
    c.execute(
        "INSERT INTO outbound.events (id, tenant_id, topic, data, eligible_for_retry) VALUES ('e', 'acme', 't', '{}', false)",
        &[],
    )
    .await
    .unwrap();
    let w = worker(&db, |_| {}).await;
    let t0 = Utc::now();
    w.run_once(t0).await.unwrap();
    w.run_once(t0 + chrono::Duration::days(1)).await.unwrap();
    assert_eq!(
        attempts_of(&c, "e", "d").await,
        [(1, "failed".into(), "500".into(), false)]
    );
    assert_eq!(queue_len(&c).await, 0);
}

#[tokio::test]
async fn retries_stop_after_the_limit_and_retry_after_is_honoured() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let rx = TestReceiver::start().await;
    rx.script([Reply::WithHeaders(
        429,
        vec![("retry-after".into(), "120".into())],
    )]);
    rx.set_default(Reply::Status(503));
    let acme = tenant(&c, "acme").await;
    webhook(&c, &acme, "d", &["*"], &rx.url("/"), json!({"secret": "s"})).await;
    c.execute(
        "INSERT INTO outbound.events (id, tenant_id, topic, data) VALUES ('e', 'acme', 't', '{}')",
        &[],
    )
    .await
    .unwrap();
    let w = worker(&db, |s| {
        s.delivery.retry_schedule = Some(vec![Duration::from_secs(5), Duration::from_secs(5)]);
    })
    .await;
    let t0 = Utc::now();
    w.run_once(t0).await.unwrap();
    let next: DateTime<Utc> = c
        .query_one("SELECT next_attempt_at FROM outbound.deliveries", &[])
        .await
        .unwrap()
        .get(0);
    assert!(
        (next - t0).num_seconds() >= 119,
        "Retry-After: 120 is a floor over the 5 s schedule"
    );
    w.run_once(t0 + chrono::Duration::seconds(130))
        .await
        .unwrap();
    w.run_once(t0 + chrono::Duration::seconds(200))
        .await
        .unwrap();
    w.run_once(t0 + chrono::Duration::seconds(300))
        .await
        .unwrap();
    let attempts = attempts_of(&c, "e", "d").await;
    assert_eq!(attempts.len(), 3, "1 attempt + 2 retries: {attempts:?}");
    assert_eq!(attempts[0].2, "429");
    assert_eq!(
        queue_len(&c).await,
        0,
        "exhausted deliveries leave the queue"
    );
}

#[tokio::test]
async fn failures_are_classified_and_bounded() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let hang = TestReceiver::start().await;
    hang.set_default(Reply::Hang);
    let big = TestReceiver::start().await;
    big.set_default(Reply::Body(200, 10 * 1024 * 1024));
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let acme = tenant(&c, "acme").await;
    webhook(
        &c,
        &acme,
        "hang",
        &["*"],
        &hang.url("/"),
        json!({"secret": "s"}),
    )
    .await;
    webhook(
        &c,
        &acme,
        "big",
        &["*"],
        &big.url("/"),
        json!({"secret": "s"}),
    )
    .await;
    webhook(
        &c,
        &acme,
        "refused",
        &["*"],
        &format!("http://127.0.0.1:{closed_port}/"),
        json!({"secret": "s"}),
    )
    .await;
    webhook(
        &c,
        &acme,
        "private",
        &["*"],
        "http://10.0.0.1/hook",
        json!({"secret": "s"}),
    )
    .await;
    webhook(
        &c,
        &acme,
        "metadata",
        &["*"],
        "http://169.254.169.254/latest",
        json!({"secret": "s"}),
    )
    .await;
    webhook(&c, &acme, "nosecret", &["*"], &big.url("/"), json!({})).await;
    c.execute(
        "INSERT INTO outbound.events (id, tenant_id, topic, data) VALUES ('e', 'acme', 't', '{}')",
        &[],
    )
    .await
    .unwrap();
    let w = worker(&db, |s| s.delivery.timeout = Duration::from_secs(1)).await;
    let started = std::time::Instant::now();
    w.run_once(Utc::now()).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "bounded by the timeout"
    );

    let code = |d: &'static str| {
        let c = &c;
        async move { attempts_of(c, "e", d).await[0].2.clone() }
    };
    assert_eq!(code("hang").await, "timeout");
    assert_eq!(code("refused").await, "connection_refused");
    assert_eq!(code("private").await, "blocked_address");
    assert_eq!(code("metadata").await, "blocked_address");
    assert_eq!(code("nosecret").await, "invalid_destination_config");
    assert_eq!(code("big").await, "200");
    // Longer than DESTINATIONS_WEBHOOK_MAX_RESPONSE_BODY_BYTES (128 KiB):
    // stored as Outpost's note, never cut.
    let stored: String = c
        .query_one(
            "SELECT response_body FROM outbound.attempts WHERE destination_id = 'big'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        stored, "Response body exceeded 131072 bytes and was not stored",
        "a body over the cap is not stored"
    );
}

#[tokio::test]
async fn two_worker_pools_deliver_5000_events_to_3_destinations_exactly_once() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let rx = TestReceiver::start().await;
    let acme = tenant(&c, "acme").await;
    for d in ["d1", "d2", "d3"] {
        webhook(
            &c,
            &acme,
            d,
            &["*"],
            &rx.url(&format!("/{d}")),
            json!({"secret": "s"}),
        )
        .await;
    }
    // Two workers, each with its own pool, as two processes would have.
    let cancel = CancellationToken::new();
    let a = worker(&db, |s| s.delivery.concurrency = 32).await;
    let b = worker(&db, |s| s.delivery.concurrency = 32).await;
    let a = tokio::spawn(a.run(cancel.clone()));
    let b = tokio::spawn(b.run(cancel.clone()));

    c.execute(
        "INSERT INTO outbound.events (id, tenant_id, topic, data)
         SELECT 'e' || g, 'acme', 'bulk', json_build_object('n', g) FROM generate_series(1, 5000) g",
        &[],
    )
    .await
    .unwrap();
    let got = rx.wait_for(15_000, Duration::from_secs(120)).await;
    // Let any stray duplicate arrive before counting.
    queue_drains(&c, Duration::from_secs(20)).await;
    let got = if rx.count() > got.len() {
        rx.requests()
    } else {
        got
    };
    let mut seen = std::collections::HashSet::new();
    for r in &got {
        let key = (
            r.path.clone(),
            r.header("x-outpost-event-id").unwrap().to_string(),
        );
        assert!(seen.insert(key.clone()), "sent twice: {key:?}");
    }
    assert_eq!(seen.len(), 15_000, "none missing");
    let logged: i64 = c
        .query_one(
            "SELECT count(*) FROM outbound.attempts WHERE status = 'success'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(logged, 15_000);
    cancel.cancel();
    a.await.unwrap();
    b.await.unwrap();
}

#[tokio::test]
async fn slow_receivers_never_outlast_a_short_lease_into_a_second_send() {
    // One send slot, a 4 s lease, receivers taking 1.2 s of a 1.5 s timeout.
    // Claiming the four deliveries at once would leave the fourth waiting
    // until its lease had expired and this same worker had claimed it again:
    // sent twice. The worker claims only what it can start in time.
    let db = TestDb::new().await;
    let c = db.client().await;
    let rx = TestReceiver::start().await;
    rx.set_default(Reply::Delay(Duration::from_millis(1200), 200));
    let acme = tenant(&c, "acme").await;
    webhook(&c, &acme, "d", &["*"], &rx.url("/"), json!({"secret": "s"})).await;
    let cancel = CancellationToken::new();
    let running = tokio::spawn(
        worker(&db, |s| {
            s.delivery.concurrency = 1;
            s.delivery.lease = Duration::from_secs(4);
            s.delivery.timeout = Duration::from_millis(1500);
        })
        .await
        .run(cancel.clone()),
    );
    c.execute(
        "INSERT INTO outbound.events (id, tenant_id, topic, data) SELECT 'e' || g, 'acme', 't', '{}' FROM generate_series(1, 4) g",
        &[],
    )
    .await
    .unwrap();
    queue_drains(&c, Duration::from_secs(30)).await;
    // A second send would have started within a lease of the first.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let ids: Vec<String> = rx
        .requests()
        .iter()
        .map(|r| r.header("x-outpost-event-id").unwrap().to_string())
        .collect();
    let distinct: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(ids.len(), 4, "each delivery sent once: {ids:?}");
    assert_eq!(distinct.len(), 4);
    let logged: i64 = c
        .query_one(
            "SELECT count(*) FROM outbound.attempts WHERE status = 'success' AND attempt_number = 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(logged, 4);
    cancel.cancel();
    running.await.unwrap();
}

/// Auto-disable needs a failure streak that reached the count *and* lasted:
/// failures in flight together count once, and a streak shorter than
/// ALERT_AUTO_DISABLE_MIN_FAILING_SECONDS disables nothing. Once disabled,
/// what matches the destination is held, never dropped, and goes out when
/// it is enabled again.
#[tokio::test]
async fn auto_disable_needs_a_lasting_streak_and_holds_deliveries_until_re_enabled() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let rx = TestReceiver::start().await;
    rx.set_default(Reply::Status(500));
    let acme = tenant(&c, "acme").await;
    let dest = webhook(
        &c,
        &acme,
        "flaky",
        &["*"],
        &rx.url("/"),
        json!({"secret": "s"}),
    )
    .await;
    let w = worker(&db, |s| {
        s.delivery.disable_after_failures = 3;
        s.delivery.disable_min_failing = Duration::from_secs(10);
        s.delivery.retry_schedule = Some(vec![Duration::from_secs(1); 10]);
    })
    .await;
    publish_n(&c, "e", 3).await;
    let state = || async {
        let r = c
            .query_one(
                "SELECT disabled_at IS NOT NULL, consecutive_failures, disabled_reason \
                 FROM outbound.destinations",
                &[],
            )
            .await
            .unwrap();
        let state: (bool, i32, Option<String>) = (r.get(0), r.get(1), r.get(2));
        state
    };
    // Three failures at once: one failure of the destination.
    let t0 = Utc::now();
    let rec = w.run_once(t0).await.unwrap();
    assert!(rec.newly_disabled.is_empty());
    assert_eq!(state().await, (false, 1, None), "a burst counts once");
    // The retries fail two and four seconds later: the count is reached,
    // but the streak is 4 s old, not the 10 s needed.
    for s in [2, 4] {
        let rec = w.run_once(t0 + chrono::Duration::seconds(s)).await.unwrap();
        assert!(rec.newly_disabled.is_empty(), "at {s} s");
    }
    assert_eq!(state().await, (false, 3, None));
    assert_eq!(rx.count(), 9);
    // Twelve seconds in, still failing: disabled.
    let rec = w
        .run_once(t0 + chrono::Duration::seconds(12))
        .await
        .unwrap();
    assert_eq!(rec.newly_disabled, ["flaky"]);
    let (disabled, failures, reason) = state().await;
    assert!(disabled);
    assert_eq!(failures, 4);
    assert_eq!(reason.as_deref(), Some("consecutive_failures"));
    assert_eq!(
        held_count(&c).await,
        3,
        "pending deliveries wait, they are not dropped"
    );

    // Published while disabled: held for it too.
    publish_n(&c, "later", 2).await;
    assert_eq!(held_count(&c).await, 5);
    // Nothing is sent while disabled, even when retries come due.
    w.run_once(t0 + chrono::Duration::hours(1)).await.unwrap();
    assert_eq!(rx.count(), 12);

    // Re-enabled: the receiver is fixed, everything waiting goes out now.
    rx.set_default(Reply::Status(200));
    outbound::store::destinations::set_disabled(&c, &acme, &dest, false, None)
        .await
        .unwrap();
    let released = outbound::store::held::release(&c, &acme, &dest, 100, None)
        .await
        .unwrap();
    assert_eq!(released, 5);
    w.run_once(Utc::now()).await.unwrap();
    assert_eq!(rx.count(), 17);
    assert_eq!(queue_len(&c).await, 0);
    let r = c
        .query_one(
            "SELECT consecutive_failures, disabled_reason, failing_since FROM outbound.destinations",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(r.get::<_, i32>(0), 0, "a success resets the count");
    assert_eq!(
        r.get::<_, Option<String>>(1),
        None,
        "enabled again: no reason"
    );
    assert!(r.get::<_, Option<chrono::DateTime<Utc>>>(2).is_none());
}

async fn publish_n(c: &impl outbound::store::GenericClient, prefix: &str, n: i32) {
    c.execute(
        "INSERT INTO outbound.events (id, tenant_id, topic, data) \
         SELECT $1 || g, 'acme', 't', '{}' FROM generate_series(1, $2) g",
        &[&prefix, &n],
    )
    .await
    .unwrap();
}

async fn held_count(c: &impl outbound::store::GenericClient) -> i64 {
    c.query_one(
        "SELECT count(*) FROM outbound.deliveries WHERE state = 'held'",
        &[],
    )
    .await
    .unwrap()
    .get(0)
}

#[tokio::test]
async fn manual_retry_makes_a_new_numbered_attempt() {
    use outbound::store::deliveries::{retry_now, RetryError};
    let db = TestDb::new().await;
    let c = db.client().await;
    let rx = TestReceiver::start().await;
    rx.script([Reply::Status(500)]);
    let acme = tenant(&c, "acme").await;
    let dest = webhook(&c, &acme, "d", &["*"], &rx.url("/"), json!({"secret": "s"})).await;
    c.execute(
        "INSERT INTO outbound.events (id, tenant_id, topic, data) VALUES ('e', 'acme', 't', '{}')",
        &[],
    )
    .await
    .unwrap();
    let w = worker(&db, |_| {}).await;
    let (e, d) = (
        EventId::parse("e").unwrap(),
        DestinationId::parse("d").unwrap(),
    );
    // No attempt yet: nothing to retry.
    assert_eq!(
        retry_now(&c, &e, &d, &acme, None).await.unwrap(),
        Err(RetryError::NoPriorAttempt)
    );
    let t0 = Utc::now();
    w.run_once(t0).await.unwrap();
    // An automatic retry is pending 30 s out; the manual one replaces it, due now.
    assert_eq!(
        retry_now(&c, &e, &d, &acme, Some(t0)).await.unwrap(),
        Ok(Some(2))
    );
    w.run_once(t0).await.unwrap();
    assert_eq!(
        attempts_of(&c, "e", "d").await,
        [
            (1, "failed".into(), "500".into(), false),
            (2, "success".into(), "200".into(), true)
        ]
    );
    assert_eq!(queue_len(&c).await, 0);
    // After success a manual retry sends again, numbered 3.
    assert_eq!(
        retry_now(&c, &e, &d, &acme, None).await.unwrap(),
        Ok(Some(3))
    );
    w.run_once(Utc::now()).await.unwrap();
    assert_eq!(attempts_of(&c, "e", "d").await.len(), 3);
    // Refused for a disabled destination, and for another tenant's destination.
    outbound::store::destinations::set_disabled(&c, &acme, &dest, true, None)
        .await
        .unwrap();
    assert_eq!(
        retry_now(&c, &e, &d, &acme, None).await.unwrap(),
        Err(RetryError::DestinationDisabled)
    );
    assert_eq!(
        retry_now(&c, &e, &d, &TenantId::parse("other").unwrap(), None)
            .await
            .unwrap(),
        Err(RetryError::DestinationNotFound)
    );
}

#[tokio::test]
async fn two_workers_recording_failures_at_once_both_count() {
    // Two workers' recorders write the same destination's failures at the
    // same moment; the second waits for the first's row and adds to it.
    use outbound::store::deliveries::{record_destination_outcomes, DestinationOutcome};
    let t0 = Utc::now();
    let at = move |s: i64| Some(t0 + chrono::Duration::seconds(s));
    // Failures a second or more apart: each one counts.
    let outcome = move |reset, failures, first: i64, last: i64| DestinationOutcome {
        tenant_id: TenantId::parse("acme").unwrap(),
        id: DestinationId::parse("d").unwrap(),
        reset,
        failures,
        first_failure_at: at(first),
        last_failure_at: at(last),
        answered: true,
        unanswered: 0,
    };
    let thresholds = Thresholds {
        disable_after: 7,
        failure_spacing_ms: 1000,
        circuit_after: 5,
        circuit_cooldown_ms: 30_000,
        ..Thresholds::default()
    };
    let db = TestDb::new().await;
    let c = db.client().await;
    let acme = tenant(&c, "acme").await;
    webhook(
        &c,
        &acme,
        "d",
        &["*"],
        "http://127.0.0.1:9/",
        json!({"secret": "s"}),
    )
    .await;
    let mut first = db.client().await;
    let t1 = first.transaction().await.unwrap();
    record_destination_outcomes(&t1, &[outcome(false, 5, 0, 4)], thresholds, None, None)
        .await
        .unwrap();
    let mut second = db.client().await;
    let other = tokio::spawn(async move {
        let t2 = second.transaction().await.unwrap();
        let counts =
            record_destination_outcomes(&t2, &[outcome(false, 3, 5, 7)], thresholds, None, None)
                .await
                .unwrap();
        t2.commit().await.unwrap();
        counts
    });
    crate::helpers::eventually(Duration::from_secs(10), || {
        let c = &c;
        async move {
            let waiting: i64 = c
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            (waiting == 1).then_some(())
        }
    })
    .await
    .expect("the second recorder waits for the first");
    t1.commit().await.unwrap();
    let counts = other.await.unwrap();
    assert_eq!(counts.len(), 1);
    assert_eq!(counts[0].consecutive_failures, 8, "5 + 3, none lost");
    assert!(
        counts[0].disabled && counts[0].newly_disabled,
        "8 >= 7 disables"
    );
    let row = c
        .query_one(
            "SELECT consecutive_failures, disabled_at IS NOT NULL FROM outbound.destinations WHERE id = 'd'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i32>(0), 8);
    assert!(row.get::<_, bool>(1));
}

#[tokio::test]
async fn a_stale_worker_cannot_record_over_a_newer_claim() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let acme = tenant(&c, "acme").await;
    webhook(
        &c,
        &acme,
        "d",
        &["*"],
        "http://127.0.0.1:9/",
        json!({"secret": "s"}),
    )
    .await;
    c.execute(
        "INSERT INTO outbound.events (id, tenant_id, topic, data) VALUES ('e', 'acme', 't', '{}')",
        &[],
    )
    .await
    .unwrap();
    let t0 = Utc::now();
    let limits = outbound::store::deliveries::ClaimLimits {
        default_cap: 16,
        ..Default::default()
    };
    let first = outbound::store::deliveries::claim(&c, Some(t0), 10, "w1", 1000, &limits, None)
        .await
        .unwrap();
    // The lease expires; another worker claims it.
    let second = outbound::store::deliveries::claim(
        &c,
        Some(t0 + chrono::Duration::seconds(5)),
        10,
        "w2",
        1000,
        &limits,
        None,
    )
    .await
    .unwrap();
    assert_eq!((first.len(), second.len()), (1, 1));
    assert_eq!(second[0].claims, first[0].claims + 1);
    let record = |claims: i32, code: &str| outbound::store::deliveries::AttemptRecord {
        event_id: EventId::parse("e").unwrap(),
        destination_id: DestinationId::parse("d").unwrap(),
        claims,
        tenant_id: TenantId::parse("acme").unwrap(),
        event_time: first[0].event_time,
        attempt_number: 1,
        manual: false,
        success: code == "200",
        next_attempt_at: None,
        blocked: false,
        code: outbound::domain::attempt_code::AttemptCode::parse(code).unwrap(),
        response_status: None,
        response_headers: None,
        response_body: None,
        duration_ms: 1,
        attempted_at: t0,
    };
    let stale = outbound::delivery::recorder::write(
        &db.pool,
        &[Outcome::Attempted(record(first[0].claims, "timeout"))],
        Thresholds::default(),
        &Default::default(),
        None,
        false,
    )
    .await
    .unwrap();
    assert_eq!((stale.accepted, stale.refused), (0, 1));
    let fresh = outbound::delivery::recorder::write(
        &db.pool,
        &[Outcome::Attempted(record(second[0].claims, "200"))],
        Thresholds::default(),
        &Default::default(),
        None,
        false,
    )
    .await
    .unwrap();
    assert_eq!((fresh.accepted, fresh.refused), (1, 0));
    assert_eq!(
        attempts_of(&c, "e", "d").await,
        [(1, "success".into(), "200".into(), false)]
    );
}

#[tokio::test]
async fn shutdown_lets_in_flight_sends_finish_and_records_them() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let rx = TestReceiver::start().await;
    rx.set_default(Reply::Delay(Duration::from_millis(500), 200));
    let acme = tenant(&c, "acme").await;
    webhook(&c, &acme, "d", &["*"], &rx.url("/"), json!({"secret": "s"})).await;
    let cancel = CancellationToken::new();
    let running = tokio::spawn(worker(&db, |_| {}).await.run(cancel.clone()));
    c.execute(
        "INSERT INTO outbound.events (id, tenant_id, topic, data) SELECT 'e' || g, 'acme', 't', '{}' FROM generate_series(1, 5) g",
        &[],
    )
    .await
    .unwrap();
    rx.wait_for(5, Duration::from_secs(10)).await;
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .unwrap()
        .unwrap();
    let ok: i64 = c
        .query_one(
            "SELECT count(*) FROM outbound.attempts WHERE status = 'success'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(ok, 5, "in-flight sends finished and were recorded");
    assert_eq!(queue_len(&c).await, 0);
    let workers: i64 = c
        .query_one("SELECT count(*) FROM outbound.workers", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(workers, 0, "the worker deregistered");
}

/// Event ids and destination ids are unique per tenant: two tenants may
/// both publish "evt_1" to a destination "orders", and each delivery,
/// attempt, duplicate check, disable and retry stays with its tenant.
#[tokio::test]
async fn ids_are_unique_per_tenant_and_never_mix() {
    use outbound::store::deliveries::retry_now;
    let db = TestDb::new().await;
    let c = db.client().await;
    let (rx_a, rx_b) = (TestReceiver::start().await, TestReceiver::start().await);
    rx_b.script([Reply::Status(500)]);
    let (a, b) = (tenant(&c, "a").await, tenant(&c, "b").await);
    let secret = json!({"secret": "s"});
    let orders = webhook(&c, &a, "orders", &["*"], &rx_a.url("/a"), secret.clone()).await;
    webhook(&c, &b, "orders", &["*"], &rx_b.url("/b"), secret).await;
    let publish = |tenant: &'static str, data: &'static str| {
        let c = &c;
        async move {
            c.query_one(
                "SELECT duplicate, destination_ids FROM outbound.publish($1, 't', $2::text::json, 'evt_1')",
                &[&tenant, &data],
            )
            .await
            .unwrap()
        }
    };
    let first_a = publish("a", r#"{"for":"a"}"#).await;
    let first_b = publish("b", r#"{"for":"b"}"#).await;
    assert!(!first_a.get::<_, bool>(0) && !first_b.get::<_, bool>(0));
    assert_eq!(first_b.get::<_, Vec<String>>(1), ["orders"]);
    assert!(
        publish("a", r#"{"for":"a again"}"#).await.get::<_, bool>(0),
        "a duplicate within its tenant"
    );

    let w = worker(&db, |_| {}).await;
    let t0 = Utc::now();
    w.run_once(t0).await.unwrap();
    let (got_a, got_b) = (rx_a.requests(), rx_b.requests());
    assert_eq!((got_a.len(), got_b.len()), (1, 1));
    assert_eq!(&got_a[0].body[..], br#"{"for":"a"}"#);
    assert_eq!(&got_b[0].body[..], br#"{"for":"b"}"#);
    assert_eq!(attempts_of(&c, "evt_1", "orders").await.len(), 2);
    let per_tenant: Vec<(String, String)> = c
        .query(
            "SELECT tenant_id, status::text FROM outbound.attempts ORDER BY tenant_id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        per_tenant,
        [
            ("a".into(), "success".into()),
            ("b".into(), "failed".into())
        ]
    );

    // b's failure is b's: a's "orders" is untouched, and b's retry is
    // pending while a has nothing queued.
    let counts: Vec<(String, i32)> = c
        .query(
            "SELECT tenant_id, consecutive_failures FROM outbound.destinations ORDER BY tenant_id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(counts, [("a".into(), 0), ("b".into(), 1)]);
    // Disabling a's "orders" holds only a's deliveries.
    outbound::store::destinations::set_disabled(&c, &a, &orders, true, None)
        .await
        .unwrap();
    // One statement for both tenants: the fan-out takes each in turn.
    c.execute(
        "INSERT INTO outbound.events (id, tenant_id, topic, data) \
         VALUES ('more', 'a', 't', '{}'), ('more', 'b', 't', '{}')",
        &[],
    )
    .await
    .unwrap();
    let held: Vec<String> = c
        .query(
            "SELECT tenant_id FROM outbound.deliveries WHERE state = 'held'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(held, ["a"], "held for a only");
    // A manual retry of a's event goes to a's destination only: refused
    // because a's is disabled, whatever b's state.
    let (evt, d) = (
        EventId::parse("evt_1").unwrap(),
        DestinationId::parse("orders").unwrap(),
    );
    assert!(retry_now(&c, &evt, &d, &a, None).await.unwrap().is_err());
    assert_eq!(
        retry_now(&c, &evt, &d, &b, Some(t0)).await.unwrap(),
        Ok(Some(2))
    );
}
