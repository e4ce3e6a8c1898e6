//! Fan-out by plain SQL inserts: which destinations get a delivery.

use serde_json::json;

use crate::helpers::db::TestDb;
use crate::helpers::factory::{deliveries_of, destination, tenant};

async fn insert_event(
    client: &deadpool_postgres::Object,
    id: &str,
    tenant: &str,
    topic: &str,
    data: &str,
) {
    client
        .execute(
            "INSERT INTO outbound.events (id, tenant_id, topic, data) VALUES ($1, $2, $3, $4::text::json)",
            &[&id, &tenant, &topic, &data],
        )
        .await
        .expect("insert event");
}

#[tokio::test]
async fn topics_star_disabled_held_and_other_tenants() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let acme = tenant(&c, "acme").await;
    let other = tenant(&c, "other").await;
    destination(&c, &acme, "d_created", &["user.created"], None).await;
    destination(&c, &acme, "d_many", &["user.updated", "user.created"], None).await;
    destination(&c, &acme, "d_star", &["*"], None).await;
    destination(&c, &acme, "d_deleted", &["user.deleted"], None).await;
    destination(&c, &acme, "d_disabled", &["*"], None).await;
    destination(&c, &other, "d_other", &["*"], None).await;
    c.execute(
        "UPDATE outbound.destinations SET disabled_at = now() WHERE id = 'd_disabled'",
        &[],
    )
    .await
    .unwrap();

    // The disabled destination gets its events too, held for it.
    insert_event(&c, "e1", "acme", "user.created", r#"{"id": 1}"#).await;
    assert_eq!(
        deliveries_of(&c, "e1").await,
        ["d_created", "d_disabled", "d_many", "d_star"]
    );

    insert_event(&c, "e2", "acme", "campaign.completed", r#"{}"#).await;
    assert_eq!(deliveries_of(&c, "e2").await, ["d_disabled", "d_star"]);
    let states: Vec<(String, String)> = c
        .query(
            "SELECT destination_id, state::text FROM outbound.deliveries
             WHERE event_id = 'e2' ORDER BY destination_id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        states,
        [
            ("d_disabled".to_string(), "held".to_string()),
            ("d_star".to_string(), "pending".to_string())
        ]
    );

    insert_event(&c, "e3", "other", "user.deleted", r#"{}"#).await;
    assert_eq!(deliveries_of(&c, "e3").await, ["d_other"]);

    // Queue rows carry what a worker needs to find the event and retry policy.
    let row = c
        .query_one(
            "SELECT d.tenant_id, d.state::text, d.attempts, d.retry, d.event_time = e.time
             FROM outbound.deliveries d JOIN outbound.events e ON e.id = d.event_id
             WHERE d.event_id = 'e1' AND d.destination_id = 'd_star'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "acme");
    assert_eq!(row.get::<_, String>(1), "pending");
    assert_eq!(row.get::<_, i32>(2), 0);
    assert!(row.get::<_, bool>(3));
    assert!(row.get::<_, bool>(4));
}

#[tokio::test]
async fn an_event_with_no_match_is_still_recorded() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let acme = tenant(&c, "acme").await;
    destination(&c, &acme, "d1", &["user.created"], None).await;
    insert_event(&c, "lonely", "acme", "nobody.listens", r#"{"a":1}"#).await;
    assert!(deliveries_of(&c, "lonely").await.is_empty());
    let n: i64 = c
        .query_one(
            "SELECT count(*) FROM outbound.events WHERE id = 'lonely'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
}

#[tokio::test]
async fn filters_are_evaluated_in_the_fan_out() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let acme = tenant(&c, "acme").await;
    destination(
        &c,
        &acme,
        "reviewers",
        &["*"],
        Some(json!({"data": {"roles": ["reviewer"]}})),
    )
    .await;
    destination(
        &c,
        &acme,
        "adults",
        &["*"],
        Some(json!({"data": {"age": {"$gte": 18}}})),
    )
    .await;
    destination(
        &c,
        &acme,
        "eu",
        &["*"],
        Some(json!({"metadata": {"region": "eu"}})),
    )
    .await;
    destination(
        &c,
        &acme,
        "either",
        &["*"],
        Some(json!({"$or": [{"topic": "user.deleted"}, {"data": {"plan": {"$in": ["pro", "team"]}}}]})),
    )
    .await;
    destination(&c, &acme, "empty_filter", &["*"], Some(json!({}))).await;

    insert_event(
        &c,
        "e1",
        "acme",
        "user.created",
        r#"{"roles":["admin","reviewer"],"age":30}"#,
    )
    .await;
    assert_eq!(
        deliveries_of(&c, "e1").await,
        ["adults", "empty_filter", "reviewers"]
    );

    insert_event(
        &c,
        "e2",
        "acme",
        "user.created",
        r#"{"roles":["admin"],"age":17,"plan":"pro"}"#,
    )
    .await;
    assert_eq!(deliveries_of(&c, "e2").await, ["either", "empty_filter"]);

    insert_event(&c, "e3", "acme", "user.deleted", r#"{"age":"thirty"}"#).await;
    assert_eq!(deliveries_of(&c, "e3").await, ["either", "empty_filter"]);

    c.execute(
        "INSERT INTO outbound.events (id, tenant_id, topic, data, metadata)
         VALUES ('e4', 'acme', 'user.created', '{}', '{\"region\":\"eu\"}')",
        &[],
    )
    .await
    .unwrap();
    assert_eq!(deliveries_of(&c, "e4").await, ["empty_filter", "eu"]);
}

#[tokio::test]
async fn a_filter_without_its_compiled_predicate_is_refused() {
    let db = TestDb::new().await;
    let c = db.client().await;
    tenant(&c, "acme").await;
    let err = c
        .execute(
            "INSERT INTO outbound.destinations (id, tenant_id, type, topics, filter)
             VALUES ('d', 'acme', 'webhook', '{*}', '{\"data\":{\"a\":1}}')",
            &[],
        )
        .await
        .unwrap_err();
    let db_err = err.as_db_error().expect("server error");
    assert_eq!(db_err.constraint(), Some("destinations_filter_compiled"));
}

#[tokio::test]
async fn insert_select_of_10000_events_fans_out_in_one_statement() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let acme = tenant(&c, "acme").await;
    let other = tenant(&c, "other").await;
    destination(&c, &acme, "all", &["*"], None).await;
    destination(&c, &acme, "created", &["user.created"], None).await;
    destination(
        &c,
        &acme,
        "even",
        &["*"],
        Some(json!({"data": {"even": true}})),
    )
    .await;
    destination(&c, &acme, "never", &["user.deleted"], None).await;
    destination(&c, &other, "other", &["*"], None).await;

    // Mark a worker idle so the trigger notifies; count notifications.
    c.execute(
        "INSERT INTO outbound.workers (id, idle) VALUES ('w', true)",
        &[],
    )
    .await
    .unwrap();
    let (_listener, notes) = db.listen("outbound_deliveries").await;

    let n = c
        .execute(
            "INSERT INTO outbound.events (id, tenant_id, topic, data)
             SELECT 'bulk-' || g, 'acme', CASE WHEN g % 2 = 0 THEN 'user.created' ELSE 'user.updated' END,
                    json_build_object('n', g, 'even', g % 2 = 0)
             FROM generate_series(1, 10000) AS g",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(n, 10_000);

    let rows = c
        .query(
            "SELECT destination_id, count(*), count(DISTINCT event_id)
             FROM outbound.deliveries GROUP BY 1 ORDER BY 1",
            &[],
        )
        .await
        .unwrap();
    let counts: Vec<(String, i64, i64)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        counts,
        [
            ("all".to_string(), 10_000, 10_000),
            ("created".to_string(), 5_000, 5_000),
            ("even".to_string(), 5_000, 5_000),
        ]
    );
    // One notification for the whole statement, not one per row.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(notes.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn no_notification_while_no_worker_is_idle() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let acme = tenant(&c, "acme").await;
    destination(&c, &acme, "all", &["*"], None).await;
    c.execute(
        "INSERT INTO outbound.workers (id, idle) VALUES ('busy', false)",
        &[],
    )
    .await
    .unwrap();
    let (_listener, notes) = db.listen("outbound_deliveries").await;
    insert_event(&c, "quiet", "acme", "a.b", "{}").await;
    c.execute("UPDATE outbound.workers SET idle = true", &[])
        .await
        .unwrap();
    insert_event(&c, "loud", "acme", "a.b", "{}").await;
    let got = crate::helpers::eventually(std::time::Duration::from_secs(5), || {
        let n = notes.lock().unwrap().len();
        async move { (n >= 1).then_some(n) }
    })
    .await;
    assert_eq!(
        got,
        Some(1),
        "exactly one notification: the statement after a worker went idle"
    );
}

#[tokio::test]
async fn the_first_publisher_after_a_worker_went_idle_wakes_it_and_the_rest_stay_quiet() {
    let db = TestDb::new().await;
    let mut c = db.client().await;
    let acme = tenant(&c, "acme").await;
    destination(&c, &acme, "all", &["*"], None).await;
    c.execute(
        "INSERT INTO outbound.workers (id, idle) VALUES ('sleeper', true)",
        &[],
    )
    .await
    .unwrap();
    let (_listener, notes) = db.listen("outbound_deliveries").await;
    // A publish that rolls back wakes nobody and leaves the flag set.
    let tx = c.transaction().await.unwrap();
    tx.execute(
        "INSERT INTO outbound.events (id, tenant_id, topic, data) VALUES ('undone', 'acme', 'a.b', '{}')",
        &[],
    )
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    assert!(
        sleeper_idle(&c).await,
        "a rolled-back publish must not clear the flag"
    );

    // The first committed publish clears it and notifies; the next ones
    // find no idle worker and do not notify.
    insert_event(&c, "first", "acme", "a.b", "{}").await;
    assert!(
        !sleeper_idle(&c).await,
        "the waking publisher clears the flag"
    );
    insert_event(&c, "second", "acme", "a.b", "{}").await;
    insert_event(&c, "third", "acme", "a.b", "{}").await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(notes.lock().unwrap().len(), 1, "one notification per sleep");

    // The worker goes back to sleep: the next publisher wakes it again.
    c.execute("UPDATE outbound.workers SET idle = true", &[])
        .await
        .unwrap();
    insert_event(&c, "fourth", "acme", "a.b", "{}").await;
    let got = crate::helpers::eventually(std::time::Duration::from_secs(5), || {
        let n = notes.lock().unwrap().len();
        async move { (n >= 2).then_some(n) }
    })
    .await;
    assert_eq!(got, Some(2));
}

async fn sleeper_idle(c: &tokio_postgres::Client) -> bool {
    c.query_one(
        "SELECT idle FROM outbound.workers WHERE id = 'sleeper'",
        &[],
    )
    .await
    .unwrap()
    .get(0)
}
