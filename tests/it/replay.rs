//! Bulk replay ("recover", V28): the events of a time range queued again
//! after an outage, by time, failed-only or not, by topic; its progress,
//! its cancel, and that no replay queues a delivery twice.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use outbound::delivery::replays::Replayer;
use serde_json::{json, Value};

use crate::helpers::app::TestApp;
use crate::helpers::db::TestDb;
use crate::helpers::eventually;
use crate::helpers::factory::{self, tenant, webhook};
use crate::helpers::receiver::{Reply, TestReceiver};

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Midnight UTC today, and the start of yesterday.
fn today() -> DateTime<Utc> {
    Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
}

fn yesterday() -> DateTime<Utc> {
    today() - chrono::Duration::days(1)
}

/// Publishes `n` events of `topic` in one statement, ids `<prefix>1` …
/// `<prefix>n`, spread evenly over [from, from + span).
async fn publish(
    c: &deadpool_postgres::Object,
    prefix: &str,
    n: i32,
    topic: &str,
    from: DateTime<Utc>,
    span: Duration,
) {
    let step_ms = span.as_millis() as f64 / f64::from(n);
    c.execute(
        "INSERT INTO outbound.events (id, tenant_id, topic, data, time)
         SELECT $1 || g, 'acme', $3, json_build_object('n', g),
                $4::timestamptz + (g - 1) * $5::float8 * interval '1 millisecond'
         FROM generate_series(1, $2) g",
        &[&prefix, &n, &topic, &from, &step_ms],
    )
    .await
    .unwrap();
}

