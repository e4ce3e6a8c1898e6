//! Topics as Outpost defines them: wildcard subscriptions
//! (TOPICS_ALLOW_WILDCARDS), matched in SQL by the fan-out for API and SQL
//! publishes alike; refused where wildcards are off or match no configured
//! topic; events without a topic.

use serde_json::{json, Value};

use crate::helpers::app::TestApp;
use crate::helpers::db::TestDb;
use crate::helpers::factory::deliveries_of;

async fn create(api: &TestApp, id: &str, topics: Value) -> (u16, Value) {
    api.admin(
        "POST",
        "/api/v1/tenants/acme/destinations",
        Some(json!({"id": id, "type": "webhook", "topics": topics,
                    "config": {"url": "https://receiver.test/hook"}})),
    )
    .await
}

async fn publish(api: &TestApp, id: &str, topic: &str) -> Value {
    let (s, r) = api
        .admin(
            "POST",
            "/api/v1/publish",
            Some(json!({"tenant_id": "acme", "id": id, "topic": topic, "data": {}})),
        )
        .await;
    assert_eq!(s, 202, "{r}");
    r["destination_ids"].clone()
}

#[tokio::test]
async fn wildcard_subscriptions_match_in_the_fan_out() {
    let db = TestDb::new().await;
    let api = TestApp::start_with(&db, |s| s.topics.allow_wildcards = true).await;
    api.admin("PUT", "/api/v1/tenants/acme", None).await;
    for (id, topics) in [
        ("users", json!(["user.*"])),
        ("created", json!(["*.created"])),
        ("completed", json!(["order.*.completed"])),
        // LIKE's own wildcards are plain characters in a topic.
        ("literal", json!(["a_b%.*"])),
        ("exact", json!(["order.paid"])),
    ] {
        let (s, r) = create(&api, id, topics.clone()).await;
        assert_eq!(s, 201, "{r}");
        assert_eq!(r["topics"], topics);
    }
    assert_eq!(
        publish(&api, "e1", "user.created").await,
        json!(["created", "users"])
    );
    assert_eq!(
        publish(&api, "e2", "user.profile.updated").await,
        json!(["users"])
    );
    assert_eq!(
        publish(&api, "e3", "order.created").await,
        json!(["created"])
    );
    assert_eq!(
        publish(&api, "e4", "order.payment.completed").await,
        json!(["completed"])
    );
    assert_eq!(publish(&api, "e5", "order.paid").await, json!(["exact"]));
    assert_eq!(publish(&api, "e6", "axb%.c").await, json!([]));
    assert_eq!(publish(&api, "e7", "a_b%.c").await, json!(["literal"]));
    assert_eq!(publish(&api, "e8", "users").await, json!([]));

    // An application's own INSERT fans out the same way.
    let c = db.client().await;
    c.batch_execute(
        "INSERT INTO outbound.events (id, tenant_id, topic, data)
         VALUES ('s1', 'acme', 'user.deleted', '{}'), ('s2', 'acme', 'invoice.created', '{}')",
    )
    .await
    .unwrap();
    assert_eq!(deliveries_of(&c, "s1").await, ["users"]);
    assert_eq!(deliveries_of(&c, "s2").await, ["created"]);

    // A destination written in SQL with a pattern but not its LIKE
    // patterns would never match: refused, naming the constraint.
    let err = c
        .execute(
            "INSERT INTO outbound.destinations (id, tenant_id, type, topics, config, credentials)
             VALUES ('by_hand', 'acme', 'webhook', '{order.*}', '{}', '{}')",
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.as_db_error().and_then(|e| e.constraint()),
        Some("destinations_topic_patterns_required"),
        "{err:?}"
    );
    c.execute(
        "INSERT INTO outbound.destinations (id, tenant_id, type, topics, config, credentials, topic_patterns)
         VALUES ('by_hand', 'acme', 'webhook', '{order.*}', '{}', '{}', '{order.%}')",
        &[],
    )
    .await
    .unwrap();

    // The destinations list's topic filter finds the patterns' subscribers.
    let (s, list) = api
        .admin(
            "GET",
            "/api/v1/tenants/acme/destinations?topics=user.created",
            None,
        )
        .await;
    assert_eq!(s, 200, "{list}");
    let mut ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, ["created", "users"]);

    // A PATCH to a pattern takes effect at once; a covered topic beside a
    // pattern is folded into it, as Outpost normalizes.
    let (s, r) = api
        .admin(
            "PATCH",
            "/api/v1/tenants/acme/destinations/exact",
            Some(json!({"topics": ["order.paid", "order.*"]})),
        )
        .await;
    assert_eq!((s, r["topics"].clone()), (200, json!(["order.*"])), "{r}");
    // by_hand (made in SQL with its patterns) takes it too.
    assert_eq!(
        publish(&api, "e9", "order.refunded").await,
        json!(["by_hand", "exact"])
    );
}

