//! Nothing lost when a destination fails: outages ride on the circuit
//! breaker and never disable a destination; one that stays down is
//! disabled, and what matches it meanwhile is held for it and delivered
//! (or discarded, when the tenant says so) on enable.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::helpers::app::{worker, TestApp};
use crate::helpers::db::TestDb;
use crate::helpers::eventually;
use crate::helpers::factory::{tenant, webhook};
use crate::helpers::receiver::{Reply, TestReceiver};

/// Publishes `n` events in one SQL statement, ids `<prefix>1` … `<prefix>n`.
async fn publish_batch(c: &deadpool_postgres::Object, prefix: &str, n: i32) {
    c.execute(
        "INSERT INTO outbound.events (id, tenant_id, topic, data)
         SELECT $1 || g, 'acme', 'user.created', json_build_object('n', g)
         FROM generate_series(1, $2) g",
        &[&prefix, &n],
    )
    .await
    .unwrap();
}

/// The distinct event ids a receiver got, and how often each came.
fn arrivals(rx: &TestReceiver) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for r in rx.requests() {
        if let Some(id) = r.header("x-outpost-event-id") {
            *seen.entry(id.to_string()).or_default() += 1;
        }
    }
    seen
}

/// What a destination went through while a test ran, polled every 50 ms.
#[derive(Debug, Default, Clone)]
struct Seen {
    ever_disabled: bool,
    ever_open: bool,
    closed_after_open: bool,
    max_failures: i32,
}

struct Watch {
    seen: Arc<std::sync::Mutex<Seen>>,
    stop: CancellationToken,
}