/// What a long outage leaves behind for the events `<prefix>…` at
/// `destination`: their deliveries ended, each after `tries` attempts
/// refused by the receiver, and nothing of them queued any more.
async fn failed_history(
    c: &deadpool_postgres::Object,
    destination: &str,
    prefix: &str,
    tries: i32,
) {
    c.execute(
        "WITH gone AS (
             DELETE FROM outbound.deliveries
             WHERE tenant_id = 'acme' AND destination_id = $1 AND starts_with(event_id, $2)
             RETURNING tenant_id, event_id, event_time, destination_id)
         INSERT INTO outbound.attempts (tenant_id, event_id, event_time, destination_id,
                                        attempt_number, status, code, duration_ms, time)
         SELECT g.tenant_id, g.event_id, g.event_time, g.destination_id, k, 'failed',
                'connection_refused', 1, g.event_time + k * interval '1 second'
         FROM gone g, generate_series(1, $3) k",
        &[&destination, &prefix, &tries],
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

/// A tenant `acme` with a webhook `d` to a receiver; the API (no worker
/// loop: tests step the worker and the replayer); one attempt per delivery
/// (`MAX_RETRY_LIMIT=0`) unless a test says otherwise.
struct Setup {
    db: TestDb,
    api: TestApp,
    rx: TestReceiver,
    replayer: Replayer,
}

async fn setup() -> Setup {
    let db = TestDb::new().await;
    let rx = TestReceiver::start().await;
    let c = db.client().await;
    let acme = tenant(&c, "acme").await;
    webhook(
        &c,
        &acme,
        "d",
        &["*"],
        &rx.url("/d"),
        json!({"secret": "s"}),
    )
    .await;
    let api = TestApp::start_with(&db, |s| {
        s.delivery.max_retry_limit = 0;
        s.topics.allow_wildcards = true;
    })
    .await;
    let replayer = Replayer::new(db.pool.clone(), None);
    Setup {
        db,
        api,
        rx,
        replayer,
    }
}

impl Setup {
    /// Sends everything due until nothing is left; returns how many attempts.
    async fn deliver(&self) -> usize {
        let mut total = 0;
        loop {
            let n = self
                .api
                .worker()
                .run_once(Utc::now())
                .await
                .unwrap()
                .accepted;
            if n == 0 {
                return total;
            }
            total += n;
        }
    }

    async fn start(&self, body: Value) -> Value {
        let (s, replay) = self
            .api
            .admin("POST", "/api/v1/tenants/acme/replays", Some(body))
            .await;
        assert_eq!(s, 202, "{replay}");
        assert_eq!(replay["state"], "running", "{replay}");
        replay
    }

    async fn get(&self, replay: &Value) -> Value {
        let id = replay["id"].as_str().unwrap();
        let (s, r) = self
            .api
            .admin("GET", &format!("/api/v1/tenants/acme/replays/{id}"), None)
            .await;
        assert_eq!(s, 200, "{r}");
        r
    }

    /// Steps the replays and delivers what they queue until `replay`
    /// finishes; returns it.
    async fn run(&self, replay: &Value) -> Value {
        for _ in 0..100 {
            self.replayer.run_once(None).await.unwrap();
            self.deliver().await;
            let r = self.get(replay).await;
            if r["state"] != "running" {
                return r;
            }
        }
        panic!("the replay did not finish: {}", self.get(replay).await);
    }

    async fn count(&self, sql: &str) -> i64 {
        factory::count(&self.db.client().await, sql).await
    }
}

/// The issue's case: a day-long outage left 10,000 events of yesterday
/// failed; the receiver is back, and a replay of yesterday sends each of
/// them once, and nothing else: not today's failures, not yesterday's
/// successes. The service runs as `serve` does (worker and replayer loops).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_failed_events_of_yesterday_are_delivered_once_after_the_receiver_recovers() {
    let db = TestDb::new().await;
    let rx = TestReceiver::start().await;
    let c = db.client().await;
    let acme = tenant(&c, "acme").await;
    webhook(
        &c,
        &acme,
        "d",
        &["*"],
        &rx.url("/d"),
        json!({"secret": "s"}),
    )
    .await;
    let day = Duration::from_secs(86_400);
    publish(&c, "y", 10_000, "user.created", yesterday(), day).await;
    failed_history(&c, "d", "y", 3).await;
    // Yesterday's successes, and today's failures (outside the range).
    publish(&c, "ok", 50, "user.created", yesterday(), day).await;
    c.execute(
        "WITH gone AS (DELETE FROM outbound.deliveries WHERE starts_with(event_id, 'ok')
                       RETURNING tenant_id, event_id, event_time, destination_id)
         INSERT INTO outbound.attempts (tenant_id, event_id, event_time, destination_id,
                                        attempt_number, status, code, duration_ms, time)
         SELECT tenant_id, event_id, event_time, destination_id, 1, 'success', '200', 1,
                event_time
         FROM gone",
        &[],
    )
    .await
    .unwrap();
    publish(
        &c,
        "t",
        100,
        "user.created",
        today(),
        Duration::from_secs(60),
    )
    .await;
    failed_history(&c, "d", "t", 1).await;
    assert_eq!(
        c.query_one("SELECT count(*) FROM outbound.deliveries", &[])
            .await
            .unwrap()
            .get::<_, i64>(0),
        0
    );

    let api = TestApp::serving(&db, |_| {}).await;
    let started = Instant::now();
    let (s, replay) = api
        .admin(
            "POST",
            "/api/v1/tenants/acme/replays",
            Some(json!({"start": rfc3339(yesterday()), "end": rfc3339(today())})),
        )
        .await;
    assert_eq!(s, 202, "{replay}");
    let path = format!(
        "/api/v1/tenants/acme/replays/{}",
        replay["id"].as_str().unwrap()
    );
    let done = eventually(Duration::from_secs(120), || async {
        let (_, r) = api.admin("GET", &path, None).await;
        (r["state"] != "running" && arrivals(&rx).len() >= 10_000).then_some(r)
    })
    .await;
    let got = arrivals(&rx);
    let done = done.unwrap_or_else(|| {
        panic!(
            "{} of 10,000 events arrived within 120 s of the replay",
            got.len()
        )
    });
    println!(
        "replayed 10,000 failed events of yesterday in {:?}",
        started.elapsed()
    );
    assert_eq!(done["state"], "finished", "{done}");
    assert_eq!(done["events_scanned"], 10_050, "{done}");
    assert_eq!(done["deliveries_queued"], 10_000, "{done}");
    assert_eq!(done["deliveries_skipped"], 0, "{done}");
    assert_eq!(done["progress"], 1.0, "{done}");
    assert_eq!(got.len(), 10_000);
    assert!(
        got.keys().all(|id| id.starts_with('y')),
        "only yesterday's failures"
    );
    let twice: Vec<_> = got.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    // Each as a fourth attempt, asked for by a person, delivered.
    let replayed = c
        .query_one(
            "SELECT count(*) FROM outbound.attempts
             WHERE starts_with(event_id, 'y') AND attempt_number = 4 AND manual
               AND status = 'success'",
            &[],
        )
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert_eq!(replayed, 10_000);
}

