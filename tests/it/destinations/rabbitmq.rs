//! RabbitMQ destinations end to end, against a real broker
//! (`helpers::rabbitmq`): what arrives, how failures are recorded and
//! retried, what is refused at create, and a broker restart mid-run.

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::helpers::app::{worker, TestApp};
use crate::helpers::db::TestDb;
use crate::helpers::eventually;
use crate::helpers::rabbitmq::{self, unique, Node, PASSWORD, USER};

/// The API with the example topic catalog (for `POST …/test`), and the
/// production delivery timeout: RabbitMQ answers a refused login only after
/// 3 s (its delay against password guessing), longer than the tests' usual
/// 2 s.
async fn api(db: &TestDb) -> TestApp {
    let api = TestApp::start_with(db, |s| {
        s.topics.catalog =
            Some(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/topics.yaml").into());
        s.delivery.timeout = Duration::from_secs(5);
        // One worker step sends all 20 of a destination's events.
        s.delivery.destination_concurrency = 32;
    })
    .await;
    api.admin("PUT", "/api/v1/tenants/acme", None).await;
    api
}

fn destination(id: &str, node: &Node, exchange: &str, password: &str) -> Value {
    json!({"id": id, "type": "rabbitmq", "topics": ["*"],
           "config": {"server_url": node.server_url(), "exchange": exchange, "tls": "false"},
           "credentials": {"username": USER, "password": password}})
}

async fn create(api: &TestApp, body: Value) -> Value {
    let (s, d) = api
        .admin("POST", "/api/v1/tenants/acme/destinations", Some(body))
        .await;
    assert_eq!(s, 201, "{d}");
    d
}

async fn publish(api: &TestApp, id: &str, topic: &str, data: Value, metadata: Value) {
    let (s, r) = api
        .admin(
            "POST",
            "/api/v1/publish",
            Some(json!({"id": id, "tenant_id": "acme", "topic": topic,
                        "data": data, "metadata": metadata})),
        )
        .await;
    assert_eq!(s, 202, "{r}");
}

/// The attempts of `destination`, oldest first, with response data.
async fn attempts(api: &TestApp, destination: &str) -> Vec<Value> {
    let (s, page) = api
        .admin(
            "GET",
            &format!("/api/v1/attempts?destination_id={destination}&include=response_data&dir=asc"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{page}");
    page["models"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn events_arrive_as_outpost_sends_them_confirmed_by_the_broker() {
    let node = rabbitmq::shared().await;
    let db = TestDb::new().await;
    let api = api(&db).await;
    let exchange = unique("events");
    let mut consumer = node.consumer(&exchange, false).await;
    let mut body = destination("d1", &node, &exchange, PASSWORD);
    body["delivery_metadata"] = json!({"region": "eu", "source": "destination"});
    let created = create(&api, body).await;
    assert_eq!(created["credentials"]["username"], USER);
    let masked = created["credentials"]["password"].as_str().unwrap();
    assert!(
        masked.contains('*') && !masked.contains(PASSWORD),
        "{masked}"
    );

    publish(
        &api,
        "evt_1",
        "user.created",
        json!({"user_id": "u1", "email": "ada@example.com"}),
        json!({"source": "event", "trace": "t-1"}),
    )
    .await;
    api.worker().run_once(Utc::now()).await.unwrap();

    let got = consumer.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert_eq!(m.exchange, exchange);
    assert_eq!(m.routing_key, "user.created");
    assert_eq!(m.body, br#"{"user_id":"u1","email":"ada@example.com"}"#);
    assert_eq!(m.content_type.as_deref(), Some("application/json"));
    assert_eq!(m.delivery_mode, Some(2), "persistent");
    let names: Vec<&str> = m.headers.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "event-id",
            "region",
            "source",
            "timestamp",
            "topic",
            "trace"
        ]
    );
    assert_eq!(m.header("event-id"), Some("evt_1"));
    assert_eq!(m.header("topic"), Some("user.created"));
    assert_eq!(m.header("region"), Some("eu"));
    assert_eq!(m.header("source"), Some("event"), "event metadata wins");
    assert_eq!(m.header("trace"), Some("t-1"));
    let ts = m.header("timestamp").unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "{ts}");

    let a = attempts(&api, "d1").await;
    assert_eq!(a.len(), 1);
    assert_eq!(a[0]["status"], "success");

    // "Test destination" publishes the catalog's sample to it.
    let (s, r) = api
        .admin(
            "POST",
            "/api/v1/tenants/acme/destinations/d1/test",
            Some(json!({"topic": "user.created"})),
        )
        .await;
    assert_eq!(s, 202, "{r}");
    api.worker().run_once(Utc::now()).await.unwrap();
    let got = consumer.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 2);
    let sample: Value = serde_json::from_slice(&got[1].body).unwrap();
    assert_eq!(sample["email"], "ada@example.com");
    assert_eq!(got[1].header("event-id"), r["id"].as_str());

    // The password stays masked in every answer.
    for path in [
        "/api/v1/tenants/acme/destinations/d1",
        "/api/v1/tenants/acme/destinations",
    ] {
        let (_, v) = api.admin("GET", path, None).await;
        assert!(!v.to_string().contains(PASSWORD), "{path}: {v}");
    }
}

#[tokio::test]
async fn a_wrong_password_is_auth_failed_and_retried_on_schedule() {
    let node = rabbitmq::shared().await;
    let db = TestDb::new().await;
    let api = api(&db).await;
    let exchange = unique("auth");
    let _consumer = node.consumer(&exchange, false).await;
    create(
        &api,
        destination("d1", &node, &exchange, "not-the-password"),
    )
    .await;
    publish(&api, "evt_1", "user.created", json!({}), json!({})).await;

    let t0 = Utc::now();
    assert_eq!(api.worker().run_once(t0).await.unwrap().accepted, 1);
    // The first retry is due 30 s ± jitter later.
    let later = t0 + chrono::Duration::seconds(40);
    assert_eq!(api.worker().run_once(later).await.unwrap().accepted, 1);

    let a = attempts(&api, "d1").await;
    assert_eq!(a.len(), 2, "{a:?}");
    for (n, attempt) in a.iter().enumerate() {
        assert_eq!(attempt["attempt_number"], n + 1);
        assert_eq!(attempt["status"], "failed");
        assert_eq!(attempt["code"], "auth_failed", "{attempt}");
        let data = &attempt["response_data"];
        assert_eq!(data["error"], "auth_failed");
        let message = data["message"].as_str().unwrap();
        assert!(message.contains("username and password"), "{message}");
        assert!(!message.contains("not-the-password"), "{message}");
    }
}

#[tokio::test]
async fn a_missing_exchange_fails_only_its_own_destination() {
    let node = rabbitmq::shared().await;
    let db = TestDb::new().await;
    let api = api(&db).await;
    let exchange = unique("present");
    let missing = unique("missing");
    let mut consumer = node.consumer(&exchange, false).await;
    // One login, two exchanges: the broker closes the channel of the
    // missing one; the other destination's messages are unaffected.
    create(&api, destination("good", &node, &exchange, PASSWORD)).await;
    create(&api, destination("bad", &node, &missing, PASSWORD)).await;
    for i in 0..20 {
        publish(
            &api,
            &format!("evt_{i}"),
            "user.created",
            json!({"i": i}),
            json!({}),
        )
        .await;
    }
    api.worker().run_once(Utc::now()).await.unwrap();

    assert_eq!(
        consumer.wait_for(20, Duration::from_secs(10)).await.len(),
        20
    );
    let good = attempts(&api, "good").await;
    assert_eq!(good.len(), 20);
    assert!(good.iter().all(|a| a["status"] == "success"), "{good:?}");
    let bad = attempts(&api, "bad").await;
    assert_eq!(bad.len(), 20);
    for a in &bad {
        assert_eq!(a["code"], "exchange_not_found", "{a}");
        let message = a["response_data"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("no exchange '{missing}'")),
            "{message}"
        );
    }
}

#[tokio::test]
async fn unreachable_brokers_and_tls_mismatches_get_their_codes() {
    let node = rabbitmq::shared().await;
    let db = TestDb::new().await;
    let api = api(&db).await;
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut down = destination("down", &node, "x", PASSWORD);
    down["config"]["server_url"] = json!(format!("127.0.0.1:{closed_port}"));
    create(&api, down).await;
    // TLS to the broker's plain AMQP port: the handshake fails.
    let mut tls = destination("tls", &node, "x", PASSWORD);
    tls["config"]["tls"] = json!("on");
    create(&api, tls).await;
    publish(&api, "evt_1", "user.created", json!({}), json!({})).await;
    api.worker().run_once(Utc::now()).await.unwrap();

    // The first retry is due 30 s ± jitter later.
    api.worker()
        .run_once(Utc::now() + chrono::Duration::seconds(40))
        .await
        .unwrap();

    let down = attempts(&api, "down").await;
    assert_eq!(down.len(), 2, "retried: {down:?}");
    for a in &down {
        assert_eq!(a["status"], "failed");
        assert_eq!(a["code"], "connection_refused", "{a}");
        assert_eq!(a["response_data"]["error"], "connection_refused");
        let message = a["response_data"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("127.0.0.1:{closed_port}"))
                && message.contains("connection refused"),
            "{message}"
        );
    }
    let tls = attempts(&api, "tls").await;
    assert_eq!(tls.len(), 2, "retried: {tls:?}");
    assert_eq!(tls[0]["code"], "tls_error", "{tls:?}");
    assert!(tls[0]["response_data"]["message"].as_str().unwrap().len() > 20);
}

