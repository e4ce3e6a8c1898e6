use serde_json::{json, Value};

use super::*;
use crate::destinations::test_support::{contracts, refused};
use crate::domain::ssrf::NetworkPolicy;

/// A valid `config` and `credentials`, every declared field given a
/// value (the schema tests reach all of them through it).
pub(crate) fn example() -> (Value, Value) {
    (
        json!({"brokers": "b1:9092,b2:9092", "topic": "events", "tls": "true",
               "partition_key_template": "metadata.\"event-id\"", "sasl_mechanism": "plain"}),
        json!({"username": "u", "password": "p"}),
    )
}

#[test]
fn kafka_brokers_topics_and_templates_are_checked() {
    let strict = NetworkPolicy::default();
    let run = |config: Value, policy: &NetworkPolicy| -> Vec<String> {
        refused(DestinationKind::Kafka, &config, &json!({}), policy)
    };
    let good = json!({"brokers": "b1.example.com:9092, b2.example.com:9093", "topic": "orders.v1",
                      "partition_key_template": "data.customer_id", "sasl_mechanism": "plain"});
    assert!(run(good, &strict).is_empty());
    let errors = run(
        json!({"brokers": "b1.example.com", "topic": "bad topic", "partition_key_template": "data.["}),
        &strict,
    );
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors[0].starts_with("config.brokers: \"b1.example.com\" has no port"));
    assert!(errors[1].starts_with("config.topic: is not a valid Kafka topic name"));
    assert!(errors[2].starts_with("config.partition_key_template: is not a valid JMESPath"));
    for brokers in [
        "10.0.0.5:9092",
        "ok.example.com:9092,localhost:9092",
        "127.1:9092",
    ] {
        let errors = run(json!({ "brokers": brokers, "topic": "t" }), &strict);
        assert_eq!(errors.len(), 1, "{brokers}: {errors:?}");
        assert!(errors[0].starts_with("config.brokers: host "), "{errors:?}");
    }
    let loopback = NetworkPolicy::parse("127.0.0.0/8").unwrap();
    assert!(run(
        json!({"brokers": "127.0.0.1:9092", "topic": "t"}),
        &loopback
    )
    .is_empty());
    for topic in [".", "..", "", &"t".repeat(250)] {
        assert_eq!(run(json!({ "topic": topic }), &strict).len(), 1, "{topic}");
    }
}

#[test]
fn brokers_whose_names_dns_cannot_hold_are_refused() {
    let brokers = format!("{}.com:9092", "a".repeat(64));
    let errors = refused(
        DestinationKind::Kafka,
        &json!({ "brokers": brokers, "topic": "t" }),
        &json!({}),
        &NetworkPolicy::default(),
    );
    assert!(errors[0].starts_with("config.brokers: "), "{errors:?}");
}

#[test]
fn the_field_contract_is_stable() {
    let config = contracts(DECLARATION.config_fields);
    assert_eq!(
        config,
        [
            ("brokers", "text", true, false, None),
            ("topic", "text", true, false, None),
            ("tls", "checkbox", false, false, None),
            ("partition_key_template", "text", false, false, None),
            ("sasl_mechanism", "select", true, false, None),
        ]
    );
    let credentials = contracts(DECLARATION.credential_fields);
    assert_eq!(
        credentials,
        [
            ("username", "text", true, false, None),
            ("password", "text", true, true, None)
        ]
    );
}
