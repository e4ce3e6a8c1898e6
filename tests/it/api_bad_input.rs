//! Bad input of every kind gets a 4xx with a message, never a 500.

use serde_json::{json, Value};

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

/// Settings that could never deliver are refused when the destination is
/// saved, each with a 422 naming the field: control characters in values
/// sent in headers or URLs, S3 bucket names AWS refuses, a GCP key that
/// would post its assertion in the clear or to a blocked address, more
/// custom headers (or longer ones) than a receiver takes, host names DNS
/// cannot hold, and IPv6 forms that carry a blocked IPv4 address.
#[tokio::test]
async fn settings_that_could_never_deliver_are_a_422_naming_the_field() {
    let db = TestDb::new().await;
    let api = TestApp::start(&db).await;
    api.admin("PUT", "/api/v1/tenants/acme", None).await;
    let gcp_key = |token_uri: &str| {
        json!({"type": "service_account", "client_email": "a@p.iam.gserviceaccount.com",
               "private_key": include_str!("../data/gcp-test-key.pem"), "token_uri": token_uri})
        .to_string()
    };
    let aws = |key: &str| json!({"key": key, "secret": "s"});
    let many: serde_json::Map<String, Value> =
        (0..65).map(|i| (format!("X-H{i}"), json!("v"))).collect();
    let cases = [
        (
            json!({"type": "aws_sqs", "config": {"queue_url": "https://sqs.eu-west-1.amazonaws.com/123456789012/q"},
                   "credentials": aws("AKIA\r\nX-Evil: 1")}),
            "credentials.key",
            "control character",
        ),
        (
            json!({"type": "aws_s3", "config": {"bucket": "192.168.5.4", "region": "eu-west-1"},
                   "credentials": aws("AKIA")}),
            "config.bucket",
            "IP address",
        ),
        (
            json!({"type": "aws_s3", "config": {"bucket": "b".repeat(64), "region": "eu-west-1"},
                   "credentials": aws("AKIA")}),
            "config.bucket",
            "3 to 63",
        ),
        (
            json!({"type": "azure_servicebus", "config": {"name": "orders"},
                   "credentials": {"connection_string":
                       "Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKeyName=send\u{0};SharedAccessKey=k"}}),
            "credentials.connection_string",
            "control character",
        ),
        (
            json!({"type": "gcp_pubsub", "config": {"project_id": "p", "topic": "t"},
                   "credentials": {"service_account_json": gcp_key("http://oauth2.googleapis.com/token")}}),
            "credentials.service_account_json",
            "https",
        ),
        (
            json!({"type": "gcp_pubsub", "config": {"project_id": "p", "topic": "t"},
                   "credentials": {"service_account_json": gcp_key("https://169.254.169.254/token")}}),
            "credentials.service_account_json",
            "token_uri host 169.254.169.254",
        ),
        (
            json!({"type": "webhook", "config": {"url": "https://x.test/h", "custom_headers": many}}),
            "config.custom_headers",
            "at most 64",
        ),
        (
            json!({"type": "webhook", "config": {"url": "https://x.test/h",
                   "custom_headers": {"X-Big": "v".repeat(8193)}}}),
            "config.custom_headers.X-Big",
            "at most 8192",
        ),
        (
            json!({"type": "webhook", "config": {"url": format!("https://{}.test/h", "a.".repeat(130))}}),
            "config.url",
            "at most 253",
        ),
        (
            json!({"type": "webhook", "config": {"url": "http://[::ffff:0:7f00:1]:9/h"}}),
            "config.url",
            "loopback, private",
        ),
    ];
    for (mut body, field, says) in cases {
        body["topics"] = json!(["*"]);
        let (status, e) = api
            .admin(
                "POST",
                "/api/v1/tenants/acme/destinations",
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, 422, "{field}: {e}");
        let text = e.to_string();
        assert!(
            text.contains(field) && text.contains(says),
            "{field} / {says}: {e}"
        );
    }
}
