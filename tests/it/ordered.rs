//! Ordered delivery (issue 25, V26): one delivery at a time per destination
//! or per key, in publish order, through failing receivers, with a last
//! failure blocking the lane or skipped as the destination asks.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::helpers::app::{worker, TestApp};
use crate::helpers::db::TestDb;
use crate::helpers::eventually;
use crate::helpers::factory::{tenant, webhook};
use crate::helpers::receiver::{Reply, TestReceiver};

/// Webhook `d` of tenant acme on `rx`, with `policy` set in SQL.
async fn ordered_destination(c: &deadpool_postgres::Object, rx: &TestReceiver, policy: Value) {
    let acme = tenant(c, "acme").await;
    webhook(c, &acme, "d", &["*"], &rx.url("/d"), json!({"secret": "s"})).await;
    c.execute(
        "UPDATE outbound.destinations SET delivery_policy = $1 WHERE id = 'd'",
        &[&policy],
    )
    .await
    .unwrap();
}

/// Publishes event `id` with `data`, in its own transaction.
async fn publish(c: &deadpool_postgres::Object, id: &str, data: Value) {
    c.execute(
        "INSERT INTO outbound.events (id, tenant_id, topic, data) VALUES ($1, 'acme', 't', $2::jsonb::json)",
        &[&id, &data],
    )
    .await
    .unwrap();
}

/// The event ids the receiver was sent, in order.
fn sent(rx: &TestReceiver) -> Vec<String> {
    rx.requests()
        .iter()
        .map(|r| r.header("x-outpost-event-id").unwrap().to_string())
        .collect()
}

