//! Bad input of every kind gets a 4xx with a message, never a 500.

use serde_json::Value;

use crate::helpers::app::TestApp;
use crate::helpers::db::TestDb;

#[tokio::test]
async fn malformed_wrong_typed_huge_and_strange_input_is_a_clear_4xx() {
    let db = TestDb::new().await;
    let api = TestApp::start(&db).await;
    api.admin("PUT", "/api/v1/tenants/acme", None).await;
    let (_, d) = api
        .raw(
            "POST",
            "/api/v1/tenants/acme/destinations",
            Some("test-api-key"),
            Some(r#"{"id":"d1","type":"webhook","topics":["*"],"config":{"url":"https://x.test/h"}}"#),
        )
        .await;
    assert_eq!(d["id"], "d1");
    let huge = format!(
        r#"{{"tenant_id":"acme","topic":"t","data":{{"x":"{}"}}}}"#,
        "y".repeat(3 * 1024 * 1024)
    );
    let bodies: Vec<String> = vec![
        "".into(),
        "{".into(),
        "null".into(),
        "[]".into(),
        "\"text\"".into(),
        "42".into(),
        r#"{"unknown":true}"#.into(),
        r#"{"tenant_id":["a"],"topic":{},"data":"x"}"#.into(),
        r#"{"type":5,"topics":"nope","config":[],"credentials":"x"}"#.into(),
        r#"{"topics":["é 😀"],"type":"webhook","config":{"url":"https://ü.test"}}"#.into(),
        r#"{"filter":{"$where":"1"},"type":"webhook","topics":["*"],"config":{"url":"https://x.test"}}"#.into(),
        r#"{"filter":{"data":{"a":{"$gt":{"$lt":1}}}},"type":"webhook","topics":["*"],"config":{"url":"https://x.test"}}"#.into(),
        r#"{"metadata":{"k":{"nested":1}}}"#.into(),
        r#"{"credentials":{"rotate_secret":"maybe"}}"#.into(),
        r#"{"disabled_at":"yesterday"}"#.into(),
        r#"{"event_id":1,"destination_id":null}"#.into(),
        "\u{0}\u{1}\u{2}".into(),
        huge,
    ];
    let routes = [
        ("POST", "/api/v1/publish"),
        ("PUT", "/api/v1/tenants/acme"),
        ("POST", "/api/v1/tenants/acme/destinations"),
        ("PATCH", "/api/v1/tenants/acme/destinations/d1"),
        ("POST", "/api/v1/retry"),
        ("POST", "/api/v1/tenants/acme/destinations/d1/test"),
    ];
    for (method, path) in routes {
        for body in &bodies {
            let (status, resp) = api
                .raw(method, path, Some("test-api-key"), Some(body))
                .await;
            let shown: String = body.chars().take(60).collect();
            assert!(
                (400..500).contains(&status) || (status < 300 && (body.is_empty() || body == "{}")),
                "{method} {path} with {shown:?}: {status} {resp}"
            );
            if status >= 400 && status != 413 {
                assert!(
                    resp["message"].as_str().is_some_and(|m| !m.is_empty()),
                    "{method} {path} {shown:?}: {resp}"
                );
                assert_eq!(resp["status"], Value::from(status));
            }
        }
    }
    // Odd paths and queries.
    for path in [
        "/api/v1/tenants/%F0%9F%98%80",
        "/api/v1/tenants/a%2Fb",
        "/api/v1/events?limit=-1",
        "/api/v1/events?next=garbage",
        "/api/v1/attempts?status=maybe",
        "/api/v1/attempts/not-a-number",
        "/api/v1/events?time[gte]=2026-13-45",
        "/api/v1/metrics/attempts?time[start]=x&time[end]=y&measures=count",
    ] {
        let (status, resp) = api.raw("GET", path, Some("test-api-key"), None).await;
        assert!((400..500).contains(&status), "GET {path}: {status} {resp}");
    }
}
