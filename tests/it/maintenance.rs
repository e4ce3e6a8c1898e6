//! Partitions ahead and retention by partition drop.

use chrono::{Duration, Utc};
use outbound::store;

use crate::helpers::db::TestDb;
use crate::helpers::factory::tenant;

async fn partitions(c: &deadpool_postgres::Object, parent: &str) -> Vec<String> {
    c.query(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = $1::text::regclass ORDER BY 1",
        &[&format!("outbound.{parent}")],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}

fn day(offset: i64) -> String {
    (Utc::now() + Duration::days(offset))
        .format("%Y%m%d")
        .to_string()
}

#[tokio::test]
async fn migration_creates_partitions_for_today_and_the_next_days() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let events = partitions(&c, "events").await;
    for offset in -1..=3 {
        assert!(
            events.contains(&format!("events_p{}", day(offset))),
            "{events:?}"
        );
    }
    assert!(events.contains(&"events_default".to_string()));
    let attempts = partitions(&c, "attempts").await;
    assert!(
        attempts.contains(&format!("attempts_p{}", day(0))),
        "{attempts:?}"
    );
}

#[tokio::test]
async fn retention_drops_whole_partitions_and_moves_strays_from_the_default() {
    let db = TestDb::new().await;
    let c = db.client().await;
    tenant(&c, "acme").await;
    store::maintenance::apply_settings(&c, 7).await.unwrap();
    // An event today, and one 20 days ahead (lands in the default partition).
    c.batch_execute(
        "INSERT INTO outbound.events (id, tenant_id, topic, data) VALUES ('today', 'acme', 'a', '{}');
         INSERT INTO outbound.events (id, tenant_id, topic, data, time)
           VALUES ('future', 'acme', 'a', '{}', now() + interval '20 days');",
    )
    .await
    .unwrap();
    let in_default: i64 = c
        .query_one("SELECT count(*) FROM outbound.events_default", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(in_default, 1);

    // Time passes: 20 days later (passed in, no waiting).
    let later = Utc::now() + Duration::days(20);
    let report = store::maintenance::maintain(&c, Some(later)).await.unwrap();
    assert_eq!(report["ran"], true);
    let events = partitions(&c, "events").await;
    assert!(
        !events.contains(&format!("events_p{}", day(0))),
        "today's partition is dropped: {events:?}"
    );
    assert!(
        events.contains(&format!("events_p{}", day(20))),
        "{events:?}"
    );
    let ids: Vec<String> = c
        .query("SELECT id FROM outbound.events ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(ids, ["future"], "the old event is gone, the stray one kept");
    let in_default: i64 = c
        .query_one("SELECT count(*) FROM outbound.events_default", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(in_default, 0, "the stray moved into its new partition");
    let known: Vec<String> = c
        .query("SELECT id FROM outbound.event_ids ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        known,
        ["future"],
        "expired ids are forgotten with their events"
    );
}