/// Each delivery's queue state, by event id.
async fn states(c: &deadpool_postgres::Object) -> Vec<(String, String)> {
    c.query(
        "SELECT event_id, state::text FROM outbound.deliveries ORDER BY position",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

fn at(t0: DateTime<Utc>, seconds: i64) -> DateTime<Utc> {
    t0 + chrono::Duration::seconds(seconds)
}

#[tokio::test]
async fn a_last_failure_blocks_the_lane_until_skipped_or_retried() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let rx = TestReceiver::start().await;
    rx.set_default(Reply::Status(200));
    ordered_destination(
        &c,
        &rx,
        json!({"ordering": {}, "retry": {"max_retries": 0}}),
    )
    .await;
    let api = TestApp::start(&db).await;
    let w = api.worker();
    for id in ["e1", "e2", "e3"] {
        publish(&c, id, json!({})).await;
    }

    rx.script([Reply::Status(500)]);
    let t0 = Utc::now();
    assert_eq!(w.run_once(t0).await.unwrap().accepted, 1, "one at a time");
    assert_eq!(
        states(&c).await,
        [
            ("e1".into(), "blocked".into()),
            ("e2".into(), "waiting".into()),
            ("e3".into(), "waiting".into())
        ]
    );
    // Blocked: nothing more goes, however long we wait.
    assert_eq!(w.run_once(at(t0, 60)).await.unwrap().accepted, 0);
    assert_eq!(sent(&rx), ["e1"]);

    // Only a blocked delivery can be skipped.
    let skip = |event: &str| json!({"event_id": event, "destination_id": "d"});
    let (s, body) = api.admin("POST", "/api/v1/skip", Some(skip("e2"))).await;
    assert_eq!(s, 409, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("not blocked"),
        "{body}"
    );
    let (s, body) = api.admin("POST", "/api/v1/skip", Some(skip("e1"))).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(w.run_once(at(t0, 61)).await.unwrap().accepted, 1);
    assert_eq!(w.run_once(at(t0, 62)).await.unwrap().accepted, 1);
    assert_eq!(sent(&rx), ["e1", "e2", "e3"]);
    assert!(states(&c).await.is_empty());
    let lanes: i64 = c
        .query_one("SELECT count(*) FROM outbound.lanes", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(lanes, 0, "an idle lane leaves no row");

    // Blocked again; a manual retry that succeeds lets the lane go on.
    publish(&c, "e4", json!({})).await;
    publish(&c, "e5", json!({})).await;
    rx.script([Reply::Status(503)]);
    assert_eq!(w.run_once(at(t0, 63)).await.unwrap().accepted, 1);
    assert_eq!(states(&c).await[0], ("e4".into(), "blocked".into()));
    let (s, body) = api.admin("POST", "/api/v1/retry", Some(skip("e5"))).await;
    assert_eq!(s, 404, "e5 was never attempted: {body}");
    let (s, body) = api.admin("POST", "/api/v1/retry", Some(skip("e4"))).await;
    assert_eq!(s, 202, "{body}");
    assert_eq!(w.run_once(Utc::now()).await.unwrap().accepted, 1);
    assert_eq!(w.run_once(Utc::now()).await.unwrap().accepted, 1);
    assert_eq!(sent(&rx), ["e1", "e2", "e3", "e4", "e4", "e5"]);
    let codes: Vec<(String, i32, String)> = c
        .query(
            "SELECT event_id, attempt_number, code FROM outbound.attempts ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        codes[3..],
        [
            ("e4".into(), 1, "503".into()),
            ("e4".into(), 2, "200".into()),
            ("e5".into(), 1, "200".into())
        ]
    );
}

#[tokio::test]
async fn skip_after_failure_gives_up_and_goes_on() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let rx = TestReceiver::start().await;
    rx.set_default(Reply::Status(200));
    let policy = json!({"ordering": {"after_failure": "skip"}, "retry": {"max_retries": 0}});
    ordered_destination(&c, &rx, policy).await;
    let w = worker(&db, |_| {}).await;
    for id in ["e1", "e2"] {
        publish(&c, id, json!({})).await;
    }
    rx.script([Reply::Status(500)]);
    let t0 = Utc::now();
    assert_eq!(w.run_once(t0).await.unwrap().accepted, 1);
    assert_eq!(w.run_once(at(t0, 1)).await.unwrap().accepted, 1);
    assert_eq!(sent(&rx), ["e1", "e2"]);
    assert!(states(&c).await.is_empty(), "e1 given up, e2 delivered");
}

#[tokio::test]
async fn each_key_is_its_own_lane() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let rx = TestReceiver::start().await;
    rx.set_default(Reply::Status(200));
    let policy = json!({"ordering": {"key": "data.order_id"}, "retry": {"max_retries": 0}});
    ordered_destination(&c, &rx, policy).await;
    let api = TestApp::start(&db).await;
    let w = api.worker();

    // Order A's first event fails for good: its lane blocks.
    publish(&c, "a1", json!({"order_id": "A"})).await;
    rx.script([Reply::Status(500)]);
    let t0 = Utc::now();
    assert_eq!(w.run_once(t0).await.unwrap().accepted, 1);

    // Order B goes on, in its order, while A waits.
    publish(&c, "b1", json!({"order_id": "B"})).await;
    publish(&c, "a2", json!({"order_id": "A"})).await;
    publish(&c, "b2", json!({"order_id": "B"})).await;
    // Events without the key share a lane of their own.
    publish(&c, "n1", json!({"other": 1})).await;
    let mut second = 1;
    while w.run_once(at(t0, second)).await.unwrap().accepted > 0 {
        second += 1;
    }
    // Lanes go side by side: only each one's own order is defined.
    let got = sent(&rx);
    let of = |lane: char| -> Vec<&str> {
        got.iter()
            .filter(|e| e.starts_with(lane))
            .map(String::as_str)
            .collect()
    };
    assert_eq!(
        (of('a'), of('b'), of('n')),
        (vec!["a1"], vec!["b1", "b2"], vec!["n1"])
    );
    assert_eq!(
        states(&c).await,
        [
            ("a1".into(), "blocked".into()),
            ("a2".into(), "waiting".into())
        ]
    );
    let lanes: Vec<(String, Option<i64>)> = c
        .query("SELECT lane, head FROM outbound.lanes ORDER BY lane", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(lanes.len(), 1, "only A's lane is in use: {lanes:?}");
    assert_eq!(lanes[0].0, "A");

    // Two keys' heads go in the same claim.
    let (s, _) = api
        .admin(
            "POST",
            "/api/v1/skip",
            Some(json!({"event_id": "a1", "destination_id": "d"})),
        )
        .await;
    assert_eq!(s, 200);
    publish(&c, "b3", json!({"order_id": "B"})).await;
    assert_eq!(w.run_once(at(t0, 30)).await.unwrap().accepted, 2);
    let mut last_two = sent(&rx)[4..].to_vec();
    last_two.sort();
    assert_eq!(last_two, ["a2", "b3"]);
}

/// `outbound serve` with a second worker process: an ordered destination
/// behind a receiver that fails four times, then recovers. Events published
/// one by one and in one multi-row statement arrive one at a time, in
/// publish order, none skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_holds_through_a_failing_receiver_and_two_workers() {
    let db = TestDb::new().await;
    let rx = TestReceiver::start().await;
    rx.set_default(Reply::Delay(Duration::from_millis(5), 200));
    rx.script([
        Reply::Status(500),
        Reply::Status(503),
        Reply::Status(500),
        Reply::Status(500),
    ]);
    let tweak = |s: &mut outbound::config::Settings| {
        s.delivery.retry_interval = Duration::from_millis(200);
        s.delivery.max_retry_limit = 10;
    };
    let api = TestApp::serving(&db, tweak).await;
    let second = worker(&db, tweak).await;
    let stop = CancellationToken::new();
    tokio::spawn(second.run(stop.clone()));
    assert_eq!(api.admin("PUT", "/api/v1/tenants/acme", None).await.0, 201);
    let (s, d) = api
        .admin(
            "POST",
            "/api/v1/tenants/acme/destinations",
            Some(json!({"id": "d", "type": "webhook", "topics": ["*"],
                        "config": {"url": rx.url("/d")},
                        "delivery_policy": {"ordering": {},
                                            "retry": {"schedule_seconds": [1, 1, 1, 1, 1]}}})),
        )
        .await;
    assert_eq!(s, 201, "{d}");
    assert_eq!(
        d["delivery_policy"]["ordering"],
        json!({"after_failure": "block"})
    );

    let mut published = Vec::new();
    for i in 0..10 {
        let id = format!("one-{i:02}");
        let (s, e) = api
            .admin(
                "POST",
                "/api/v1/publish",
                Some(json!({"id": id, "tenant_id": "acme", "topic": "t", "data": {"i": i}})),
            )
            .await;
        assert_eq!(s, 202, "{e}");
        published.push(id);
    }
    let c = db.client().await;
    c.execute(
        "INSERT INTO outbound.events (id, tenant_id, topic, data)
         SELECT format('many-%s', lpad(g::text, 2, '0')), 'acme', 't', '{}'
         FROM generate_series(0, 9) g",
        &[],
    )
    .await
    .unwrap();
    published.extend((0..10).map(|g| format!("many-{g:02}")));

    let received = rx.wait_for(24, Duration::from_secs(60)).await;
    stop.cancel();
    assert_eq!(received.len(), 24, "20 events, 4 failures");
    assert_eq!(rx.max_in_flight(), 1, "one at a time, across both workers");
    let mut ids: Vec<String> = sent(&rx);
    // The first event was sent five times (four failures), then each once.
    assert_eq!(ids[..5], vec![published[0].clone(); 5]);
    ids.dedup();
    assert_eq!(ids, published, "publish order, nothing skipped");
    let left: i64 = eventually(Duration::from_secs(10), || async {
        let n: i64 = c
            .query_one("SELECT count(*) FROM outbound.deliveries", &[])
            .await
            .unwrap()
            .get(0);
        (n == 0).then_some(n)
    })
    .await
    .expect("all recorded");
    assert_eq!(left, 0);
}

