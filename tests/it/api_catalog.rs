//! The topic catalog, schema validation and "test a destination".

use chrono::Utc;
use serde_json::json;

use crate::helpers::app::TestApp;
use crate::helpers::db::TestDb;
use crate::helpers::receiver::TestReceiver;

/// The API with the example catalog (`TOPICS_CATALOG=examples/topics.yaml`),
/// whose topics are then the allowed list.
async fn start(db: &TestDb, validate: bool) -> TestApp {
    TestApp::start_with(db, |s| {
        s.topics.catalog =
            Some(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/topics.yaml").into());
        s.topics.validate_schema = validate;
    })
    .await
}

#[tokio::test]
async fn the_catalog_is_listed_and_searchable() {
    let db = TestDb::new().await;
    let api = start(&db, false).await;
    let (s, all) = api.admin("GET", "/api/v1/topics/catalog", None).await;
    assert_eq!(s, 200);
    let names: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "user.created",
            "user.updated",
            "employee.updated",
            "campaign.completed",
            "access_review.completed"
        ]
    );
    assert_eq!(all[0]["sample"]["email"], "ada@example.com");
    assert_eq!(all[0]["schema"]["required"], json!(["user_id", "email"]));
    let (_, found) = api
        .admin("GET", "/api/v1/topics/catalog?search=USER", None)
        .await;
    assert_eq!(found.as_array().unwrap().len(), 2);
    let (_, topics) = api.admin("GET", "/api/v1/topics", None).await;
    assert_eq!(topics.as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn published_data_is_validated_against_the_topic_schema_when_enabled() {
    let db = TestDb::new().await;
    let api = start(&db, true).await;
    api.admin("PUT", "/api/v1/tenants/acme", None).await;
    let ok = api
        .admin("POST", "/api/v1/publish", Some(json!({"tenant_id": "acme", "topic": "user.created", "data": {"user_id": "u", "email": "a@b.c"}})))
        .await;
    assert_eq!(ok.0, 202, "{}", ok.1);
    let (s, e) = api
        .admin(
            "POST",
            "/api/v1/publish",
            Some(json!({"tenant_id": "acme", "topic": "user.created", "data": {"user_id": 7}})),
        )
        .await;
    assert_eq!(s, 422);
    let msgs: Vec<&str> = e["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    assert!(
        msgs.iter().any(|m| m.starts_with("data/user_id")),
        "{msgs:?}"
    );
    assert!(msgs.iter().any(|m| m.contains("email")), "{msgs:?}");
}

#[tokio::test]
async fn testing_a_destination_delivers_the_sample_and_shows_in_events() {
    let db = TestDb::new().await;
    let api = start(&db, false).await;
    let rx = TestReceiver::start().await;
    api.admin("PUT", "/api/v1/tenants/acme", None).await;
    let (_, d) = api
        .admin("POST", "/api/v1/tenants/acme/destinations", Some(json!({"id": "d1", "type": "webhook", "topics": ["campaign.completed"], "config": {"url": rx.url("/t")}})))
        .await;
    api.admin("POST", "/api/v1/tenants/acme/destinations", Some(json!({"id": "d2", "type": "webhook", "topics": ["*"], "config": {"url": rx.url("/other")}})))
        .await;
    assert_eq!(d["id"], "d1");
    let (s, r) = api
        .admin(
            "POST",
            "/api/v1/tenants/acme/destinations/d1/test",
            Some(json!({})),
        )
        .await;
    assert_eq!(s, 202, "{r}");
    assert_eq!(
        r["destination_ids"],
        json!(["d1"]),
        "only the tested destination"
    );
    assert_eq!(r["topic"], "campaign.completed");
    api.worker().run_once(Utc::now()).await.unwrap();
    let got = rx.requests();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].path, "/t");
    let body: serde_json::Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(body["campaign_id"], "cmp_winter_sale");
    let (_, events) = api
        .admin("GET", "/api/v1/events?tenant_id=acme", None)
        .await;
    assert_eq!(events["models"][0]["id"], r["id"]);

    let (s, _) = api
        .admin(
            "POST",
            "/api/v1/tenants/acme/destinations/d1/test",
            Some(json!({"topic": "user.created"})),
        )
        .await;
    assert_eq!(s, 422, "not subscribed");
    let (s, _) = api
        .admin("POST", "/api/v1/tenants/acme/destinations/nope/test", None)
        .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn the_filter_preview_answers_like_the_fan_out() {
    let db = TestDb::new().await;
    let api = start(&db, false).await;
    api.admin("PUT", "/api/v1/tenants/acme", None).await;
    let sample = json!({"topic": "user.created",
                        "data": {"user_id": "usr_1", "email": "ada@example.com", "roles": ["member"]}});
    let (_, tok) = api.admin("GET", "/api/v1/tenants/acme/token", None).await;
    let token = tok["token"].as_str().unwrap();
    let (api, sample) = (&api, &sample);
    let ask = |filter: serde_json::Value| {
        let body = json!({"filter": filter, "event": sample});
        async move {
            api.as_token(token, "POST", "/api/v1/filters/match", Some(body))
                .await
        }
    };
    let (s, r) = ask(json!({"data": {"roles": ["member"]}})).await;
    assert_eq!((s, r), (200, json!({"matches": true})));
    let (s, r) =
        ask(json!({"topic": "user.created", "data": {"email": {"$startsWith": "ada@"}}})).await;
    assert_eq!((s, r), (200, json!({"matches": true})));
    let (s, r) = ask(json!({"data": {"user_id": {"$in": ["usr_2", "usr_3"]}}})).await;
    assert_eq!((s, r), (200, json!({"matches": false})));

    // A filter the API would refuse at create is refused here, with the same words.
    let (s, r) = ask(json!({"data": {"n": {"$gt": "x", "$nope": 1}}})).await;
    assert_eq!(s, 422, "{r}");
    let bad_create = api
        .admin(
            "POST",
            "/api/v1/tenants/acme/destinations",
            Some(json!({"type": "webhook", "topics": ["*"], "config": {"url": "https://example.com/"},
                        "filter": {"data": {"n": {"$gt": "x", "$nope": 1}}}})),
        )
        .await;
    assert_eq!(bad_create.0, 422);
    assert_eq!(
        r["data"], bad_create.1["data"],
        "the same messages as at create"
    );

    // Only for someone signed in.
    let (s, _) = api
        .raw(
            "POST",
            "/api/v1/filters/match",
            None,
            Some(&json!({"filter": {}, "event": sample}).to_string()),
        )
        .await;
    assert_eq!(s, 401);
}
