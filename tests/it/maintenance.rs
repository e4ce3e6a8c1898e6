//! Partitions ahead and retention by partition drop.

use chrono::{Duration, Utc};
use outbound::store;

use crate::helpers::db::TestDb;
use crate::helpers::factory::{attempts_of, destination, tenant, webhook};

pub(crate) async fn partitions(c: &deadpool_postgres::Object, parent: &str) -> Vec<String> {
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

pub(crate) fn day(offset: i64) -> String {
    (Utc::now() + Duration::days(offset))
        .format("%Y%m%d")
        .to_string()
}

#[tokio::test]
async fn migration_creates_partitions_for_today_and_the_next_days() {
    let db = TestDb::new().await;
    let c = db.client().await;
    // Today as the migration saw it: the test's database is a clone of a
    // template migrated when the run began, which may be yesterday by now.
    let applied: String = c
        .query_one(
            "SELECT applied_on FROM outbound.refinery_schema_history WHERE version = 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let migrated = chrono::DateTime::parse_from_rfc3339(&applied)
        .unwrap_or_else(|e| panic!("applied_on {applied}: {e}"))
        .to_utc();
    let day = |offset: i64| {
        (migrated + Duration::days(offset))
            .format("%Y%m%d")
            .to_string()
    };
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

#[tokio::test]
async fn deliveries_still_waiting_at_the_retention_end_with_an_expired_attempt() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let acme = tenant(&c, "acme").await;
    destination(&c, &acme, "d1", &["a"], None).await;
    destination(&c, &acme, "d2", &["a"], None).await;
    store::maintenance::apply_settings(&c, 7).await.unwrap();
    // Two events today, one 15 days ahead, each fanned out to both
    // destinations; deliveries in each state one can wait in: due, parked
    // behind its cap, leased by a worker.
    c.batch_execute(
        "INSERT INTO outbound.events (id, tenant_id, topic, data) VALUES
           ('old', 'acme', 'a', '{}'), ('old2', 'acme', 'a', '{}');
         INSERT INTO outbound.events (id, tenant_id, topic, data, time)
           VALUES ('fresh', 'acme', 'a', '{}', now() + interval '15 days');
         UPDATE outbound.deliveries SET attempts = 2
           WHERE event_id = 'old' AND destination_id = 'd1';
         UPDATE outbound.deliveries SET state = 'parked'
           WHERE event_id = 'old' AND destination_id = 'd2';
         UPDATE outbound.deliveries SET state = 'leased', lease_owner = 'w1', attempts = 1
           WHERE event_id = 'old2' AND destination_id = 'd2';",
    )
    .await
    .unwrap();

    // 20 days later (passed in): today's events are past the 7-day retention.
    let later = Utc::now() + Duration::days(20);
    let maintainer =
        store::maintenance::Maintainer::new(db.pool.clone(), std::time::Duration::from_secs(60));
    let report = maintainer.run_once(Some(later)).await.unwrap();
    assert_eq!(report["deliveries_expired"], 4, "{report}");
    let mut alerts = store::maintenance::expired(&report);
    alerts.sort_by(|a, b| a.destination_id.cmp(&b.destination_id));
    let summary: Vec<(&str, i64, &str)> = alerts
        .iter()
        .map(|a| (a.destination_id.as_str(), a.deliveries, a.event_id.as_str()))
        .collect();
    assert_eq!(
        summary,
        [("d1", 2, "old"), ("d2", 2, "old")],
        "one exhausted-retries alert per destination"
    );
    assert!(alerts.iter().all(|a| a.tenant_id == "acme"));

    // Each ended delivery has its last attempt in the log, numbered after
    // the ones it had.
    let expired = |n: i32| vec![(n, "failed".to_string(), "expired".to_string(), false)];
    assert_eq!(attempts_of(&c, "old", "d1").await, expired(3));
    assert_eq!(attempts_of(&c, "old", "d2").await, expired(1));
    assert_eq!(attempts_of(&c, "old2", "d2").await, expired(2));
    assert_eq!(attempts_of(&c, "old2", "d1").await, expired(1));
    assert!(attempts_of(&c, "fresh", "d1").await.is_empty());

    // What is left of the queue points only at events that still exist.
    let left: Vec<(String, String)> = c
        .query(
            "SELECT d.event_id, d.destination_id FROM outbound.deliveries d ORDER BY 1, 2",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let fresh = |d: &str| ("fresh".to_string(), d.to_string());
    assert_eq!(left, [fresh("d1"), fresh("d2")]);
    let dangling: i64 = c
        .query_one(
            "SELECT count(*) FROM outbound.deliveries d
             WHERE NOT EXISTS (SELECT 1 FROM outbound.events e WHERE e.id = d.event_id)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(dangling, 0);

    // A second run finds nothing more to end.
    let again = maintainer.run_once(Some(later)).await.unwrap();
    assert_eq!(again["deliveries_expired"], 0, "{again}");
    assert!(store::maintenance::expired(&again).is_empty());
    assert_eq!(attempts_of(&c, "old", "d1").await, expired(3));
}

/// The outbox rows maintain() wrote: (topic, data).
async fn outbox(c: &deadpool_postgres::Object) -> Vec<(String, serde_json::Value)> {
    c.query(
        "SELECT topic, data FROM outbound.operator_events ORDER BY time, id",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

/// A delivery of event `id` (at `time`) to every destination of acme.
async fn event_at(c: &deadpool_postgres::Object, id: &str, time: chrono::DateTime<Utc>) {
    c.execute(
        "INSERT INTO outbound.events (id, tenant_id, topic, data, time)
         VALUES ($1, 'acme', 'a', '{\"n\": 1}', $2)",
        &[&id, &time],
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn expired_deliveries_raise_exhausted_retries_from_sql_once_per_window() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let acme = tenant(&c, "acme").await;
    webhook(
        &c,
        &acme,
        "d1",
        &["a"],
        "https://hooks.test/in",
        serde_json::json!({"secret": "whsec_NEVER_SHOWN"}),
    )
    .await;
    store::maintenance::apply_settings(&c, 7).await.unwrap();
    store::maintenance::apply_alert_settings(&c, true, 3_600_000)
        .await
        .unwrap();
    event_at(&c, "old", Utc::now()).await;
    c.execute(
        "UPDATE outbound.deliveries SET attempts = 2 WHERE event_id = 'old'",
        &[],
    )
    .await
    .unwrap();

    // 20 days later (passed in): the event is past the 7-day retention.
    let later = Utc::now() + Duration::days(20);
    let report = store::maintenance::maintain(&c, Some(later)).await.unwrap();
    assert_eq!(report["deliveries_expired"], 1, "{report}");
    assert_eq!(report["exhausted_retries_alerts"], 1, "{report}");
    assert_eq!(
        attempts_of(&c, "old", "d1").await,
        [(3, "failed".to_string(), "expired".to_string(), false)]
    );
    let rows = outbox(&c).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let (topic, data) = &rows[0];
    assert_eq!(topic, "alert.attempt.exhausted_retries");
    assert!(
        !data.to_string().contains("whsec_NEVER_SHOWN"),
        "a credential leaked: {data}"
    );
    let mut keys: Vec<&str> = data
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(keys, ["attempt", "destination", "event", "tenant_id"]);
    assert_eq!(data["tenant_id"], "acme");
    // The event went with its partition: what the delivery knew of it.
    assert_eq!(data["event"]["id"], "old");
    assert!(data["event"]["time"].is_string(), "{data}");
    let attempt = &data["attempt"];
    assert_eq!(attempt["status"], "failed");
    assert_eq!(attempt["code"], "expired");
    assert_eq!(attempt["attempt_number"], 3);
    assert_eq!(attempt["destination_id"], "d1");
    assert_eq!(attempt["event_id"], "old");
    let logged_id: i64 = c
        .query_one(
            "SELECT id FROM outbound.attempts WHERE event_id = 'old' AND code = 'expired'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        attempt["id"],
        logged_id.to_string(),
        "the attempt just logged"
    );
    let d = &data["destination"];
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
        ]
    );
    assert_eq!(d["id"], "d1");

    // Another delivery of d1 expires half an hour later: within the window,
    // no second alert. Two hours later, past the window: a new one.
    event_at(&c, "next", Utc::now()).await;
    let report = store::maintenance::maintain(&c, Some(later + Duration::minutes(30)))
        .await
        .unwrap();
    assert_eq!(report["deliveries_expired"], 1, "{report}");
    assert_eq!(report["exhausted_retries_alerts"], 0, "{report}");
    assert_eq!(outbox(&c).await.len(), 1);
    event_at(&c, "third", Utc::now()).await;
    let report = store::maintenance::maintain(&c, Some(later + Duration::hours(2)))
        .await
        .unwrap();
    assert_eq!(report["exhausted_retries_alerts"], 1, "{report}");
    let rows = outbox(&c).await;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1].1["event"]["id"], "third");
}

#[tokio::test]
async fn expired_deliveries_raise_no_alert_with_the_topic_off() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let acme = tenant(&c, "acme").await;
    destination(&c, &acme, "d1", &["a"], None).await;
    store::maintenance::apply_settings(&c, 7).await.unwrap();
    store::maintenance::apply_alert_settings(&c, false, 3_600_000)
        .await
        .unwrap();
    event_at(&c, "old", Utc::now()).await;
    let later = Utc::now() + Duration::days(20);
    let report = store::maintenance::maintain(&c, Some(later)).await.unwrap();
    assert_eq!(report["deliveries_expired"], 1, "{report}");
    assert_eq!(report["exhausted_retries_alerts"], 0, "{report}");
    assert_eq!(
        attempts_of(&c, "old", "d1").await,
        [(1, "failed".to_string(), "expired".to_string(), false)]
    );
    assert!(outbox(&c).await.is_empty());
}