#[tokio::test]
async fn the_api_checks_an_ordering() {
    let db = TestDb::new().await;
    let api = TestApp::start(&db).await;
    assert_eq!(api.admin("PUT", "/api/v1/tenants/acme", None).await.0, 201);
    let create = |ordering: Value| {
        json!({"type": "webhook", "topics": ["*"],
               "config": {"url": "https://example.com/hook"},
               "delivery_policy": {"ordering": ordering}})
    };
    let (s, body) = api
        .admin(
            "POST",
            "/api/v1/tenants/acme/destinations",
            Some(create(
                json!({"key": "data order", "after_failure": "later"}),
            )),
        )
        .await;
    assert_eq!(s, 422, "{body}");
    let text = body.to_string();
    assert!(text.contains("delivery_policy.ordering.key"), "{text}");
    assert!(
        text.contains("delivery_policy.ordering.after_failure"),
        "{text}"
    );

    let (s, body) = api
        .admin(
            "POST",
            "/api/v1/tenants/acme/destinations",
            Some(create(
                json!({"key": "$.data.\"order-id\"", "after_failure": "skip"}),
            )),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/tenants/acme/destinations/{id}");
    // PATCH merges: the key stays, after_failure changes; null turns it off.
    let (s, body) = api
        .admin(
            "PATCH",
            &path,
            Some(
                json!({"delivery_policy": {"ordering": {"key": "$.data.\"order-id\"",
                                                         "after_failure": "block"}}}),
            ),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        body["delivery_policy"]["ordering"],
        json!({"key": "$.data.\"order-id\"", "after_failure": "block"})
    );
    let (s, body) = api
        .admin(
            "PATCH",
            &path,
            Some(json!({"delivery_policy": {"ordering": null}})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["delivery_policy"].get("ordering"), None, "{body}");

    // A key written by hand in SQL that the fan-out could not read is refused there.
    let c = db.client().await;
    let err = c
        .execute(
            "UPDATE outbound.destinations SET delivery_policy = '{\"ordering\": {\"key\": \"a b\"}}'",
            &[],
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("destinations_ordering_valid")
            || format!("{err:?}").contains("destinations_ordering_valid"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_disabled_ordered_destination_keeps_its_order_when_enabled() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let rx = TestReceiver::start().await;
    rx.set_default(Reply::Status(200));
    ordered_destination(&c, &rx, json!({"ordering": {}})).await;
    let api = TestApp::start(&db).await;
    let w = api.worker();
    // e1 is on its way (the lane's head) when the destination is disabled.
    publish(&c, "e1", json!({})).await;
    publish(&c, "e2", json!({})).await;
    deliveries_sequenced(&c).await;
    let path = "/api/v1/tenants/acme/destinations/d";
    assert_eq!(
        api.admin("PUT", &format!("{path}/disable"), None).await.0,
        200
    );
    for id in ["e3", "e4"] {
        publish(&c, id, json!({})).await;
    }
    let t0 = Utc::now();
    assert_eq!(w.run_once(t0).await.unwrap().accepted, 0, "held");
    assert_eq!(w.run_once(at(t0, 1)).await.unwrap().accepted, 0, "held");
    assert!(sent(&rx).is_empty());

    assert_eq!(
        api.admin("PUT", &format!("{path}/enable"), None).await.0,
        200
    );
    let mut second = 1;
    while w.run_once(at(t0, second)).await.unwrap().accepted > 0 {
        second += 1;
    }
    assert_eq!(second, 5, "one at a time");
    assert_eq!(sent(&rx), ["e1", "e2", "e3", "e4"]);
}

/// Runs the sequencing pass, as a worker does before it claims.
async fn deliveries_sequenced(c: &deadpool_postgres::Object) {
    c.execute("SELECT outbound.sequence_lanes()", &[])
        .await
        .unwrap();
}

#[tokio::test]
async fn a_replay_keeps_an_ordered_destinations_order() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let rx = TestReceiver::start().await;
    rx.set_default(Reply::Status(200));
    let policy = json!({"ordering": {"after_failure": "skip"}, "retry": {"max_retries": 0}});
    ordered_destination(&c, &rx, policy).await;
    let w = worker(&db, |_| {}).await;
    for id in ["e1", "e2", "e3"] {
        publish(&c, id, json!({})).await;
    }
    // The receiver is down: each is given up in turn.
    rx.script([Reply::Status(500), Reply::Status(500), Reply::Status(500)]);
    let t0 = Utc::now();
    for second in 0..3 {
        assert_eq!(w.run_once(at(t0, second)).await.unwrap().accepted, 1);
    }
    assert!(states(&c).await.is_empty());

    // Replayed: still one at a time, in order.
    let id: String = c
        .query_one(
            "SELECT (outbound.replay('acme', now() - interval '1 hour')).id",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    c.execute("SELECT outbound.replay_step('acme', $1)", &[&id])
        .await
        .unwrap();
    for second in 10..13 {
        assert_eq!(w.run_once(at(t0, second)).await.unwrap().accepted, 1);
    }
    assert_eq!(w.run_once(at(t0, 13)).await.unwrap().accepted, 0);
    assert_eq!(sent(&rx)[3..], ["e1", "e2", "e3"]);
}

#[tokio::test]
async fn a_failed_transformation_blocks_its_lane_like_any_last_failure() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let rx = TestReceiver::start().await;
    rx.set_default(Reply::Status(200));
    let transform = json!({"body": r#"if .data.bad then error("refused") else .data end"#});
    ordered_destination(&c, &rx, json!({"ordering": {}, "transform": transform})).await;
    let api = TestApp::start(&db).await;
    let w = api.worker();
    publish(&c, "e1", json!({"bad": true})).await;
    publish(&c, "e2", json!({"bad": false})).await;

    let t0 = Utc::now();
    assert_eq!(w.run_once(t0).await.unwrap().accepted, 1);
    assert_eq!(
        states(&c).await,
        [
            ("e1".into(), "blocked".into()),
            ("e2".into(), "waiting".into())
        ]
    );
    let code: String = c
        .query_one(
            "SELECT code FROM outbound.attempts WHERE event_id = 'e1'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(code, "transform_failed");
    assert!(sent(&rx).is_empty(), "nothing was sent for e1");

    let skip = json!({"event_id": "e1", "destination_id": "d"});
    assert_eq!(api.admin("POST", "/api/v1/skip", Some(skip)).await.0, 200);
    assert_eq!(w.run_once(at(t0, 1)).await.unwrap().accepted, 1);
    assert_eq!(sent(&rx), ["e2"]);
}
