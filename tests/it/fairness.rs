//! Fair delivery: one tenant's slow or dead endpoint must not delay another
//! tenant's webhooks (per-destination caps, parking, the circuit breaker).

use std::time::{Duration, Instant};

use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::helpers::app::worker;
use crate::helpers::db::TestDb;
use crate::helpers::factory::{tenant, webhook};
use crate::helpers::receiver::{Reply, TestReceiver};

/// Publishes one event for `tenant` by SQL, as an application would, and
/// returns when it was committed.
async fn publish(c: &deadpool_postgres::Object, tenant: &str, id: &str) -> Instant {
    c.execute(
        "INSERT INTO outbound.events (id, tenant_id, topic, data) VALUES ($1, $2, 'order.created', '{}')",
        &[&id, &tenant],
    )
    .await
    .unwrap();
    Instant::now()
}

/// For each event id, how long after publishing it arrived at `receiver`.
fn latencies(receiver: &TestReceiver, published: &[(String, Instant)]) -> Vec<Duration> {
    let arrivals = receiver.requests();
    published
        .iter()
        .map(|(id, at)| {
            let got = arrivals
                .iter()
                .find(|r| r.header("x-outpost-event-id") == Some(id.as_str()))
                .unwrap_or_else(|| panic!("{id} did not arrive"));
            got.at.saturating_duration_since(*at)
        })
        .collect()
}

/// The slow-but-healthy case of the issue, scaled down: 16 send slots, an
/// endpoint that answers 200 after 400 ms receiving a burst of 80 events
/// (without caps it would hold every slot for 2 s), and a quiet tenant's
/// fast endpoint receiving an event every 100 ms meanwhile.
#[tokio::test]
async fn a_slow_endpoint_does_not_delay_another_tenants_webhooks() {
    a_slow_endpoint_does_not_delay_another_tenants_webhooks_on(
        &TestDb::new().await,
        Duration::from_millis(500),
    )
    .await;
}

/// The test above on `db` (one node's, or a Citus cluster's: tests/it/citus.rs).
pub(crate) async fn a_slow_endpoint_does_not_delay_another_tenants_webhooks_on(
    db: &TestDb,
    quiet_bound: Duration,
) {
    let c = db.client().await;
    let (noisy_rx, quiet_rx) = (TestReceiver::start().await, TestReceiver::start().await);
    noisy_rx.set_default(Reply::Delay(Duration::from_millis(400), 200));
    let noisy = tenant(&c, "noisy").await;
    let quiet = tenant(&c, "quiet").await;
    let secret = json!({"secret": "s"});
    webhook(
        &c,
        &noisy,
        "slow",
        &["*"],
        &noisy_rx.url("/"),
        secret.clone(),
    )
    .await;
    webhook(&c, &quiet, "fast", &["*"], &quiet_rx.url("/"), secret).await;

    let w = worker(db, |s| {
        s.delivery.concurrency = 16;
        s.delivery.destination_concurrency = 4;
    })
    .await;
    let cancel = CancellationToken::new();
    let running = tokio::spawn(w.run(cancel.clone()));

    c.execute(
        "INSERT INTO outbound.events (id, tenant_id, topic, data)
         SELECT 'n' || g, 'noisy', 'order.created', '{}' FROM generate_series(1, 80) g",
        &[],
    )
    .await
    .unwrap();
    let mut published = Vec::new();
    for i in 0..15 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let id = format!("q{i}");
        let at = publish(&c, "quiet", &id).await;
        published.push((id, at));
    }
    quiet_rx.wait_for(15, Duration::from_secs(10)).await;
    // The slow endpoint's backlog waits in the database, parked, not in
    // the worker: nothing holds a slot or a lease for it.
    let parked: i64 = c
        .query_one(
            "SELECT count(*) FROM outbound.deliveries WHERE destination_id = 'slow' AND state = 'parked'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(parked > 0, "the slow destination's backlog is parked");

    let mut quiet = latencies(&quiet_rx, &published);
    quiet.sort();
    let worst = *quiet.last().unwrap();
    // Without the caps these waited behind the slow endpoint: ~2 s and more.
    assert!(
        worst < quiet_bound,
        "quiet tenant's publish→receive latencies: {quiet:?}"
    );

    // The slow endpoint still gets everything, never more than its cap at once.
    noisy_rx.wait_for(80, Duration::from_secs(30)).await;
    assert!(
        noisy_rx.max_in_flight() <= 4,
        "the slow endpoint had {} requests at once",
        noisy_rx.max_in_flight()
    );
    // ... and every delivery is recorded: nothing is left parked.
    let emptied = crate::helpers::eventually(Duration::from_secs(10), || {
        let c = &c;
        async move {
            let left: i64 = c
                .query_one("SELECT count(*) FROM outbound.deliveries", &[])
                .await
                .unwrap()
                .get(0);
            (left == 0).then_some(())
        }
    })
    .await;
    cancel.cancel();
    running.await.unwrap();
    assert!(emptied.is_some(), "deliveries left in the queue");
}

