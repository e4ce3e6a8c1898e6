//! Destinations over real HTTP: validation, merge-patch, masking, secrets.

use chrono::Utc;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};

use crate::helpers::app::TestApp;
use crate::helpers::db::TestDb;
use crate::helpers::receiver::TestReceiver;

async fn setup() -> (TestDb, TestApp) {
    let db = TestDb::new().await;
    let api = TestApp::start(&db).await;
    api.admin("PUT", "/api/v1/tenants/acme", None).await;
    api.admin("PUT", "/api/v1/tenants/other", None).await;
    (db, api)
}

#[tokio::test]
async fn create_validates_against_the_type_schema() {
    let (_db, api) = setup().await;
    let (s, e) = api
        .admin(
            "POST",
            "/api/v1/tenants/acme/destinations",
            Some(json!({"type": "webhook", "topics": ["*"], "config": {}})),
        )
        .await;
    assert_eq!(s, 422, "{e}");
    assert_eq!(e["status"], 422);
    assert!(
        e["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m.as_str().unwrap().starts_with("config.url")),
        "{e}"
    );
    let (s, e) = api
        .admin(
            "POST",
            "/api/v1/tenants/acme/destinations",
            Some(json!({"type": "webhook", "topics": ["*"], "config": {"url": "ftp://x"}})),
        )
        .await;
    assert_eq!(s, 422, "{e}");
    let (s, e) = api
        .admin(
            "POST",
            "/api/v1/tenants/acme/destinations",
            Some(json!({"type": "carrier_pigeon", "topics": ["*"]})),
        )
        .await;
    assert_eq!(s, 422);
    assert!(e["data"][0].as_str().unwrap().contains("carrier_pigeon"));
    let (s, e) = api
        .admin(
            "POST",
            "/api/v1/tenants/acme/destinations",
            Some(json!({"type": "aws_sqs", "topics": ["*"], "config": {"queue_url": "https://sqs.example.com/1/q"}, "credentials": {}})),
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
        msgs.iter().any(|m| m.starts_with("credentials.key")),
        "{msgs:?}"
    );
    assert!(
        msgs.iter().any(|m| m.starts_with("credentials.secret")),
        "{msgs:?}"
    );
    let (s, e) = api
        .admin(
            "POST",
            "/api/v1/tenants/acme/destinations",
            Some(json!({"type": "webhook", "topics": ["*"], "config": {"url": "https://x.test/h"}, "filter": {"data": {"age": {"$foo": 1}}}})),
        )
        .await;
    assert_eq!(s, 422);
    assert!(e["data"][0].as_str().unwrap().contains("$foo"), "{e}");
    let (s, _) = api
        .admin(
            "POST",
            "/api/v1/tenants/acme/destinations",
            Some(json!({"topics": []})),
        )
        .await;
    assert_eq!(s, 422);
    let (s, _) = api
        .raw(
            "POST",
            "/api/v1/tenants/acme/destinations",
            Some("test-api-key"),
            Some("["),
        )
        .await;
    assert_eq!(s, 400);
    let (s, _) = api
        .admin(
            "POST",
            "/api/v1/tenants/ghost/destinations",
            Some(json!({"type": "webhook", "topics": ["*"], "config": {"url": "https://x.test"}})),
        )
        .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn webhook_lifecycle_with_secrets_patch_and_rotation() {
    let (db, api) = setup().await;
    let rx = TestReceiver::start().await;
    let (s, d) = api
        .admin(
            "POST",
            "/api/v1/tenants/acme/destinations",
            Some(json!({"id": "des_1", "type": "webhook", "topics": ["user.created"], "config": {"url": rx.url("/h")},
                        "metadata": {"team": "core"}, "delivery_metadata": {"region": "eu"}})),
        )
        .await;
    assert_eq!(s, 201, "{d}");
    assert_eq!(d["id"], "des_1");
    let secret = d["credentials"]["secret"].as_str().unwrap().to_string();
    assert!(
        secret.starts_with("whsec_") && secret.len() == 6 + 64,
        "{secret}"
    );
    // Outpost's shape: the URL is the target; a webhook has no console link.
    assert_eq!(
        (d["target"].clone(), d["target_url"].clone()),
        (json!(rx.url("/h")), Value::Null)
    );
    assert!(d["disabled_at"].is_null());
    // Encrypted at rest.
    let c = db.client().await;
    let stored: String = c
        .query_one(
            "SELECT credentials->>'secret' FROM outbound.destinations WHERE id = 'des_1'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(stored.starts_with("enc:v1:"), "{stored}");
    assert_eq!(
        api.admin("POST", "/api/v1/tenants/acme/destinations", Some(json!({"id": "des_1", "type": "webhook", "topics": ["*"], "config": {"url": "https://x.test"}}))).await.0,
        409
    );

    // Merge-patch: config merges, metadata keys delete with null, topics replace.
    let (s, d) = api
        .admin(
            "PATCH",
            "/api/v1/tenants/acme/destinations/des_1",
            Some(json!({"topics": ["*"], "metadata": {"team": null, "owner": "ops"}, "config": {"custom_headers": {"x-k": "v"}}})),
        )
        .await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["topics"], json!(["*"]));
    assert_eq!(d["metadata"], json!({"owner": "ops"}));
    assert_eq!(d["delivery_metadata"], json!({"region": "eu"}));
    assert_eq!(d["config"]["url"], rx.url("/h"));
    assert_eq!(
        d["credentials"]["secret"], secret,
        "an echoed secret changes nothing"
    );
    let (s, e) = api
        .admin(
            "PATCH",
            "/api/v1/tenants/acme/destinations/des_1",
            Some(json!({"type": "aws_sqs"})),
        )
        .await;
    assert_eq!(s, 422, "{e}");

    // A tenant cannot set the secret, but can rotate it.
    let (_, tok) = api.admin("GET", "/api/v1/tenants/acme/token", None).await;
    let token = tok["token"].as_str().unwrap();
    let (s, _) = api
        .as_token(
            token,
            "PATCH",
            "/api/v1/tenants/acme/destinations/des_1",
            Some(json!({"credentials": {"secret": "whsec_mine"}})),
        )
        .await;
    assert_eq!(s, 403);
    let (s, d) = api
        .as_token(
            token,
            "PATCH",
            "/api/v1/tenants/acme/destinations/des_1",
            Some(json!({"credentials": {"rotate_secret": true}})),
        )
        .await;
    assert_eq!(s, 200, "{d}");
    let new_secret = d["credentials"]["secret"].as_str().unwrap().to_string();
    assert_ne!(new_secret, secret);
    assert_eq!(d["credentials"]["previous_secret"], secret);
    let until: chrono::DateTime<Utc> = d["credentials"]["previous_secret_invalid_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((until - Utc::now()).num_hours() >= 23);

    // The receiver sees both signatures, newest first.
    api.admin(
        "POST",
        "/api/v1/publish",
        Some(json!({"tenant_id": "acme", "topic": "user.created", "data": {"x": 1}})),
    )
    .await;
    api.worker().run_once(Utc::now()).await.unwrap();
    let req = &rx.requests()[0];
    let sig = |k: &str| {
        let mut m = Hmac::<sha2::Sha256>::new_from_slice(k.as_bytes()).unwrap();
        m.update(&req.body);
        hex::encode(m.finalize().into_bytes())
    };
    assert_eq!(
        req.header("x-outpost-signature").unwrap(),
        format!("v0={},{}", sig(&new_secret), sig(&secret))
    );
    assert_eq!(req.header("x-outpost-region"), Some("eu"));
    assert_eq!(req.header("x-k"), Some("v"));

    // Other tenants can neither see nor touch it.
    let (_, tok) = api.admin("GET", "/api/v1/tenants/other/token", None).await;
    let other = tok["token"].as_str().unwrap();
    for (m, p) in [
        ("GET", "/api/v1/tenants/acme/destinations"),
        ("GET", "/api/v1/tenants/acme/destinations/des_1"),
        ("PATCH", "/api/v1/tenants/acme/destinations/des_1"),
        ("DELETE", "/api/v1/tenants/acme/destinations/des_1"),
        ("PUT", "/api/v1/tenants/acme/destinations/des_1/disable"),
    ] {
        assert_eq!(
            api.as_token(other, m, p, Some(json!({}))).await.0,
            403,
            "{m} {p}"
        );
    }
    assert_eq!(
        api.as_token(
            other,
            "GET",
            "/api/v1/tenants/other/destinations/des_1",
            None
        )
        .await
        .0,
        404
    );

    // Disable, enable, list filters, delete.
    let (s, d) = api
        .admin(
            "PUT",
            "/api/v1/tenants/acme/destinations/des_1/disable",
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert!(d["disabled_at"].is_string());
    assert_eq!(d["disabled_reason"], "manual");
    let (_, d) = api
        .admin(
            "PUT",
            "/api/v1/tenants/acme/destinations/des_1/enable",
            None,
        )
        .await;
    assert!(d["disabled_at"].is_null());
    assert!(d["disabled_reason"].is_null());
    let (_, l) = api
        .admin(
            "GET",
            "/api/v1/tenants/acme/destinations?type=webhook&topics=user.created",
            None,
        )
        .await;
    assert_eq!(l.as_array().unwrap().len(), 1);
    let (_, l) = api
        .admin(
            "GET",
            "/api/v1/tenants/acme/destinations?type=aws_sqs",
            None,
        )
        .await;
    assert_eq!(l, json!([]));
    let (s, b) = api
        .admin("DELETE", "/api/v1/tenants/acme/destinations/des_1", None)
        .await;
    assert_eq!((s, b), (200, json!({"success": true})));
    assert_eq!(
        api.admin("GET", "/api/v1/tenants/acme/destinations/des_1", None)
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn sensitive_credentials_are_masked_and_a_masked_value_sent_back_keeps_the_secret() {
    let (db, api) = setup().await;
    let (s, d) = api
        .admin(
            "POST",
            "/api/v1/tenants/acme/destinations",
            Some(json!({"type": "aws_sqs", "topics": ["*"],
                        "config": {"queue_url": "https://sqs.us-east-1.amazonaws.com/1/q"},
                        "credentials": {"key": "AKIAEXAMPLEKEY123", "secret": "very-secret-value-42"}})),
        )
        .await;
    assert_eq!(s, 201, "{d}");
    let id = d["id"].as_str().unwrap().to_string();
    assert_eq!(d["credentials"]["key"], "AKIA*************");
    assert_eq!(d["credentials"]["secret"], "very****************");
    let c = db.client().await;
    let raw: String = c
        .query_one(
            "SELECT credentials::text FROM outbound.destinations WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap()
        .get(0);
    assert!(!raw.contains("very-secret"), "encrypted at rest: {raw}");
    // Round trip: the masked values sent back keep the stored ones.
    let (s, d2) = api
        .admin(
            "PATCH",
            &format!("/api/v1/tenants/acme/destinations/{id}"),
            Some(json!({"credentials": d["credentials"]})),
        )
        .await;
    assert_eq!(s, 200, "{d2}");
    assert_eq!(d2["credentials"], d["credentials"]);
    let (_, d3) = api
        .admin(
            "PATCH",
            &format!("/api/v1/tenants/acme/destinations/{id}"),
            Some(json!({"credentials": {"secret": "another-secret-9"}})),
        )
        .await;
    assert_eq!(d3["credentials"]["secret"], "anot************");
    assert_eq!(d3["credentials"]["key"], "AKIA*************");
}

#[tokio::test]
async fn destination_types_and_the_per_tenant_cap() {
    let db = TestDb::new().await;
    let api = TestApp::start_with(&db, |s| s.api.max_destinations_per_tenant = 2).await;
    api.admin("PUT", "/api/v1/tenants/acme", None).await;
    let (s, types) = api.admin("GET", "/api/v1/destination-types", None).await;
    assert_eq!(s, 200);
    let names: Vec<&str> = types
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["type"].as_str().unwrap())
        .collect();
    for t in [
        "webhook",
        "aws_sqs",
        "aws_s3",
        "aws_kinesis",
        "rabbitmq",
        "gcp_pubsub",
    ] {
        assert!(names.contains(&t), "{names:?}");
    }
    let (s, w) = api
        .admin("GET", "/api/v1/destination-types/webhook", None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(w["config_fields"][0]["key"], "url");
    assert_eq!(
        api.admin("GET", "/api/v1/destination-types/nope", None)
            .await
            .0,
        404
    );
    for _ in 0..2 {
        let (s, _) = api
            .admin("POST", "/api/v1/tenants/acme/destinations", Some(json!({"type": "webhook", "topics": ["*"], "config": {"url": "https://x.test"}})))
            .await;
        assert_eq!(s, 201);
    }
    let (s, e) = api
        .admin(
            "POST",
            "/api/v1/tenants/acme/destinations",
            Some(json!({"type": "webhook", "topics": ["*"], "config": {"url": "https://x.test"}})),
        )
        .await;
    assert_eq!(s, 400, "Outpost answers the limit with 400: {e}");
    assert!(e["message"].as_str().unwrap().contains("at most 2"));
}
