//! The public-API steps the cloud destination tests share: the service with
//! the example topic catalog (so `POST …/test` works) and a short retry
//! schedule, creating a destination, publishing an event exactly as
//! written, and reading a destination's attempts back.

use std::time::Duration;

use outbound::config::Settings;
use serde_json::Value;

use super::app::TestApp;
use super::db::TestDb;

/// The data every test publishes: key order, spacing and number spelling
/// that a re-serialisation would change.
pub const DATA: &str = r#"{"user_id":"usr_1",  "z":1, "a":[1.50]}"#;

/// Retries 5 s apart, three of them.
pub fn settings(s: &mut Settings) {
    s.topics.catalog = Some(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/topics.yaml").into());
    s.delivery.retry_schedule = Some(vec![Duration::from_secs(5); 3]);
}

/// The API, with tenant `acme`.
pub async fn start(db: &TestDb, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let api = TestApp::start_with(db, |s| {
        settings(s);
        tweak(s);
    })
    .await;
    let (s, _) = api.admin("PUT", "/api/v1/tenants/acme", None).await;
    assert!(s == 200 || s == 201, "tenant: {s}");
    api
}

/// Creates a destination of `acme`; the status and the answer.
pub async fn create(api: &TestApp, body: Value) -> (u16, Value) {
    api.admin("POST", "/api/v1/tenants/acme/destinations", Some(body))
        .await
}

/// Publishes [`DATA`] on `user.created` for `acme` with `metadata` (a JSON
/// object, as text); the event id.
pub async fn publish(api: &TestApp, id: &str, metadata: &str) -> String {
    let body = format!(
        r#"{{"id":"{id}","tenant_id":"acme","topic":"user.created","data":{DATA},"metadata":{metadata}}}"#
    );
    let (s, r) = api
        .raw(
            "POST",
            "/api/v1/publish",
            Some(super::app::API_KEY),
            Some(&body),
        )
        .await;
    assert_eq!(s, 202, "{r}");
    id.to_string()
}

/// The attempts for `destination`, oldest first, with their response data.
pub async fn attempts(api: &TestApp, destination: &str) -> Vec<Value> {
    let (s, page) = api
        .admin(
            "GET",
            &format!("/api/v1/attempts?tenant_id=acme&destination_id={destination}&include=response_data"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{page}");
    let mut list = page["models"].as_array().cloned().unwrap_or_default();
    list.sort_by_key(|a| a["attempt_number"].as_i64());
    list
}

/// The field messages of a 422.
pub fn messages(e: &Value) -> Vec<String> {
    e["data"]
        .as_array()
        .map(|d| {
            d.iter()
                .filter_map(|m| m.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