/// An endpoint that never answers: after three timeouts its circuit opens,
/// the rest of its deliveries wait unsent (no attempt used up, nothing
/// counted against the endpoint), one probe goes out once the cool-down
/// has passed, and its answer closes the circuit.
#[tokio::test]
async fn an_endpoint_that_never_answers_gets_its_circuit_opened_and_probed() {
    an_endpoint_that_never_answers_gets_its_circuit_opened_and_probed_on(
        &TestDb::new().await,
        Duration::from_millis(500),
    )
    .await;
}

/// The test above on `db` (one node's, or a Citus cluster's: tests/it/citus.rs).
pub(crate) async fn an_endpoint_that_never_answers_gets_its_circuit_opened_and_probed_on(
    db: &TestDb,
    quiet_bound: Duration,
) {
    let c = db.client().await;
    let (dead_rx, quiet_rx) = (TestReceiver::start().await, TestReceiver::start().await);
    dead_rx.set_default(Reply::Hang);
    let acme = tenant(&c, "acme").await;
    let quiet = tenant(&c, "quiet").await;
    let secret = json!({"secret": "s"});
    webhook(&c, &acme, "dead", &["*"], &dead_rx.url("/"), secret.clone()).await;
    webhook(&c, &quiet, "fast", &["*"], &quiet_rx.url("/"), secret).await;

    let w = worker(db, |s| {
        s.delivery.timeout = Duration::from_secs(1);
        s.delivery.concurrency = 16;
        s.delivery.destination_concurrency = 3;
        s.delivery.circuit_breaker_failures = 3;
        s.delivery.circuit_breaker_cooldown = Duration::from_secs(2);
        s.delivery.retry_interval = Duration::from_secs(1);
    })
    .await;
    let cancel = CancellationToken::new();
    let running = tokio::spawn(w.run(cancel.clone()));

    c.execute(
        "INSERT INTO outbound.events (id, tenant_id, topic, data)
         SELECT 'd' || g, 'acme', 'order.created', '{}' FROM generate_series(1, 30) g",
        &[],
    )
    .await
    .unwrap();
    // The quiet tenant is served while the dead endpoint times out.
    let mut published = Vec::new();
    for i in 0..10 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let id = format!("q{i}");
        let at = publish(&c, "quiet", &id).await;
        published.push((id, at));
    }
    quiet_rx.wait_for(10, Duration::from_secs(10)).await;
    let quiet = latencies(&quiet_rx, &published);
    assert!(
        quiet.iter().all(|l| *l < quiet_bound),
        "quiet tenant's latencies next to a dead endpoint: {quiet:?}"
    );

    // The circuit opened after three timeouts; the rest were not sent.
    let circuit = || async {
        let r = c
            .query_one(
                "SELECT circuit_open_until IS NOT NULL, consecutive_failures,
                        (SELECT count(*) FROM outbound.attempts WHERE destination_id = 'dead'),
                        (SELECT count(DISTINCT event_id) FROM outbound.attempts WHERE destination_id = 'dead')
                 FROM outbound.destinations WHERE id = 'dead'",
                &[],
            )
            .await
            .unwrap();
        (
            r.get::<_, bool>(0),
            r.get::<_, i32>(1),
            r.get::<_, i64>(2),
            r.get::<_, i64>(3),
        )
    };
    let opened = crate::helpers::eventually(Duration::from_secs(10), || {
        let circuit = &circuit;
        async move {
            let state = circuit().await;
            state.0.then_some(state)
        }
    })
    .await;
    let (_, failures, attempts, _) = opened.expect("the circuit opens");
    // Only real sends are attempts: three timeouts in flight together, and
    // the probes since. Most deliveries have not been tried at all.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (open, failures_later, attempts_later, events_tried) = circuit().await;
    assert!(open, "the probes get no answer either");
    assert!(
        attempts_later <= 8 && events_tried <= 8,
        "{attempts_later} attempts of {events_tried} events while the circuit was open"
    );
    assert!(
        failures <= 2 && failures_later <= 4,
        "failures in flight together count once: {failures} then {failures_later} (of {attempts} attempts)"
    );
    assert!(
        dead_rx.count() <= 8,
        "{} requests reached the dead endpoint",
        dead_rx.count()
    );

    // The endpoint recovers: the half-open probe gets an answer, the
    // circuit closes and every delivery arrives.
    dead_rx.set_default(Reply::Status(200));
    let before = dead_rx.count();
    let deadline = Instant::now() + Duration::from_secs(30);
    let distinct = loop {
        let ids: std::collections::HashSet<String> = dead_rx.requests()[before..]
            .iter()
            .filter_map(|r| r.header("x-outpost-event-id").map(str::to_string))
            .collect();
        if ids.len() == 30 || Instant::now() > deadline {
            break ids.len();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        distinct, 30,
        "every delivery arrives once the circuit closes"
    );
    let (open, failures, _, _) = circuit().await;
    assert!(!open, "the circuit closed");
    assert_eq!(failures, 0);
    cancel.cancel();
    running.await.unwrap();
}