#[tokio::test]
async fn blocked_addresses_are_refused_at_create_and_at_send() {
    let node = rabbitmq::shared().await;
    let db = TestDb::new().await;
    let strict = TestApp::start_with(&db, |s| s.delivery.allowed_networks = vec![]).await;
    strict.admin("PUT", "/api/v1/tenants/acme", None).await;
    for server_url in [
        "127.0.0.1:5672",
        "localhost:5672",
        "[::1]:5672",
        "169.254.169.254:5672",
    ] {
        let mut body = destination("d", &node, "x", PASSWORD);
        body["config"]["server_url"] = json!(server_url);
        let (s, e) = strict
            .admin("POST", "/api/v1/tenants/acme/destinations", Some(body))
            .await;
        assert_eq!(s, 422, "{server_url}: {e}");
        assert!(e.to_string().contains("config.server_url"), "{e}");
    }
    // Created where loopback is allowed, sent by a worker where it is not:
    // the address is vetted again at connect time.
    let open = api(&db).await;
    create(&open, destination("d1", &node, "x", PASSWORD)).await;
    publish(&open, "evt_1", "user.created", json!({}), json!({})).await;
    let w = worker(&db, |s| s.delivery.allowed_networks = vec![]).await;
    w.run_once(Utc::now()).await.unwrap();
    let a = attempts(&open, "d1").await;
    assert_eq!(a[0]["code"], "blocked_address", "{a:?}");
}