impl Watch {
    async fn start(db: &TestDb, destination: &str) -> Watch {
        let c = db.client().await;
        let seen: Arc<std::sync::Mutex<Seen>> = Arc::default();
        let stop = CancellationToken::new();
        let (s, st, id) = (seen.clone(), stop.clone(), destination.to_string());
        tokio::spawn(async move {
            while !st.is_cancelled() {
                let r = c
                    .query_one(
                        "SELECT disabled_at IS NOT NULL, circuit_open_until IS NOT NULL,
                                consecutive_failures
                         FROM outbound.destinations WHERE id = $1",
                        &[&id],
                    )
                    .await
                    .unwrap();
                let (disabled, open, failures): (bool, bool, i32) = (r.get(0), r.get(1), r.get(2));
                {
                    let mut s = s.lock().unwrap();
                    s.ever_disabled |= disabled;
                    s.closed_after_open |= s.ever_open && !open;
                    s.ever_open |= open;
                    s.max_failures = s.max_failures.max(failures);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        Watch { seen, stop }
    }

    fn stop(self) -> Seen {
        self.stop.cancel();
        self.seen.lock().unwrap().clone()
    }
}

/// The first retry of the default schedule comes 27-33 s after a failure
/// (`RETRY_INTERVAL_SECONDS` 30, jittered ±10 %): a backlog that drains
/// sooner than that after an outage was woken by the circuit breaker's
/// probe, not by its retry times.
const SOONER_THAN_A_RETRY: Duration = Duration::from_secs(25);

/// The black-box case: 40 events in one INSERT to a port that
/// refuses connections, then 20 events a second while it keeps refusing
/// for 15 s. With default settings nothing is disabled, and everything
/// arrives within seconds of the receiver coming back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_refusing_connections_for_15_s_gets_everything_with_default_settings() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let rx = TestReceiver::start().await;
    rx.down();
    let acme = tenant(&c, "acme").await;
    webhook(&c, &acme, "d", &["*"], &rx.url("/"), json!({"secret": "s"})).await;
    let cancel = CancellationToken::new();
    let running = tokio::spawn(worker(&db, |_| {}).await.run(cancel.clone()));
    let watch = Watch::start(&db, "d").await;

    publish_batch(&c, "burst", 40).await;
    let down_since = Instant::now();
    let mut total = 40;
    let mut round = 0;
    while down_since.elapsed() < Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        round += 1;
        publish_batch(&c, &format!("r{round}_"), 5).await;
        total += 5;
    }
    let refused: i64 = c
        .query_one(
            "SELECT count(*) FROM outbound.attempts WHERE code = 'connection_refused'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    rx.up().await;
    let back = Instant::now();
    let drained = eventually(SOONER_THAN_A_RETRY, || async {
        (arrivals(&rx).len() == total).then(|| back.elapsed())
    })
    .await;
    let seen = watch.stop();
    cancel.cancel();
    running.await.unwrap();
    let got = arrivals(&rx).len();
    let drained = drained.unwrap_or_else(|| {
        panic!("{got} of {total} events arrived within {SOONER_THAN_A_RETRY:?} of the receiver's return")
    });
    println!(
        "refusing 15 s: {total} events, {refused} refused attempts, all delivered {drained:?} \
         after the receiver came back; failure count peaked at {}",
        seen.max_failures
    );
    assert!(!seen.ever_disabled, "an outage of 15 s disables nothing");
    assert!(seen.ever_open, "the circuit opened");
    assert!(
        seen.max_failures < 20,
        "attempts in flight together or held by the breaker count once: {seen:?}"
    );
    let r = c
        .query_one(
            "SELECT consecutive_failures, circuit_open_until IS NULL, disabled_at IS NULL
             FROM outbound.destinations WHERE id = 'd'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (r.get::<_, i32>(0), r.get::<_, bool>(1), r.get::<_, bool>(2)),
        (0, true, true),
        "answered again: no streak, circuit closed, enabled"
    );
    // The breaker spares the receiver: most events were never tried while
    // it was down.
    assert!(
        refused < total as i64 / 2,
        "{refused} refused attempts for {total} events"
    );
}

/// A receiver that is up 2 s and down 2 s (connections refused, those
/// open cut mid-request) for a minute, under 100 events a second, with
/// default settings: every event arrives, the breaker opens and closes,
/// nothing is disabled, and every duplicate is a send that was cut after
/// the receiver had the request (at-least-once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flapping_receiver_gets_every_event_and_stays_enabled() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let rx = TestReceiver::start().await;
    // Answers take a moment, so that a cut finds requests in flight.
    rx.set_default(Reply::Delay(Duration::from_millis(20), 200));
    let acme = tenant(&c, "acme").await;
    webhook(&c, &acme, "d", &["*"], &rx.url("/"), json!({"secret": "s"})).await;
    let cancel = CancellationToken::new();
    let running = tokio::spawn(worker(&db, |_| {}).await.run(cancel.clone()));
    let watch = Watch::start(&db, "d").await;

    let flapping = {
        let rx = rx.clone();
        async move {
            let started = Instant::now();
            let mut up = true;
            while started.elapsed() < Duration::from_secs(60) {
                tokio::time::sleep(Duration::from_secs(2)).await;
                if up {
                    rx.down();
                } else {
                    rx.up().await;
                }
                up = !up;
            }
            if !up {
                rx.up().await;
            }
        }
    };
    let publishing = async {
        let started = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let mut total = 0;
        while started.elapsed() < Duration::from_secs(60) {
            tick.tick().await;
            total += 10;
            publish_batch(&c, &format!("t{total}_"), 10).await;
        }
        total as usize
    };
    let ((), total) = tokio::join!(flapping, publishing);
    let back = Instant::now();
    let drained = eventually(SOONER_THAN_A_RETRY * 2, || async {
        (arrivals(&rx).len() == total).then(|| back.elapsed())
    })
    .await;
    let seen = watch.stop();
    cancel.cancel();
    running.await.unwrap();
    let seen_ids = arrivals(&rx);
    let drained = drained.unwrap_or_else(|| {
        panic!(
            "{} of {total} events arrived within {:?} of the last flap",
            seen_ids.len(),
            SOONER_THAN_A_RETRY * 2
        )
    });
    assert!(!seen.ever_disabled, "a flapping receiver is never disabled");
    assert!(
        seen.ever_open && seen.closed_after_open,
        "the breaker opened and closed: {seen:?}"
    );
    // Each duplicate was sent again because a send of it got no answer
    // after the receiver had the request: the connection was cut.
    let duplicates: Vec<&String> = seen_ids
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| id)
        .collect();
    let cut: HashSet<String> = c
        .query(
            "SELECT DISTINCT event_id FROM outbound.attempts
             WHERE status = 'failed' AND code IN ('connection_reset', 'network_error', 'timeout')",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let unexplained: Vec<&&String> = duplicates.iter().filter(|id| !cut.contains(**id)).collect();
    assert!(
        unexplained.is_empty(),
        "duplicates without a send cut mid-flight: {unexplained:?}"
    );
    let attempts: i64 = c
        .query_one("SELECT count(*) FROM outbound.attempts", &[])
        .await
        .unwrap()
        .get(0);
    println!(
        "flapping 60 s: {total} events, {attempts} attempts, {} duplicates (all cut mid-flight), \
         failure count peaked at {}, drained {drained:?} after the last flap",
        duplicates.len(),
        seen.max_failures
    );
}

/// A destination that stays down longer than the auto-disable rule's span
/// is disabled, with the operator events Outpost sends; what is published
/// for it afterwards is held, counted in the API, and delivered on enable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_down_for_longer_than_the_rule_is_disabled_and_its_events_wait() {
    a_destination_down_for_longer_than_the_rule_is_disabled_and_its_events_wait_on(
        &TestDb::new().await,
    )
    .await;
}

/// The test above on `db` (one node's, or a Citus cluster's: tests/it/citus.rs).
pub(crate) async fn a_destination_down_for_longer_than_the_rule_is_disabled_and_its_events_wait_on(
    db: &TestDb,
) {
    let rx = TestReceiver::start().await;
    rx.down();
    let sink = TestReceiver::start().await;
    let api = TestApp::serving(db, |s| {
        s.delivery.disable_after_failures = 3;
        s.delivery.disable_min_failing = Duration::from_secs(3);
        s.operator_events.topics =
            outbound::domain::operator_event::OperatorTopics::parse(&["*"]).unwrap();
        s.operator_events.http_url = Some(sink.url("/ops"));
    })
    .await;
    api.admin("PUT", "/api/v1/tenants/acme", None).await;
    let (s, d) = api
        .admin(
            "POST",
            "/api/v1/tenants/acme/destinations",
            Some(json!({"id": "d", "type": "webhook", "topics": ["*"],
                        "config": {"url": rx.url("/")}})),
        )
        .await;
    assert_eq!(s, 201, "{d}");
    let c = db.client().await;

    // Down, and staying down: probes keep failing until the streak has
    // lasted 3 s and counted 3 failures.
    let mut published = 0;
    let disabled = eventually(Duration::from_secs(30), || {
        published += 1;
        let (c, id) = (&c, format!("before{published}_"));
        async move {
            publish_batch(c, &id, 2).await;
            let r = c
                .query_one(
                    "SELECT disabled_at IS NOT NULL, disabled_reason FROM outbound.destinations",
                    &[],
                )
                .await
                .unwrap();
            r.get::<_, bool>(0).then(|| r.get::<_, Option<String>>(1))
        }
    })
    .await
    .expect("disabled after staying down");
    assert_eq!(disabled.as_deref(), Some("consecutive_failures"));

    // Published while disabled: held for it, and the API says how many.
    publish_batch(&c, "while", 7).await;
    let (_, d) = api
        .admin("GET", "/api/v1/tenants/acme/destinations/d", None)
        .await;
    // (At least: sends of earlier events that were in flight at the
    // disable come back held too.)
    let held = d["held_events"].as_i64().unwrap();
    assert!(held >= 7, "{d}");
    let (_, list) = api
        .admin("GET", "/api/v1/tenants/acme/destinations", None)
        .await;
    assert!(list[0]["held_events"].as_i64().unwrap() >= held, "{list}");
    // ... and the operator's metrics.
    let (_, metrics) = api.admin("GET", "/metrics", None).await;
    let gauge = metrics
        .as_str()
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("outbound_queue_deliveries{state=\"held\"} "))
        .and_then(|v| v.trim().parse::<i64>().ok());
    assert!(gauge.is_some_and(|n| n >= 7), "held gauge: {gauge:?}");

