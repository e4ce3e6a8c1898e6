use serde_json::{json, Value};

use super::send_message;

use crate::destinations::kind::DestinationKind;
use crate::destinations::test_support::{contracts, refused, Sample};
use crate::domain::ssrf::NetworkPolicy;

/// A valid `config` and `credentials`, every declared field given a
/// value (the schema tests reach all of them through it).
pub(crate) fn example() -> (Value, Value) {
    (
        json!({"queue_url": "https://sqs.eu-west-1.amazonaws.com/1/q"}),
        json!({"key": "AKIA", "secret": "s"}),
    )
}

fn sqs(config: Value, policy: &NetworkPolicy) -> Vec<String> {
    refused(
        DestinationKind::AwsSqs,
        &config,
        &json!({"key": "k", "secret": "s"}),
        policy,
    )
}

#[test]
fn sqs_queue_urls_must_be_queues_outbound_may_reach() {
    let strict = NetworkPolicy::default();
    let ok = json!({"queue_url": "https://sqs.eu-west-1.amazonaws.com/123456789012/orders.fifo"});
    assert!(sqs(ok, &strict).is_empty());
    for (url, says) in [
        (
            "https://sqs.eu-west-1.amazonaws.com/orders",
            "config.queue_url: must end in",
        ),
        (
            "https://sqs.eu-wset-1.amazonaws.com/123456789012/q",
            "config.queue_url: host",
        ),
        (
            "http://127.0.0.1:5000/123456789012/q",
            "config.queue_url: host 127.0.0.1",
        ),
        (
            "http://169.254.169.254/123456789012/q",
            "config.queue_url: host 169.254",
        ),
    ] {
        let errors = sqs(json!({"queue_url": url}), &strict);
        assert_eq!(errors.len(), 1, "{url}: {errors:?}");
        assert!(errors[0].starts_with(says), "{url}: {errors:?}");
    }
    let loopback = NetworkPolicy::parse("127.0.0.0/8").unwrap();
    let local = json!({"queue_url": "http://127.0.0.1:5000/123456789012/q"});
    assert!(sqs(local, &loopback).is_empty());
}

#[test]
fn the_field_contract_is_stable() {
    assert_eq!(
        contracts(super::DECLARATION.config_fields),
        [(
            "queue_url",
            "text",
            true,
            false,
            Some(r"^https?:\/\/[^\s]+$")
        )]
    );
    assert_eq!(
        contracts(super::DECLARATION.credential_fields),
        [
            ("key", "text", true, true, None),
            ("secret", "text", true, true, None)
        ]
    );
}

#[test]
fn the_body_is_the_data_and_the_metadata_one_json_attribute() {
    let sample = Sample::new(
        "user.created",
        Some(json!({"region": "eu"})),
        json!({"source": "crm"}),
    );
    let data = "{\"b\":1,  \"a\":[1.50]}";
    let message = sample.message(data);
    let url = "https://sqs.eu-west-1.amazonaws.com/123456789012/q";
    let body = send_message(url, false, &message);
    assert_eq!(body["QueueUrl"], url);
    assert_eq!(body["MessageBody"], data, "byte for byte");
    assert_eq!(body["MessageAttributes"]["metadata"]["DataType"], "String");
    assert_eq!(
        body["MessageAttributes"]["metadata"]["StringValue"],
        r#"{"event-id":"evt_1","region":"eu","source":"crm","timestamp":"2026-11-29T12:00:00Z","topic":"user.created"}"#
    );
    assert!(body.get("MessageGroupId").is_none());
    let fifo = send_message("https://x/123456789012/q.fifo", true, &message);
    assert_eq!(fifo["MessageGroupId"], "evt_1");
    assert_eq!(fifo["MessageDeduplicationId"], "evt_1");
}
