use serde_json::{json, Value};

use super::*;
use crate::destinations::test_support::{contracts, refused};
use crate::domain::ssrf::NetworkPolicy;

/// A valid `config` and `credentials`, every declared field given a
/// value (the schema tests reach all of them through it).
pub(crate) fn example() -> (Value, Value) {
    (
        json!({"url": "https://example.com/h", "custom_headers": {"X-A": "1"}}),
        json!({}),
    )
}

fn webhook(config: Value, policy: &NetworkPolicy) -> Vec<String> {
    refused(DestinationKind::Webhook, &config, &json!({}), policy)
}

#[test]
fn literal_blocked_hosts_are_refused_in_every_form() {
    let strict = NetworkPolicy::default();
    for url in [
        "http://127.0.0.1/h",
        "http://[::1]/h",
        "http://169.254.169.254/latest/meta-data",
        "http://10.1.2.3:8080/",
        "http://0.0.0.0/",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://017700000001/",
        "http://[::ffff:127.0.0.1]/",
        "http://localhost:3000/",
        "http://api.localhost/",
        "http://LOCALHOST./",
    ] {
        let errors = webhook(json!({ "url": url }), &strict);
        assert_eq!(errors.len(), 1, "{url}: {errors:?}");
        assert!(errors[0].starts_with("config.url: host "), "{errors:?}");
    }
    for url in [
        "https://example.com/h",
        "https://93.184.215.14/",
        "http://[2606:4700::1]/",
    ] {
        assert!(webhook(json!({ "url": url }), &strict).is_empty(), "{url}");
    }
    // The allowlist admits what it lists.
    let loopback = NetworkPolicy::parse("127.0.0.0/8").unwrap();
    assert!(webhook(json!({"url": "http://127.0.0.1:9/"}), &loopback).is_empty());
    assert!(webhook(json!({"url": "http://localhost:9/"}), &loopback).is_empty());
    assert_eq!(
        webhook(json!({"url": "http://10.0.0.1/"}), &loopback).len(),
        1
    );
}

#[test]
fn custom_headers_must_be_valid_http_and_not_ours() {
    let policy = NetworkPolicy::default();
    let url = "https://example.com/h";
    let ok =
        json!({"url": url, "custom_headers": {"X-Api-Key": "k 1\t2", "Authorization": "Bearer é"}});
    assert!(webhook(ok, &policy).is_empty());
    let text = json!({"url": url, "custom_headers": "{\"X-Bad\":\"a\\r\\nb\"}"});
    let errors = webhook(text, &policy);
    assert_eq!(
        errors,
        ["config.custom_headers.X-Bad: is not a valid header value (no line breaks or control characters)"]
    );
    let bad = json!({"url": url, "custom_headers": {
        "a b": "x", "X-Outpost-Signature": "x", "Content-Type": "text/plain", "x": "\u{0}"
    }});
    let errors = webhook(bad, &policy);
    assert_eq!(errors.len(), 4, "{errors:?}");
    assert!(errors
        .iter()
        .any(|e| e.starts_with("config.custom_headers.a b: is not a valid header name")));
    assert!(errors
        .iter()
        .any(|e| e
            .starts_with("config.custom_headers.X-Outpost-Signature: is a header outbound sets")));
    assert!(errors
        .iter()
        .any(|e| e.starts_with("config.custom_headers.Content-Type: is a header outbound sets")));
}

#[test]
fn custom_headers_and_host_names_stay_within_what_receivers_and_dns_accept() {
    let policy = NetworkPolicy::default();
    let url = "https://example.com/h";
    let many: serde_json::Map<String, Value> = (0..=MAX_CUSTOM_HEADERS)
        .map(|i| (format!("X-H{i}"), json!("v")))
        .collect();
    let errors = webhook(json!({"url": url, "custom_headers": many}), &policy);
    assert_eq!(
        errors,
        ["config.custom_headers: has 65 headers; at most 64 are allowed"]
    );
    let long = "v".repeat(MAX_HEADER_VALUE_BYTES + 1);
    let errors = webhook(
        json!({"url": url, "custom_headers": {"X-Big": long}}),
        &policy,
    );
    assert_eq!(
        errors,
        ["config.custom_headers.X-Big: is 8193 bytes long; a header value may have at most 8192"]
    );
    let fits = "v".repeat(MAX_HEADER_VALUE_BYTES);
    assert!(webhook(
        json!({"url": url, "custom_headers": {"X-Big": fits}}),
        &policy
    )
    .is_empty());

    let label = "a".repeat(63);
    let host = format!("{label}.{label}.{label}.{}.com", "b".repeat(57));
    assert_eq!(host.len(), 253);
    assert!(webhook(json!({ "url": format!("https://{host}/") }), &policy).is_empty());
    let errors = webhook(json!({ "url": format!("https://x{host}/") }), &policy);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("254 characters long"), "{errors:?}");
    let errors = webhook(
        json!({ "url": format!("https://{}.com/", "a".repeat(64)) }),
        &policy,
    );
    assert!(errors[0].contains("label of 64 characters"), "{errors:?}");
}

#[test]
fn the_field_contract_is_stable() {
    let rows = contracts(DECLARATION.config_fields);
    assert_eq!(
        rows,
        [
            ("url", "text", true, false, Some(r"^https?:\/\/[^\s]+$")),
            ("custom_headers", "key_value_map", false, false, None),
        ]
    );
    assert!(DECLARATION.credential_fields.is_empty());
    assert_eq!(
        STANDARD_DECLARATION.config_fields,
        DECLARATION.config_fields
    );
}

/// The signing secret and its rotation are credentials the service
/// manages: the webhook schema accepts them without requiring them, and the
/// schema of a type that has no secret (every other) refuses them.
#[test]
fn the_signing_secret_is_a_managed_credential_of_webhooks_only() {
    let config = json!({"url": "https://x.io"});
    let managed = json!({
        "secret": "whsec_new", "previous_secret": "whsec_old",
        "previous_secret_invalid_at": "2026-01-01T00:00:00Z", "rotate_secret": true,
    });
    assert_eq!(DECLARATION.validate(&config, &json!({})), Ok(()));
    assert_eq!(DECLARATION.validate(&config, &managed), Ok(()));
    assert_eq!(
        DECLARATION
            .validate(&json!({"url": "ftp://x.io"}), &json!({}))
            .map_err(|es| es.into_iter().map(|e| e.field).collect::<Vec<_>>()),
        Err(vec!["config.url".to_string()])
    );
    for kind in DestinationKind::ALL
        .into_iter()
        .filter(|k| *k != DestinationKind::Webhook)
    {
        let row = crate::destinations::registry::entry(kind);
        let (config, mut credentials) = (row.example)();
        credentials["rotate_secret"] = json!(true);
        let refused = row.declaration.validate(&config, &credentials).unwrap_err();
        assert_eq!(refused[0].field, "credentials.rotate_secret", "{kind}");
    }
}