/// Failed-only is the default: what was delivered is left alone, and is
/// sent again only when the replay asks for successes too.
#[tokio::test]
async fn a_replay_sends_failures_and_successes_only_when_asked() {
    let t = setup().await;
    let c = t.db.client().await;
    let from = Utc::now() - chrono::Duration::hours(1);
    publish(&c, "e", 10, "user.created", from, Duration::from_secs(600)).await;
    // Every other event fails (the receiver answers 503 to the odd ones).
    t.rx.script((1..=10).map(|n| Reply::Status(if n % 2 == 1 { 503 } else { 200 })));
    assert_eq!(t.deliver().await, 10);
    let failed: Vec<String> = c
        .query(
            "SELECT event_id FROM outbound.attempts WHERE status = 'failed' ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(failed.len(), 5);
    let before = t.rx.count();

    let replay = t.start(json!({"start": rfc3339(from)})).await;
    assert_eq!(replay["failed_only"], true);
    let done = t.run(&replay).await;
    assert_eq!(done["state"], "finished", "{done}");
    assert_eq!(done["events_scanned"], 10);
    assert_eq!(done["deliveries_queued"], 5);
    let again: Vec<String> = t.rx.requests()[before..]
        .iter()
        .map(|r| r.header("x-outpost-event-id").unwrap().to_string())
        .collect();
    let mut sorted = again.clone();
    sorted.sort();
    assert_eq!(sorted, failed, "only the failures, each once");

    // Now everything was delivered: a failed-only replay has nothing to do,
    let replay = t.start(json!({"start": rfc3339(from)})).await;
    let done = t.run(&replay).await;
    assert_eq!(
        (
            done["events_scanned"].as_i64(),
            done["deliveries_queued"].as_i64()
        ),
        (Some(10), Some(0))
    );
    // and one that asks for successes sends all ten again.
    let before = t.rx.count();
    let replay = t
        .start(json!({"start": rfc3339(from), "failed_only": false}))
        .await;
    let done = t.run(&replay).await;
    assert_eq!(done["deliveries_queued"], 10);
    assert_eq!(t.rx.count() - before, 10);
}

/// Only the topics asked for (names or patterns), only within the range,
/// only to the destination asked for, and only to destinations that still
/// take the event.
#[tokio::test]
async fn a_replay_keeps_to_its_range_topics_and_destination() {
    let t = setup().await;
    let c = t.db.client().await;
    let acme = outbound::domain::ids::TenantId::parse("acme").unwrap();
    webhook(
        &c,
        &acme,
        "d2",
        &["user.*"],
        &t.rx.url("/d2"),
        json!({"secret": "s"}),
    )
    .await;
    let from = Utc::now() - chrono::Duration::hours(3);
    let hour = Duration::from_secs(3600);
    publish(&c, "u", 4, "user.created", from, hour).await;
    publish(&c, "o", 4, "order.paid", from, hour).await;
    publish(
        &c,
        "late",
        4,
        "user.created",
        from + chrono::Duration::hours(2),
        hour,
    )
    .await;
    t.rx.set_default(Reply::Status(500));
    t.deliver().await;
    t.rx.set_default(Reply::Status(200));
    let sent = |path: &'static str| {
        let rx = &t.rx;
        move |from: usize| -> Vec<String> {
            let mut ids: Vec<String> = rx.requests()[from..]
                .iter()
                .filter(|r| r.path == path)
                .map(|r| r.header("x-outpost-event-id").unwrap().to_string())
                .collect();
            ids.sort();
            ids
        }
    };

    // user.* within the first hour, to every destination: u1..u4 to both.
    let before = t.rx.count();
    let replay = t
        .start(
            json!({"start": rfc3339(from), "end": rfc3339(from + chrono::Duration::hours(1)),
                      "topics": ["user.*"]}),
        )
        .await;
    assert_eq!(replay["topics"], json!(["user.*"]));
    let done = t.run(&replay).await;
    assert_eq!(done["events_scanned"], 4, "{done}");
    assert_eq!(done["deliveries_queued"], 8, "{done}");
    assert_eq!(sent("/d")(before), ["u1", "u2", "u3", "u4"]);
    assert_eq!(sent("/d2")(before), ["u1", "u2", "u3", "u4"]);

    // order.paid, named, to d only: d2 never had them anyway.
    let before = t.rx.count();
    let replay = t
        .start(json!({"start": rfc3339(from), "destination_id": "d", "topics": ["order.paid"]}))
        .await;
    t.run(&replay).await;
    assert_eq!(sent("/d")(before), ["o1", "o2", "o3", "o4"]);
    assert!(sent("/d2")(before).is_empty());

    // A destination that no longer subscribes to the topic does not get it.
    let (s, _) = t
        .api
        .admin(
            "PATCH",
            "/api/v1/tenants/acme/destinations/d2",
            Some(json!({"topics": ["billing.*"]})),
        )
        .await;
    assert_eq!(s, 200);
    let before = t.rx.count();
    let replay = t.start(json!({"start": rfc3339(from)})).await;
    let done = t.run(&replay).await;
    assert!(sent("/d2")(before).is_empty());
    assert_eq!(
        sent("/d")(before),
        ["late1", "late2", "late3", "late4"],
        "only what still failed at d: {done}"
    );
}

