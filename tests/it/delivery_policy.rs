//! A destination's own delivery policy (issue 25): its retries, their
//! schedule and its timeout, through the API and applied by a real worker
//! to real receivers on loopback.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::helpers::app::{worker, TestApp};
use crate::helpers::db::TestDb;
use crate::helpers::eventually;
use crate::helpers::factory::{attempts_of, tenant, webhook};
use crate::helpers::receiver::{Reply, TestReceiver};

/// When the delivery of event `e` to `destination` is due next, if queued.
async fn next_attempt(c: &deadpool_postgres::Object, destination: &str) -> Option<DateTime<Utc>> {
    c.query_opt(
        "SELECT next_attempt_at FROM outbound.deliveries WHERE event_id = 'e' AND destination_id = $1",
        &[&destination],
    )
    .await
    .unwrap()
    .map(|r| r.get(0))
}

fn ms_between(from: DateTime<Utc>, to: Option<DateTime<Utc>>) -> i64 {
    (to.expect("still queued") - from).num_milliseconds()
}

/// Two webhooks of tenant acme on `rx`, `with` (given `policy` in SQL, as
/// an application managing destinations by hand would set it) and
/// `without` (following the deployment), and one event `e` for both.
async fn two_destinations(
    c: &deadpool_postgres::Object,
    rx: &TestReceiver,
    (with, policy): (&str, &str),
    without: &str,
) {
    let acme = tenant(c, "acme").await;
    for id in [with, without] {
        let url = rx.url(&format!("/{id}"));
        webhook(c, &acme, id, &["*"], &url, json!({"secret": "s"})).await;
    }
    c.execute(
        "UPDATE outbound.destinations SET delivery_policy = $1::text::jsonb WHERE id = $2",
        &[&policy, &with],
    )
    .await
    .unwrap();
    c.execute(
        "INSERT INTO outbound.events (id, tenant_id, topic, data) VALUES ('e', 'acme', 't', '{}')",
        &[],
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn retries_follow_the_destinations_own_schedule_and_count() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let rx = TestReceiver::start().await;
    rx.set_default(Reply::Status(500));
    let own = ("own", r#"{"retry": {"schedule_seconds": [2, 7]}}"#);
    two_destinations(&c, &rx, own, "deployment").await;
    let w = worker(&db, |s| {
        s.delivery.retry_interval = Duration::from_secs(30);
        s.delivery.max_retry_limit = 10;
    })
    .await;

    let t0 = Utc::now();
    assert_eq!(w.run_once(t0).await.unwrap().accepted, 2);
    let own = ms_between(t0, next_attempt(&c, "own").await);
    assert!(
        (1_700..=2_600).contains(&own),
        "own first retry ≈ 2 s, got {own} ms"
    );
    let dep = ms_between(t0, next_attempt(&c, "deployment").await);
    assert!(
        (26_000..=34_000).contains(&dep),
        "deployment's ≈ 30 s, got {dep} ms"
    );

    let t1 = t0 + chrono::Duration::seconds(5);
    assert_eq!(w.run_once(t1).await.unwrap().accepted, 1, "only own is due");
    let own = ms_between(t1, next_attempt(&c, "own").await);
    assert!(
        (6_000..=8_500).contains(&own),
        "own second retry ≈ 7 s, got {own} ms"
    );

    // The schedule had two retries: the third attempt is the last.
    let t2 = t0 + chrono::Duration::seconds(20);
    assert_eq!(w.run_once(t2).await.unwrap().accepted, 1);
    assert_eq!(next_attempt(&c, "own").await, None, "no fourth attempt");
    let codes: Vec<_> = attempts_of(&c, "e", "own")
        .await
        .into_iter()
        .map(|a| (a.0, a.2))
        .collect();
    assert_eq!(
        codes,
        [(1, "500".into()), (2, "500".into()), (3, "500".into())]
    );
    assert_eq!(attempts_of(&c, "e", "deployment").await.len(), 1);
    assert!(next_attempt(&c, "deployment").await.is_some());

    // A count alone keeps the deployment's backoff: one retry, 30 s on.
    c.execute(
        "UPDATE outbound.destinations SET delivery_policy = '{\"retry\": {\"max_retries\": 1}}' \
         WHERE id = 'deployment'",
        &[],
    )
    .await
    .unwrap();
    let t3 = t0 + chrono::Duration::seconds(40);
    assert_eq!(w.run_once(t3).await.unwrap().accepted, 1);
    assert_eq!(
        next_attempt(&c, "deployment").await,
        None,
        "1 retry, then given up"
    );
    assert_eq!(attempts_of(&c, "e", "deployment").await.len(), 2);
}

#[tokio::test]
async fn a_destinations_timeout_cuts_its_attempts_and_may_exceed_the_default() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let rx = TestReceiver::start().await;
    rx.set_default(Reply::Delay(Duration::from_millis(2500), 200));
    two_destinations(&c, &rx, ("patient", r#"{"timeout_seconds": 5}"#), "default").await;
    // A 1 s default; destinations may ask for up to 6 s.
    let w = worker(&db, |s| {
        s.delivery.timeout = Duration::from_secs(1);
        s.delivery.policy_max_timeout_setting = Some(Duration::from_secs(6));
    })
    .await;
    let started = std::time::Instant::now();
    w.run_once(Utc::now()).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    let patient = attempts_of(&c, "e", "patient").await;
    assert_eq!(
        patient[0].1, "success",
        "5 s allowed for a 2.5 s answer: {patient:?}"
    );
    let default = attempts_of(&c, "e", "default").await;
    assert_eq!(default[0].2, "timeout", "{default:?}");
    let took: i32 = c
        .query_one(
            "SELECT duration_ms FROM outbound.attempts WHERE destination_id = 'default'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!((900..2_000).contains(&took), "cut at about 1 s: {took} ms");
}

#[tokio::test]
async fn the_api_takes_shows_merges_and_bounds_a_delivery_policy() {
    let db = TestDb::new().await;
    let app = TestApp::start_with(&db, |s| {
        s.delivery.policy_max_retries = 5;
        s.delivery.policy_max_timeout_setting = Some(Duration::from_secs(30));
    })
    .await;
    assert_eq!(app.admin("PUT", "/api/v1/tenants/acme", None).await.0, 201);
    let path = "/api/v1/tenants/acme/destinations";
    let policy =
        json!({"retry": {"max_retries": 3, "interval_seconds": 10}, "timeout_seconds": 20});
    let (s, created) = app
        .admin(
            "POST",
            path,
            Some(json!({"id": "d", "type": "webhook", "topics": ["*"],
                        "config": {"url": "https://example.com/hook"},
                        "delivery_policy": policy})),
        )
        .await;
    assert_eq!(s, 201, "{created}");
    assert_eq!(created["delivery_policy"], policy);
    let d = format!("{path}/d");
    assert_eq!(
        app.admin("GET", &d, None).await.1["delivery_policy"],
        policy
    );
    let c = db.client().await;
    let stored: Value = c
        .query_one(
            "SELECT delivery_policy FROM outbound.destinations WHERE id = 'd'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, policy);

    // A PATCH merges: one part back to the deployment's, another changed.
    let (s, patched) = app
        .admin(
            "PATCH",
            &d,
            Some(
                json!({"delivery_policy": {"timeout_seconds": null, "retry": {"max_retries": 4}}}),
            ),
        )
        .await;
    assert_eq!(s, 200, "{patched}");
    assert_eq!(
        patched["delivery_policy"],
        json!({"retry": {"max_retries": 4, "interval_seconds": 10}})
    );
    // Other changes leave it alone; null drops it.
    let (_, other) = app
        .admin("PATCH", &d, Some(json!({"metadata": {"team": "x"}})))
        .await;
    assert_eq!(other["delivery_policy"]["retry"]["max_retries"], 4);
    let (_, dropped) = app
        .admin("PATCH", &d, Some(json!({"delivery_policy": null})))
        .await;
    assert_eq!(dropped["delivery_policy"], json!({}));

    // Past the operator's bounds, or malformed: a 422 naming each field.
    for (body, says) in [
        (
            json!({"retry": {"max_retries": 6}}),
            "delivery_policy.retry.max_retries must be a whole number from 0 to 5",
        ),
        (
            json!({"timeout_seconds": 31}),
            "delivery_policy.timeout_seconds must be whole seconds, from 1 to 30",
        ),
        (
            json!({"retry": {"schedule_seconds": [1, 2, 3, 4, 5, 6]}}),
            "at most 5 delays",
        ),
        (
            json!({"retry": {"schedule_seconds": [5], "interval_seconds": 1}}),
            "leave out max_retries and interval_seconds",
        ),
        (
            json!({"rate": 1}),
            "delivery_policy.rate is not a policy field",
        ),
        (json!("fast"), "delivery_policy must be an object"),
    ] {
        let (s, err) = app
            .admin("PATCH", &d, Some(json!({"delivery_policy": body})))
            .await;
        assert_eq!(s, 422, "{body}: {err}");
        assert!(err.to_string().contains(says), "{body}: {err}");
        let (s, err) = app
            .admin(
                "POST",
                path,
                Some(json!({"type": "webhook", "topics": ["*"],
                            "config": {"url": "https://example.com/hook"},
                            "delivery_policy": body})),
            )
            .await;
        assert_eq!(s, 422, "{body}: {err}");
        assert!(err.to_string().contains(says), "{body}: {err}");
    }
    assert_eq!(
        app.admin("GET", &d, None).await.1["delivery_policy"],
        json!({})
    );

    // A rate limit: stored as given; malformed ones are refused by name (a
    // PATCH merges, so dropping its rate leaves a burst alone: refused).
    let limit = json!({"rate_limit": {"per_minute": 90, "burst": 3}});
    let (s, limited) = app
        .admin("PATCH", &d, Some(json!({"delivery_policy": limit})))
        .await;
    assert_eq!((s, &limited["delivery_policy"]), (200, &limit), "{limited}");
    for (body, says) in [
        (
            json!({"rate_limit": {"per_second": 0}}),
            "rate_limit.per_second must be a whole number from 1",
        ),
        (
            json!({"rate_limit": {"per_second": 1, "per_minute": 60}}),
            "per_second or per_minute, not both",
        ),
        (
            json!({"rate_limit": {"per_minute": null, "burst": 5}}),
            "rate_limit needs per_second or per_minute",
        ),
    ] {
        let (s, err) = app
            .admin("PATCH", &d, Some(json!({"delivery_policy": body})))
            .await;
        assert_eq!(s, 422, "{body}: {err}");
        assert!(err.to_string().contains(says), "{body}: {err}");
    }

    // The schema refuses what is not an object, for SQL writers too.
    let refused = c
        .execute(
            "UPDATE outbound.destinations SET delivery_policy = '[1]' WHERE id = 'd'",
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(
        refused.as_db_error().and_then(|e| e.constraint()),
        Some("destinations_delivery_policy_object"),
        "{refused:?}"
    );
    // And a rate limit the claim could not read, for SQL writers too.
    for bad in [
        r#"{"rate_limit": {"per_second": "fast"}}"#,
        r#"{"rate_limit": {"per_second": 0}}"#,
        r#"{"rate_limit": {"per_second": 5, "burst": "x"}}"#,
        r#"{"rate_limit": 5}"#,
    ] {
        let refused = c
            .execute(
                "UPDATE outbound.destinations SET delivery_policy = $1::text::jsonb WHERE id = 'd'",
                &[&bad],
            )
            .await
            .unwrap_err();
        assert_eq!(
            refused.as_db_error().and_then(|e| e.constraint()),
            Some("destinations_rate_limit_valid"),
            "{bad}: {refused:?}"
        );
    }
}

#[tokio::test]
async fn a_running_service_applies_a_destinations_policy() {
    a_running_service_applies_a_destinations_policy_on(&TestDb::new().await).await;
}

/// `outbound serve`'s API and worker loop on `db`: a destination created
/// with a 1 s timeout and two 1 s retries, a receiver that takes 3 s.
/// Shared with the Citus test.
pub(crate) async fn a_running_service_applies_a_destinations_policy_on(db: &TestDb) {
    let rx = TestReceiver::start().await;
    rx.set_default(Reply::Delay(Duration::from_secs(3), 200));
    // The deployment's own policy would wait 5 minutes and then 10 more.
    let api = TestApp::serving(db, |s| {
        s.delivery.retry_interval = Duration::from_secs(300);
        s.delivery.max_retry_limit = 10;
    })
    .await;
    assert_eq!(api.admin("PUT", "/api/v1/tenants/acme", None).await.0, 201);
    let (s, d) = api
        .admin(
            "POST",
            "/api/v1/tenants/acme/destinations",
            Some(json!({"id": "d", "type": "webhook", "topics": ["*"],
                        "config": {"url": rx.url("/slow")},
                        "delivery_policy": {"retry": {"schedule_seconds": [1, 1]},
                                            "timeout_seconds": 1}})),
        )
        .await;
    assert_eq!(s, 201, "{d}");
    let (s, e) = api
        .admin(
            "POST",
            "/api/v1/publish",
            Some(json!({"tenant_id": "acme", "topic": "t", "data": {}})),
        )
        .await;
    assert_eq!(s, 202, "{e}");
    let c = db.client().await;
    let attempts = eventually(Duration::from_secs(30), || async {
        let rows = c
            .query(
                "SELECT code, time, duration_ms FROM outbound.attempts
                 WHERE tenant_id = 'acme' AND destination_id = 'd' ORDER BY attempt_number",
                &[],
            )
            .await
            .unwrap();
        let queued: i64 = c
            .query_one(
                "SELECT count(*) FROM outbound.deliveries WHERE tenant_id = 'acme'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        let v: Vec<(String, DateTime<Utc>, i32)> = rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        (v.len() == 3 && queued == 0).then_some(v)
    })
    .await
    .expect("three attempts, then nothing queued");
    for (code, _, took) in &attempts {
        assert_eq!(code, "timeout", "{attempts:?}");
        assert!((900..2_000).contains(took), "cut at 1 s: {attempts:?}");
    }
    // Each retry 1 s (± jitter) after the 1 s timeout that failed it.
    for pair in attempts.windows(2) {
        let gap = (pair[1].1 - pair[0].1).num_milliseconds();
        assert!((1_700..6_000).contains(&gap), "{gap} ms: {attempts:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_holds_across_two_worker_processes() {
    a_rate_limit_holds_across_two_worker_processes_on(&TestDb::new().await).await;
}

/// Two `outbound worker` processes on `db`, 120 events for a destination
/// limited to 20 a second (a burst of 20): the receiver gets all of them,
/// once each, over about 5 s, never more than the bucket allows. Shared
/// with the Citus test.
pub(crate) async fn a_rate_limit_holds_across_two_worker_processes_on(db: &TestDb) {
    const EVENTS: usize = 120;
    const RATE: f64 = 20.0;
    let c = db.client().await;
    let rx = TestReceiver::start().await;
    let acme = tenant(&c, "acme").await;
    webhook(
        &c,
        &acme,
        "limited",
        &["*"],
        &rx.url("/l"),
        json!({"secret": "s"}),
    )
    .await;
    c.execute(
        "UPDATE outbound.destinations SET delivery_policy = '{\"rate_limit\": {\"per_second\": 20}}'",
        &[],
    )
    .await
    .unwrap();
    let start = || {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_outbound"))
            .arg("worker")
            .env("DATABASE_URL", &db.url)
            .env("DESTINATIONS_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8")
            .env("AES_ENCRYPTION_SECRET", "test-aes-secret")
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn outbound worker")
    };
    let _workers = [start(), start()];
    eventually(Duration::from_secs(20), || async {
        let n: i64 = c
            .query_one("SELECT count(*) FROM outbound.workers", &[])
            .await
            .unwrap()
            .get(0);
        (n == 2).then_some(())
    })
    .await
    .expect("both workers registered");
    c.execute(
        "INSERT INTO outbound.events (id, tenant_id, topic, data)
         SELECT 'e' || i, 'acme', 't', '{}' FROM generate_series(1, $1::int) i",
        &[&(EVENTS as i32)],
    )
    .await
    .unwrap();
    let got = rx.wait_for(EVENTS, Duration::from_secs(30)).await;
    assert_eq!(got.len(), EVENTS, "every event delivered");
    let ids: std::collections::HashSet<_> = got
        .iter()
        .map(|r| r.header("x-outpost-event-id").unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), EVENTS, "each once");
    // A full bucket (20) at once, then 20 a second: 120 take about 5 s.
    let first = got.iter().map(|r| r.at).min().unwrap();
    let last = got.iter().map(|r| r.at).max().unwrap();
    let span = (last - first).as_secs_f64();
    let expected = (EVENTS as f64 - RATE) / RATE;
    assert!(
        (expected * 0.9..expected * 1.25).contains(&span),
        "{EVENTS} at {RATE}/s after a burst of {RATE}: {span:.2} s, expected about {expected} s"
    );
    // In no window of one second did more arrive than a bucket and a second
    // of refill allow.
    let mut at: Vec<_> = got.iter().map(|r| (r.at - first).as_secs_f64()).collect();
    at.sort_by(f64::total_cmp);
    for (i, t) in at.iter().enumerate() {
        let within = at[i..].iter().take_while(|u| **u < t + 1.0).count();
        assert!(
            within as f64 <= 2.0 * RATE + 1.0,
            "{within} within 1 s of {t:.2} s"
        );
    }
    let measured = (EVENTS as f64 - RATE) / span;
    println!(
        "measure: rate limit 20/s across two worker processes: {measured:.1}/s after the burst"
    );
}