#[tokio::test]
async fn patterns_are_refused_where_wildcards_are_off() {
    let db = TestDb::new().await;
    let api = TestApp::start(&db).await;
    api.admin("PUT", "/api/v1/tenants/acme", None).await;
    let (s, r) = create(&api, "users", json!(["user.*"])).await;
    assert_eq!(s, 422, "never a silently dead subscription: {r}");
    let problem = r["data"][0].as_str().unwrap();
    assert!(
        problem.contains("\"user.*\"") && problem.contains("TOPICS_ALLOW_WILDCARDS"),
        "{problem}"
    );
    // `*` alone still subscribes to everything.
    assert_eq!(create(&api, "all", json!(["*"])).await.0, 201);
    // An event's topic is a name, not a pattern.
    let (s, r) = api
        .admin(
            "POST",
            "/api/v1/publish",
            Some(json!({"tenant_id": "acme", "topic": "user.*", "data": {}})),
        )
        .await;
    assert_eq!(s, 422, "{r}");
}

#[tokio::test]
async fn with_a_topic_list_a_pattern_must_match_a_listed_topic() {
    let db = TestDb::new().await;
    let api = TestApp::start_with(&db, |s| {
        s.topics.allow_wildcards = true;
        s.topics.topics = Some(vec!["user.created".into(), "order.paid".into()]);
    })
    .await;
    api.admin("PUT", "/api/v1/tenants/acme", None).await;
    assert_eq!(create(&api, "users", json!(["user.*"])).await.0, 201);
    let (s, r) = create(&api, "invoices", json!(["invoice.*"])).await;
    assert_eq!(s, 422, "{r}");
    assert!(
        r["data"][0].as_str().unwrap().contains("matches none"),
        "{r}"
    );

    // With a list, the topic is required; `*` goes to everyone.
    let (s, r) = api
        .admin(
            "POST",
            "/api/v1/publish",
            Some(json!({"tenant_id": "acme", "data": {}})),
        )
        .await;
    assert_eq!((s, r["data"].clone()), (422, json!(["topic is required"])));
    assert_eq!(publish(&api, "e1", "*").await, json!(["users"]));
}

#[tokio::test]
async fn an_event_without_a_topic_goes_to_every_destination() {
    let db = TestDb::new().await;
    let api = TestApp::start(&db).await;
    api.admin("PUT", "/api/v1/tenants/acme", None).await;
    assert_eq!(create(&api, "a", json!(["user.created"])).await.0, 201);
    assert_eq!(create(&api, "b", json!(["*"])).await.0, 201);
    let (s, r) = api
        .admin(
            "POST",
            "/api/v1/publish",
            Some(json!({"tenant_id": "acme", "id": "e1", "data": {"x": 1}})),
        )
        .await;
    assert_eq!(
        (s, r["destination_ids"].clone()),
        (202, json!(["a", "b"])),
        "{r}"
    );
    let (s, e) = api
        .admin("GET", "/api/v1/events/e1?tenant_id=acme", None)
        .await;
    assert_eq!((s, e["topic"].clone()), (200, json!("")), "{e}");

    // The topic's length is still checked for SQL publishers.
    let c = db.client().await;
    let long = "t".repeat(256);
    let err = c
        .execute(
            "INSERT INTO outbound.events (id, tenant_id, topic, data) VALUES ('e2', 'acme', $1, '{}')",
            &[&long],
        )
        .await
        .unwrap_err();
    let message = err.as_db_error().map(|e| e.message().to_string());
    assert!(
        message
            .as_deref()
            .is_some_and(|m| m.contains("longer than 255")),
        "{err:?}"
    );
}