#[tokio::test]
async fn bad_settings_are_refused_with_a_422_naming_the_field() {
    let db = TestDb::new().await;
    let api = api(&db).await;
    let base = json!({"type": "rabbitmq", "topics": ["*"],
                      "config": {"server_url": "127.0.0.1:5672", "exchange": "e"},
                      "credentials": {"username": "u", "password": "p"}});
    let with = |path: &[&str], value: Value| {
        let mut b = base.clone();
        let mut v = &mut b;
        for p in &path[..path.len() - 1] {
            v = &mut v[*p];
        }
        v[path[path.len() - 1]] = value;
        b
    };
    for (body, field) in [
        (
            with(&["config", "server_url"], json!("amqp://127.0.0.1:5672")),
            "config.server_url",
        ),
        (
            with(&["config", "server_url"], json!("u:p@127.0.0.1:5672")),
            "config.server_url",
        ),
        (
            with(&["config", "server_url"], json!("127.0.0.1:0")),
            "config.server_url",
        ),
        (
            with(&["config", "server_url"], json!("127.0.0.1:5672/")),
            "config.server_url",
        ),
        (
            with(&["config", "server_url"], json!("::1:5672")),
            "config.server_url",
        ),
        (
            with(
                &["config", "server_url"],
                json!("127.0.0.1:5672?heartbeat=1"),
            ),
            "config.server_url",
        ),
        (
            with(&["config", "server_url"], json!("rabbit mq:5672")),
            "config.server_url",
        ),
        (
            with(&["config", "exchange"], json!("e".repeat(256))),
            "config.exchange",
        ),
        (with(&["config", "tls"], json!("yes")), "config.tls"),
        (
            with(&["credentials", "password"], json!("a\u{0}b")),
            "credentials.password",
        ),
        (
            with(&["credentials"], json!({"password": "p"})),
            "credentials.username",
        ),
    ] {
        let (s, e) = api
            .admin(
                "POST",
                "/api/v1/tenants/acme/destinations",
                Some(body.clone()),
            )
            .await;
        assert_eq!(s, 422, "{body}: {e}");
        assert!(e.to_string().contains(field), "{field}: {e}");
    }
    // What Outpost's client also accepted: no port, and a virtual host.
    for server_url in ["127.0.0.1", "127.0.0.1:5672/orders"] {
        let body = with(&["config", "server_url"], json!(server_url));
        let (s, e) = api
            .admin("POST", "/api/v1/tenants/acme/destinations", Some(body))
            .await;
        assert_eq!(s, 201, "{server_url}: {e}");
    }
}

