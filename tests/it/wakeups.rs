//! How an idle worker learns of new work: the wake-up latch and the looks
//! at the queue, against a real Postgres and a real receiver.

use std::time::Duration;

use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::helpers::app::worker;
use crate::helpers::db::TestDb;
use crate::helpers::eventually;
use crate::helpers::factory::{tenant, webhook};
use crate::helpers::receiver::{Reply, TestReceiver};

async fn insert(c: &impl outbound::store::GenericClient, id: &str) {
    c.execute(
        "INSERT INTO outbound.events (id, tenant_id, topic, data)
         VALUES ($1, 'acme', 'user.created', '{}')",
        &[&id],
    )
    .await
    .unwrap();
}

/// Tenant `acme` with one webhook, `des_1`, subscribed to every topic.
async fn subscribe_all(c: &deadpool_postgres::Object, rx: &TestReceiver) {
    let acme = tenant(c, "acme").await;
    webhook(
        c,
        &acme,
        "des_1",
        &["*"],
        &rx.url("/hooks"),
        json!({"secret": "s"}),
    )
    .await;
}

/// Whether the (only) worker declares itself idle within `limit`.
async fn sleeps(c: &deadpool_postgres::Object, limit: Duration) -> bool {
    eventually(limit, || async {
        let n: i64 = c
            .query_one("SELECT count(*) FROM outbound.workers WHERE idle", &[])
            .await
            .unwrap()
            .get(0);
        (n == 1).then_some(())
    })
    .await
    .is_some()
}

fn ids(rx: &TestReceiver) -> Vec<String> {
    rx.requests()
        .iter()
        .filter_map(|r| r.header("x-outpost-event-id").map(str::to_string))
        .collect()
}

/// An application publishes inside its own transaction and keeps it open
/// (its fan-out cleared the idle worker's flag and holds that row until it
/// ends). Meanwhile other publishers' events are delivered, one after the
/// other, without waiting for that transaction; its own event goes when it
/// commits.
#[tokio::test]
async fn an_open_publishing_transaction_holds_up_no_other_event() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let rx = TestReceiver::start().await;
    subscribe_all(&c, &rx).await;

    let cancel = CancellationToken::new();
    let w = worker(&db, |_| {}).await;
    let running = tokio::spawn(w.run(cancel.clone()));
    assert!(
        sleeps(&c, Duration::from_secs(10)).await,
        "the worker goes idle"
    );

    let mut app = db.connect().await;
    let open = app.transaction().await.unwrap();
    open.execute(
        "INSERT INTO outbound.events (id, tenant_id, topic, data)
         VALUES ('evt_open', 'acme', 'user.created', '{}')",
        &[],
    )
    .await
    .unwrap();
    let flag: bool = c
        .query_one("SELECT idle FROM outbound.workers", &[])
        .await
        .unwrap()
        .get(0);
    assert!(flag, "the open transaction's clearing is not committed yet");

    // One event after another, each given time for the worker to go back
    // to sleep in between: each sleep starts by writing the flag that the
    // open transaction holds.
    for (i, id) in ["evt_b", "evt_c", "evt_d"].iter().enumerate() {
        tokio::time::sleep(Duration::from_millis(400)).await;
        insert(&c, id).await;
        rx.wait_for(i + 1, Duration::from_secs(3)).await;
        assert_eq!(ids(&rx).last().map(String::as_str), Some(*id));
    }
    assert!(!ids(&rx).contains(&"evt_open".to_string()));

    open.commit().await.unwrap();
    rx.wait_for(4, Duration::from_secs(5)).await;
    assert_eq!(ids(&rx), ["evt_b", "evt_c", "evt_d", "evt_open"]);

    cancel.cancel();
    running.await.unwrap();
}

/// A retry that comes due while the worker sleeps is sent: nothing
/// notifies for a retry, the worker's looks at the queue find it.
#[tokio::test]
async fn a_retry_coming_due_is_sent_by_a_sleeping_worker() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let rx = TestReceiver::start().await;
    rx.script([Reply::Status(500), Reply::Status(200)]);
    subscribe_all(&c, &rx).await;
    let cancel = CancellationToken::new();
    let w = worker(&db, |s| {
        s.delivery.retry_interval = Duration::from_secs(1);
    })
    .await;
    let running = tokio::spawn(w.run(cancel.clone()));

    insert(&c, "evt_1").await;
    rx.wait_for(1, Duration::from_secs(5)).await;
    // Between the two attempts the worker went back to sleep.
    assert!(
        sleeps(&c, Duration::from_secs(2)).await,
        "the worker sleeps until the retry"
    );
    let got = rx.wait_for(2, Duration::from_secs(5)).await;
    assert_eq!(got[1].header("x-outpost-event-id"), Some("evt_1"));
    let gap = got[1].at.duration_since(got[0].at);
    assert!(gap >= Duration::from_millis(500), "retried after {gap:?}");
    let done = eventually(Duration::from_secs(5), || async {
        let n: i64 = c
            .query_one("SELECT count(*) FROM outbound.deliveries", &[])
            .await
            .unwrap()
            .get(0);
        (n == 0).then_some(())
    })
    .await;
    assert!(done.is_some(), "the retry's success is recorded");

    cancel.cancel();
    running.await.unwrap();
}