    // The operator heard of it: the levels of the streak, then the disable.
    let topics = eventually(Duration::from_secs(20), || async {
        let topics: Vec<String> = sink
            .requests()
            .iter()
            .filter_map(|r| serde_json::from_slice::<Value>(&r.body).ok())
            .filter_map(|v| v["topic"].as_str().map(str::to_string))
            .collect();
        topics
            .iter()
            .any(|t| t == "alert.destination.disabled")
            .then_some(topics)
    })
    .await
    .expect("alert.destination.disabled reached the operator's sink");
    assert!(
        topics
            .iter()
            .any(|t| t == "alert.destination.consecutive_failure"),
        "{topics:?}"
    );

    // Back up and enabled: everything published, before and during the
    // disable, arrives.
    rx.up().await;
    let (s, d) = api
        .admin("PUT", "/api/v1/tenants/acme/destinations/d/enable", None)
        .await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["disabled_at"], Value::Null);
    assert_eq!(d["held_events"], 0);
    let total: i64 = c
        .query_one("SELECT count(*) FROM outbound.events", &[])
        .await
        .unwrap()
        .get(0);
    let all = eventually(Duration::from_secs(30), || async {
        (arrivals(&rx).len() as i64 == total).then_some(())
    })
    .await;
    assert!(
        all.is_some(),
        "{} of {total} events arrived after enabling",
        arrivals(&rx).len()
    );
}