/// A replay reports how far it got while it runs, paced by its
/// destination: it queues another batch only once fewer than a batch of
/// what it queued wait for a first attempt.
#[tokio::test]
async fn a_replay_reports_its_progress_and_follows_the_deliveries() {
    let t = setup().await;
    let c = t.db.client().await;
    let from = Utc::now() - chrono::Duration::hours(2);
    publish(
        &c,
        "e",
        1200,
        "user.created",
        from,
        Duration::from_secs(3600),
    )
    .await;
    failed_history(&c, "d", "e", 1).await;

    let replay = t
        .start(json!({"start": rfc3339(from), "end": rfc3339(from + chrono::Duration::hours(1))}))
        .await;
    assert_eq!(replay["progress"], 0.0);
    assert_eq!(replay["requested_by"], "admin");
    // First step: one batch of 500, waiting for the workers.
    t.replayer.run_once(None).await.unwrap();
    let r = t.get(&replay).await;
    assert_eq!(
        (
            r["events_scanned"].as_i64(),
            r["deliveries_queued"].as_i64()
        ),
        (Some(500), Some(500))
    );
    assert_eq!(r["deliveries_waiting"], 500);
    let progress = r["progress"].as_f64().unwrap();
    assert!((0.4..0.45).contains(&progress), "{r}");
    // Nothing more while those wait.
    t.replayer.run_once(None).await.unwrap();
    assert_eq!(t.get(&replay).await["events_scanned"], 500);
    assert_eq!(
        t.count("SELECT count(*) FROM outbound.deliveries").await,
        500
    );
    // Sent: the next batch goes, then the last.
    t.deliver().await;
    t.replayer.run_once(None).await.unwrap();
    assert_eq!(t.get(&replay).await["events_scanned"], 1000);
    t.deliver().await;
    t.replayer.run_once(None).await.unwrap();
    let r = t.get(&replay).await;
    assert_eq!(r["events_scanned"], 1200);
    assert_eq!(r["progress"], 1.0);
    assert_eq!(r["state"], "running", "what it queued is still to be sent");
    t.deliver().await;
    t.replayer.run_once(None).await.unwrap();
    let r = t.get(&replay).await;
    assert_eq!(r["state"], "finished", "{r}");
    assert_eq!(r["deliveries_waiting"], 0);
    assert!(r["finished_at"].is_string());
    assert_eq!(arrivals(&t.rx).len(), 1200);

    // The list has it, newest first.
    let (s, list) = t
        .api
        .admin("GET", "/api/v1/tenants/acme/replays", None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(list[0]["id"], replay["id"]);
}

/// Cancel: nothing more is queued, and what was queued and not sent yet is
/// taken back, leaving those deliveries failed as they were.
#[tokio::test]
async fn a_cancelled_replay_queues_nothing_more_and_takes_back_what_was_not_sent() {
    let t = setup().await;
    let c = t.db.client().await;
    let from = Utc::now() - chrono::Duration::hours(2);
    publish(
        &c,
        "e",
        1200,
        "user.created",
        from,
        Duration::from_secs(3600),
    )
    .await;
    failed_history(&c, "d", "e", 2).await;
    let replay = t.start(json!({"start": rfc3339(from)})).await;
    let id = replay["id"].as_str().unwrap();
    t.replayer.run_once(None).await.unwrap();
    assert_eq!(
        t.count("SELECT count(*) FROM outbound.deliveries").await,
        500
    );

    let (s, cancelled) = t
        .api
        .admin(
            "POST",
            &format!("/api/v1/tenants/acme/replays/{id}/cancel"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{cancelled}");
    assert_eq!(cancelled["state"], "cancelled");
    assert_eq!(cancelled["deliveries_cancelled"], 500);
    assert!(cancelled["finished_at"].is_string());
    assert_eq!(t.count("SELECT count(*) FROM outbound.deliveries").await, 0);
    // Stepping and delivering send nothing of it.
    t.replayer.run_once(None).await.unwrap();
    assert_eq!(t.deliver().await, 0);
    assert_eq!(t.rx.count(), 0);
    let r = t.get(&replay).await;
    assert_eq!(r["state"], "cancelled");
    assert_eq!(r["events_scanned"], 500);
    // The events are as the outage left them: last attempt failed, so a
    // later replay finds them all.
    assert_eq!(
        t.count(
            "SELECT count(*) FROM outbound.attempts WHERE attempt_number = 2 AND status = 'failed'"
        )
        .await,
        1200
    );
    // Cancelling again answers the same; a finished replay cannot be.
    let (s, again) = t
        .api
        .admin(
            "POST",
            &format!("/api/v1/tenants/acme/replays/{id}/cancel"),
            None,
        )
        .await;
    assert_eq!((s, &again["state"]), (200, &json!("cancelled")));
    let other = t
        .start(json!({"start": rfc3339(Utc::now() - chrono::Duration::minutes(1))}))
        .await;
    let done = t.run(&other).await;
    assert_eq!(done["state"], "finished");
    let (s, refused) = t
        .api
        .admin(
            "POST",
            &format!(
                "/api/v1/tenants/acme/replays/{}/cancel",
                other["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(s, 409, "{refused}");
}

/// A delivery being sent when the replay is cancelled is not retried: the
/// next step takes it back once its failure is recorded.
#[tokio::test]
async fn a_send_in_flight_at_the_cancel_is_not_retried() {
    let t = setup().await;
    let c = t.db.client().await;
    let from = Utc::now() - chrono::Duration::hours(1);
    publish(&c, "e", 1, "user.created", from, Duration::from_secs(60)).await;
    failed_history(&c, "d", "e", 1).await;
    let replay = t.start(json!({"start": rfc3339(from)})).await;
    t.replayer.run_once(None).await.unwrap();
    // Leased by a worker (a send in progress) when the cancel comes.
    c.execute(
        "UPDATE outbound.deliveries SET state = 'leased', lease_owner = 'w', claims = claims + 1",
        &[],
    )
    .await
    .unwrap();
    let (s, r) = t
        .api
        .admin(
            "POST",
            &format!(
                "/api/v1/tenants/acme/replays/{}/cancel",
                replay["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!((s, r["deliveries_cancelled"].as_i64()), (200, Some(0)));
    // Its attempt failed and was rescheduled, as a worker records it.
    c.execute(
        "UPDATE outbound.deliveries SET state = 'pending', lease_owner = NULL, attempts = attempts + 1,
                next_attempt_at = now() + interval '30 seconds'",
        &[],
    )
    .await
    .unwrap();
    t.replayer.run_once(None).await.unwrap();
    assert_eq!(t.count("SELECT count(*) FROM outbound.deliveries").await, 0);
    assert_eq!(t.get(&replay).await["deliveries_cancelled"], 1);
}

/// No replay queues a delivery twice: steps run by several workers at once
/// take each batch once, a second replay of the same range skips what the
/// first has queued, and a pair already delivered is not queued by a
/// failed-only replay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_replay_queues_a_delivery_twice() {
    let t = setup().await;
    let c = t.db.client().await;
    let from = Utc::now() - chrono::Duration::hours(2);
    publish(
        &c,
        "e",
        3000,
        "user.created",
        from,
        Duration::from_secs(3600),
    )
    .await;
    failed_history(&c, "d", "e", 1).await;
    let first = t.start(json!({"start": rfc3339(from)})).await;

    // Four replayers step at once, over and over; a worker sends between
    // rounds. Every event is queued once, so arrives once.
    let replayers: Vec<Replayer> = (0..4)
        .map(|_| Replayer::new(t.db.pool.clone(), None))
        .collect();
    let mut second = None;
    for round in 0..40 {
        let mut steps = tokio::task::JoinSet::new();
        for r in &replayers {
            let r = r.clone();
            steps.spawn(async move { r.run_once(None).await });
        }
        while let Some(stepped) = steps.join_next().await {
            stepped.unwrap().unwrap();
        }
        if round == 0 {
            // A second replay of the same range while the first's batch
            // waits in the queue: it skips those.
            second = Some(t.start(json!({"start": rfc3339(from)})).await);
            t.replayer.run_once(None).await.unwrap();
        }
        t.deliver().await;
        if t.get(&first).await["state"] == "finished" {
            break;
        }
    }
    let first = t.get(&first).await;
    assert_eq!(first["state"], "finished", "{first}");
    assert_eq!(first["events_scanned"], 3000);
    let second = t.run(&second.unwrap()).await;
    let queued = first["deliveries_queued"].as_i64().unwrap()
        + second["deliveries_queued"].as_i64().unwrap();
    assert_eq!(queued, 3000, "{first} {second}");
    assert!(
        second["deliveries_skipped"].as_i64().unwrap() > 0,
        "{second}"
    );
    let got = arrivals(&t.rx);
    assert_eq!(got.len(), 3000);
    assert!(got.values().all(|n| *n == 1), "each event once");
}

/// A replayed delivery gets its destination's retries afresh (its earlier
/// attempts had used them all up), numbered after the last attempt.
#[tokio::test]
async fn a_replayed_delivery_is_retried_like_a_fresh_one() {
    let db = TestDb::new().await;
    let rx = TestReceiver::start().await;
    let c = db.client().await;
    let acme = tenant(&c, "acme").await;
    webhook(
        &c,
        &acme,
        "d",
        &["*"],
        &rx.url("/d"),
        json!({"secret": "s"}),
    )
    .await;
    let api = TestApp::start_with(&db, |s| s.delivery.max_retry_limit = 2).await;
    let from = Utc::now() - chrono::Duration::hours(1);
    publish(&c, "e", 1, "user.created", from, Duration::from_secs(60)).await;
    // Its three attempts (the first and two retries) failed: exhausted.
    failed_history(&c, "d", "e", 3).await;
    let (s, _) = api
        .admin(
            "POST",
            "/api/v1/tenants/acme/replays",
            Some(json!({"start": rfc3339(from)})),
        )
        .await;
    assert_eq!(s, 202);
    Replayer::new(db.pool.clone(), None)
        .run_once(None)
        .await
        .unwrap();
    rx.set_default(Reply::Status(503));
    api.worker().run_once(Utc::now()).await.unwrap();
    let row = c
        .query_one(
            "SELECT a.attempt_number, a.manual, d.state::text, d.next_attempt_at > now()
             FROM outbound.attempts a
             JOIN outbound.deliveries d ON d.event_id = a.event_id
             WHERE a.attempt_number = 4",
            &[],
        )
        .await
        .unwrap();
    let (number, manual, state, later): (i32, bool, String, bool) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    assert_eq!((number, manual), (4, true));
    assert_eq!(
        (state.as_str(), later),
        ("pending", true),
        "the failed replay attempt is retried"
    );
}

/// What waits for a disabled destination is held, as the fan-out holds
/// events, and goes out when it is enabled; the replay finishes without
/// waiting for it.
#[tokio::test]
async fn a_disabled_destination_gets_its_replay_held() {
    let t = setup().await;
    let c = t.db.client().await;
    let from = Utc::now() - chrono::Duration::hours(1);
    publish(&c, "e", 5, "user.created", from, Duration::from_secs(60)).await;
    failed_history(&c, "d", "e", 1).await;
    let (s, _) = t
        .api
        .admin("PUT", "/api/v1/tenants/acme/destinations/d/disable", None)
        .await;
    assert_eq!(s, 200);
    let replay = t.start(json!({"start": rfc3339(from)})).await;
    let done = t.run(&replay).await;
    assert_eq!(done["state"], "finished", "{done}");
    assert_eq!(
        (
            done["deliveries_held"].as_i64(),
            done["deliveries_queued"].as_i64()
        ),
        (Some(5), Some(0))
    );
    assert_eq!(t.rx.count(), 0);
    let (s, _) = t
        .api
        .admin("PUT", "/api/v1/tenants/acme/destinations/d/enable", None)
        .await;
    assert_eq!(s, 200);
    t.deliver().await;
    assert_eq!(arrivals(&t.rx).len(), 5);
}

/// A replay started from SQL, as docs/recovering.md shows, runs the same.
#[tokio::test]
async fn a_replay_started_from_sql_is_run_by_the_workers() {
    let t = setup().await;
    let c = t.db.client().await;
    let from = Utc::now() - chrono::Duration::hours(1);
    publish(&c, "e", 3, "user.created", from, Duration::from_secs(60)).await;
    failed_history(&c, "d", "e", 1).await;
    let id: String = c
        .query_one(
            "SELECT (outbound.replay('acme', now() - interval '1 hour 1 minute')).id",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let replay = json!({ "id": id });
    let done = t.run(&replay).await;
    assert_eq!(done["state"], "finished");
    assert_eq!(done["deliveries_queued"], 3);
    assert!(done["requested_by"].as_str().unwrap().starts_with("sql:"));
    assert_eq!(arrivals(&t.rx).len(), 3);
}

/// Bad input is a 422 naming the field; another tenant's replay is not
/// reachable; a tenant may replay its own.
#[tokio::test]
async fn bad_replay_requests_are_refused_with_the_field_named() {
    let db = TestDb::new().await;
    let c = db.client().await;
    tenant(&c, "acme").await;
    tenant(&c, "other").await;
    let api = TestApp::start_with(&db, |s| {
        s.topics.topics = Some(vec!["user.created".into(), "user.deleted".into()]);
    })
    .await;
    let now = Utc::now();
    let ago = |h: i64| rfc3339(now - chrono::Duration::hours(h));
    let cases = [
        (json!({}), "start"),
        (json!({"start": "yesterday"}), "start"),
        (json!({"start": ago(1), "end": ago(2)}), "end"),
        (json!({"start": ago(24 * 8)}), "start"),
        (
            json!({"start": ago(1), "destination_id": "nope"}),
            "destination_id",
        ),
        (
            json!({"start": ago(1), "destination_id": "a b"}),
            "destination_id",
        ),
        (json!({"start": ago(1), "topics": ["order.paid"]}), "topics"),
        (json!({"start": ago(1), "topics": ["user.*"]}), "topics"),
        (json!({"start": ago(1), "topics": []}), "topics"),
        (json!({"start": ago(1), "since": ago(2)}), "since"),
    ];
    for (body, field) in cases {
        let (s, err) = api
            .admin("POST", "/api/v1/tenants/acme/replays", Some(body.clone()))
            .await;
        assert_eq!(s, 422, "{body}: {err}");
        assert!(
            err.to_string().contains(field),
            "{body}: the answer names {field}: {err}"
        );
    }
    let (_, list) = api
        .admin("GET", "/api/v1/tenants/acme/replays?limit=100", None)
        .await;
    assert_eq!(list, json!([]), "nothing was started by a refused request");

    // A tenant's token: its own replays, nobody else's.
    let token = outbound::api::auth::issue(
        crate::helpers::app::JWT_SECRET,
        &outbound::domain::ids::TenantId::parse("acme").unwrap(),
        Utc::now().timestamp(),
    );
    let (s, mine) = api
        .as_token(
            &token,
            "POST",
            "/api/v1/tenants/acme/replays",
            Some(json!({"start": ago(1), "topics": ["user.created"]})),
        )
        .await;
    assert_eq!(s, 202, "{mine}");
    assert_eq!(mine["requested_by"], "tenant");
    assert_eq!(mine["destination_id"], Value::Null);
    let (s, _) = api
        .as_token(
            &token,
            "POST",
            "/api/v1/tenants/other/replays",
            Some(json!({"start": ago(1)})),
        )
        .await;
    assert_eq!(s, 403);
    let id = mine["id"].as_str().unwrap();
    let (s, _) = api
        .admin("GET", &format!("/api/v1/tenants/other/replays/{id}"), None)
        .await;
    assert_eq!(s, 404, "a replay is its tenant's");
    let (s, _) = api
        .admin("GET", "/api/v1/tenants/acme/replays/rpl_nope", None)
        .await;
    assert_eq!(s, 404);
    let (s, _) = api
        .admin("GET", "/api/v1/tenants/nobody/replays", None)
        .await;
    assert_eq!(s, 404);
}

/// On Citus (`outbound migrate --citus`), a replay runs as on one node:
/// each statement of a step names its tenant, so it is routed to the
/// tenant's node; two tenants on the two worker nodes are replayed and
/// cancelled independently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_runs_on_citus_as_on_one_node() {
    let Some(cdb) = crate::helpers::citus::CitusDb::new().await else {
        return;
    };
    let db = &cdb.db;
    let c = db.client().await;
    let rx = TestReceiver::start().await;
    let nodes: Vec<u16> = cdb.cluster.nodes[1..].iter().map(|n| n.port()).collect();
    let mut tenants = Vec::new();
    for (i, port) in nodes.iter().enumerate() {
        let id = cdb.tenants_on(*port, &format!("t{i}"), 1).await.remove(0);
        let t = tenant(&c, &id).await;
        webhook(
            &c,
            &t,
            "d",
            &["*"],
            &rx.url(&format!("/{id}")),
            json!({"secret": "s"}),
        )
        .await;
        tenants.push(id);
    }
    let api = TestApp::start_with(db, |s| s.delivery.max_retry_limit = 0).await;
    let from = Utc::now() - chrono::Duration::hours(1);
    for t in &tenants {
        c.execute(
            "INSERT INTO outbound.events (id, tenant_id, topic, data, time)
             SELECT 'e' || g, $1, 'user.created', json_build_object('n', g),
                    $2::timestamptz + g * interval '1 second'
             FROM generate_series(1, 600) g",
            &[t, &from],
        )
        .await
        .unwrap();
    }
    // Every first attempt refused, no retries.
    rx.set_default(Reply::Status(500));
    let deliver = || async {
        let mut n = 0;
        for _ in 0..50 {
            let got = api.worker().run_once(Utc::now()).await.unwrap().accepted;
            n += got;
            if got == 0 {
                break;
            }
        }
        n
    };
    assert_eq!(deliver().await, 1200);
    rx.set_default(Reply::Status(200));
    let before = rx.count();

    let mut ids = Vec::new();
    for t in &tenants {
        let (s, r) = api
            .admin(
                "POST",
                &format!("/api/v1/tenants/{t}/replays"),
                Some(json!({"start": rfc3339(from)})),
            )
            .await;
        assert_eq!(s, 202, "{r}");
        ids.push(r["id"].as_str().unwrap().to_string());
    }
    let replayer = Replayer::new(db.pool.clone(), None);
    replayer.run_once(None).await.unwrap();
    // The second tenant's replay is cancelled after its first batch.
    let (s, cancelled) = api
        .admin(
            "POST",
            &format!("/api/v1/tenants/{}/replays/{}/cancel", tenants[1], ids[1]),
            None,
        )
        .await;
    assert_eq!(s, 200, "{cancelled}");
    assert_eq!(cancelled["deliveries_cancelled"], 500, "{cancelled}");
    let mut done = Value::Null;
    for _ in 0..20 {
        deliver().await;
        replayer.run_once(None).await.unwrap();
        let (_, r) = api
            .admin(
                "GET",
                &format!("/api/v1/tenants/{}/replays/{}", tenants[0], ids[0]),
                None,
            )
            .await;
        done = r;
        if done["state"] == "finished" {
            break;
        }
    }
    assert_eq!(done["state"], "finished", "{done}");
    assert_eq!(done["deliveries_queued"], 600, "{done}");
    let got: Vec<String> = rx.requests()[before..]
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(got.len(), 600, "only the first tenant's events, each once");
    assert!(got.iter().all(|p| *p == format!("/{}", tenants[0])));
    // Removing old replays is one statement over every shard.
    assert_eq!(outbound::store::replays::trim(&c, None).await.unwrap(), 0);
}
