//! The served OpenAPI document describes exactly the routes served.

use crate::helpers::app::TestApp;
use crate::helpers::db::TestDb;

#[tokio::test]
async fn every_documented_route_exists_and_the_document_is_served() {
    let db = TestDb::new().await;
    let api = TestApp::start(&db).await;
    let (s, doc) = api.raw("GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(s, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 20);
    for (path, ops) in paths {
        let concrete = path
            .replace("{tenant_id}", "t")
            .replace("{destination_id}", "d")
            .replace("{attempt_id}", "1")
            .replace("{event_id}", "e")
            .replace("{replay_id}", "r")
            .replace("{type}", "webhook");
        for method in ops.as_object().unwrap().keys() {
            let (status, body) = api
                .raw(
                    &method.to_uppercase(),
                    &format!("/api/v1{concrete}"),
                    Some("test-api-key"),
                    Some("{}"),
                )
                .await;
            let unknown = status == 405 || (status == 404 && body["message"] == "route not found");
            assert!(
                !unknown,
                "{method} {path} is documented but not served: {status} {body}"
            );
        }
    }
}