/// Publishes events while the broker is stopped and started again: every
/// one arrives, duplicates only among those in flight at the stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_mid_run_loses_nothing() {
    const EVENTS: usize = 300;
    let node = rabbitmq::exclusive().await;
    let db = TestDb::new().await;
    let api = TestApp::start_with(&db, |s| {
        // Retries every 0.5 s for two minutes: the broker is down for the
        // time it takes to stop and start (seconds), and none may run out.
        s.delivery.retry_schedule = Some(vec![Duration::from_millis(500); 240]);
        s.delivery.disable_after_failures = 0;
    })
    .await;
    api.admin("PUT", "/api/v1/tenants/acme", None).await;
    let exchange = unique("restart");
    // Durable exchange and queue: they, and the persistent messages in
    // the queue, outlive the restart.
    drop(node.consumer(&exchange, true).await);
    create(&api, destination("d1", &node, &exchange, PASSWORD)).await;

    let cancel = CancellationToken::new();
    let running = tokio::spawn(api.worker().clone().run(cancel.clone()));
    let c = db.client().await;
    let publishing = async {
        for i in 0..EVENTS {
            publish(
                &api,
                &format!("evt_{i:04}"),
                "user.created",
                json!({"i": i}),
                json!({}),
            )
            .await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    // Once some have been delivered, stop the broker while the rest flow.
    let restarting = async {
        eventually(Duration::from_secs(30), || async {
            let n: i64 = c
                .query_one(
                    "SELECT count(*) FROM outbound.attempts WHERE status = 'success'",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            (n >= 50).then_some(())
        })
        .await
        .expect("deliveries before the restart");
        node.stop_broker().await;
        node.start_broker().await;
    };
    tokio::join!(publishing, restarting);
    let done = eventually(Duration::from_secs(120), || async {
        let left: i64 = c
            .query_one("SELECT count(*) FROM outbound.deliveries", &[])
            .await
            .unwrap()
            .get(0);
        (left == 0).then_some(())
    })
    .await;
    cancel.cancel();
    running.await.unwrap();
    assert!(done.is_some(), "every delivery finished");
    let failed: i64 = c
        .query_one(
            "SELECT count(*) FROM outbound.attempts WHERE status = 'failed'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        failed > 0,
        "the restart failed some attempts, which were retried"
    );

    let mut consumer = node.consumer(&exchange, true).await;
    consumer.wait_for(EVENTS, Duration::from_secs(10)).await;
    // Then any duplicates, which are already queued.
    let got = consumer
        .wait_for(EVENTS * 2, Duration::from_millis(300))
        .await;
    let mut seen: HashMap<String, usize> = HashMap::new();
    for m in &got {
        *seen
            .entry(m.header("event-id").unwrap_or("").to_string())
            .or_default() += 1;
    }
    let missing: Vec<String> = (0..EVENTS)
        .map(|i| format!("evt_{i:04}"))
        .filter(|id| !seen.contains_key(id))
        .collect();
    assert!(missing.is_empty(), "never arrived: {missing:?}");
    let duplicates = got.len() - EVENTS;
    // At most the sends in flight when the broker stopped (DELIVERY_CONCURRENCY).
    assert!(duplicates <= 64, "{duplicates} duplicates");
}

/// The issue that made auto-disable measure time: with default settings,
/// 1,500 events published by SQL in 50-row statements, and the broker
/// stopped for 5 s mid-flow. The first batch after the stop fails all at
/// once; that is one failure of the destination, not fifty, so nothing is
/// disabled, the breaker holds the rest, and every event arrives soon after
/// the broker is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_stopped_for_5_s_under_load_loses_nothing_with_default_settings() {
    const STATEMENTS: i32 = 30;
    const ROWS: i32 = 50;
    let node = rabbitmq::exclusive().await;
    let db = TestDb::new().await;
    let api = TestApp::start_with(&db, |_| {}).await;
    api.admin("PUT", "/api/v1/tenants/acme", None).await;
    let exchange = unique("outage");
    // Durable exchange and queue: they, and the persistent messages in
    // the queue, outlive the stop.
    drop(node.consumer(&exchange, true).await);
    create(&api, destination("d1", &node, &exchange, PASSWORD)).await;

    let cancel = CancellationToken::new();
    let running = tokio::spawn(api.worker().clone().run(cancel.clone()));
    let c = db.client().await;
    let publishing = async {
        for s in 0..STATEMENTS {
            c.execute(
                "INSERT INTO outbound.events (id, tenant_id, topic, data)
                 SELECT 'evt_' || lpad(($1 * $2 + g)::text, 4, '0'), 'acme', 'user.created',
                        json_build_object('i', $1 * $2 + g)
                 FROM generate_series(1, $2) g",
                &[&s, &ROWS],
            )
            .await
            .unwrap();
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    };
    let outage = async {
        tokio::time::sleep(Duration::from_secs(4)).await;
        node.stop_broker().await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        node.start_broker().await;
        std::time::Instant::now()
    };
    let ((), back) = tokio::join!(publishing, outage);
    let drained = eventually(Duration::from_secs(25), || async {
        let left: i64 = c
            .query_one("SELECT count(*) FROM outbound.deliveries", &[])
            .await
            .unwrap()
            .get(0);
        (left == 0).then(|| back.elapsed())
    })
    .await;
    cancel.cancel();
    running.await.unwrap();
    let r = c
        .query_one(
            "SELECT disabled_at IS NULL, consecutive_failures,
                    (SELECT count(*) FROM outbound.attempts WHERE status = 'failed')
             FROM outbound.destinations WHERE id = 'd1'",
            &[],
        )
        .await
        .unwrap();
    let (enabled, failures, failed): (bool, i32, i64) = (r.get(0), r.get(1), r.get(2));
    assert!(enabled, "a 5 s outage disables nothing");
    assert_eq!(failures, 0, "delivering again ended the streak");
    assert!(failed > 0, "the stop failed some attempts");
    let drained = drained.expect("every delivery finished within 25 s of the broker's return");

    let total = (STATEMENTS * ROWS) as usize;
    let mut consumer = node.consumer(&exchange, true).await;
    consumer.wait_for(total, Duration::from_secs(10)).await;
    // Then any duplicates, which are already queued.
    let got = consumer
        .wait_for(total * 2, Duration::from_millis(300))
        .await;
    let mut seen: HashMap<String, usize> = HashMap::new();
    for m in &got {
        *seen
            .entry(m.header("event-id").unwrap_or("").to_string())
            .or_default() += 1;
    }
    let missing = (1..=total)
        .map(|i| format!("evt_{i:04}"))
        .filter(|id| !seen.contains_key(id))
        .count();
    assert_eq!(missing, 0, "{} of {total} arrived", seen.len());
    println!(
        "broker stopped 5 s: {total}/{total} delivered, {failed} failed attempts, {} duplicates, \
         drained {drained:?} after the broker was back",
        got.len() - total
    );
}