/// Disable by hand, publish, then enable choosing to discard what waited:
/// nothing of it is sent, each gets a `discarded` attempt, and what is
/// published afterwards is delivered. A bad choice is a 400.
#[tokio::test]
async fn enabling_can_discard_what_was_held() {
    let db = TestDb::new().await;
    let rx = TestReceiver::start().await;
    let api = TestApp::start(&db).await;
    api.admin("PUT", "/api/v1/tenants/acme", None).await;
    let (s, _) = api
        .admin(
            "POST",
            "/api/v1/tenants/acme/destinations",
            Some(json!({"id": "d", "type": "webhook", "topics": ["*"],
                        "config": {"url": rx.url("/")}})),
        )
        .await;
    assert_eq!(s, 201);
    let c = db.client().await;
    let (s, d) = api
        .admin("PUT", "/api/v1/tenants/acme/destinations/d/disable", None)
        .await;
    assert_eq!((s, d["held_events"].clone()), (200, json!(0)));
    publish_batch(&c, "held", 5).await;
    let (_, d) = api
        .admin("GET", "/api/v1/tenants/acme/destinations/d", None)
        .await;
    assert_eq!(d["held_events"], 5);

    let (s, e) = api
        .admin(
            "PUT",
            "/api/v1/tenants/acme/destinations/d/enable?held=later",
            None,
        )
        .await;
    assert_eq!(s, 400, "{e}");
    assert!(e["message"].as_str().unwrap().contains("deliver"), "{e}");
    let (_, d) = api
        .admin("GET", "/api/v1/tenants/acme/destinations/d", None)
        .await;
    assert!(
        d["disabled_at"].is_string(),
        "a refused enable changes nothing"
    );

    let (s, d) = api
        .admin(
            "PUT",
            "/api/v1/tenants/acme/destinations/d/enable?held=discard",
            None,
        )
        .await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(
        (d["disabled_at"].clone(), d["held_events"].clone()),
        (Value::Null, json!(0))
    );
    let (s, page) = api
        .admin(
            "GET",
            "/api/v1/attempts?destination_id=d&include=response_data",
            None,
        )
        .await;
    assert_eq!(s, 200, "{page}");
    let codes: Vec<(String, String)> = page["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["status"].as_str().unwrap().to_string(),
                a["code"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(codes.len(), 5, "{page}");
    assert!(
        codes.iter().all(|(s, c)| s == "failed" && c == "discarded"),
        "{codes:?}"
    );
    let queued: i64 = c
        .query_one("SELECT count(*) FROM outbound.deliveries", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(queued, 0);

    // Enabled: what comes now is delivered; nothing discarded is sent.
    publish_batch(&c, "after", 2).await;
    api.worker().run_once(chrono::Utc::now()).await.unwrap();
    let ids: HashSet<String> = arrivals(&rx).into_keys().collect();
    assert_eq!(
        ids,
        HashSet::from(["after1".to_string(), "after2".to_string()])
    );
}

/// Enabling with plain SQL works too: the workers' sweep gives the held
/// deliveries of enabled destinations back to the queue within seconds.
#[tokio::test]
async fn a_destination_enabled_with_plain_sql_gets_what_was_held() {
    let db = TestDb::new().await;
    let rx = TestReceiver::start().await;
    let api = TestApp::start(&db).await;
    api.admin("PUT", "/api/v1/tenants/acme", None).await;
    let (s, _) = api
        .admin(
            "POST",
            "/api/v1/tenants/acme/destinations",
            Some(json!({"id": "d", "type": "webhook", "topics": ["*"],
                        "config": {"url": rx.url("/")}})),
        )
        .await;
    assert_eq!(s, 201);
    api.admin("PUT", "/api/v1/tenants/acme/destinations/d/disable", None)
        .await;
    let c = db.client().await;
    publish_batch(&c, "held", 3).await;
    let cancel = CancellationToken::new();
    let running = tokio::spawn(api.worker().clone().run(cancel.clone()));
    c.execute(
        "UPDATE outbound.destinations SET disabled_at = NULL, disabled_reason = NULL WHERE id = 'd'",
        &[],
    )
    .await
    .unwrap();
    let all = eventually(Duration::from_secs(15), || async {
        (arrivals(&rx).len() == 3).then_some(())
    })
    .await;
    cancel.cancel();
    running.await.unwrap();
    assert!(all.is_some(), "{} of 3 arrived", arrivals(&rx).len());
}
