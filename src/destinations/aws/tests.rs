use serde_json::{json, Value};

use crate::destinations::kind::DestinationKind;
use crate::destinations::test_support::{contracts, refused};
use crate::domain::ssrf::NetworkPolicy;

/// A valid `config` and `credentials`, every declared field given a
/// value (the schema tests reach all of them through it).
pub(crate) fn s3_example() -> (Value, Value) {
    (
        json!({"bucket": "b", "region": "eu-west-1", "key_template": "k",
               "storage_class": "STANDARD"}),
        json!({"key": "AKIA", "secret": "s", "session": "t"}),
    )
}

/// A valid `config` and `credentials`, every declared field given a
/// value (the schema tests reach all of them through it).
pub(crate) fn kinesis_example() -> (Value, Value) {
    (
        json!({"stream_name": "orders", "region": "us-east-1",
               "endpoint": "http://localhost:4566", "partition_key_template": "id"}),
        json!({"key": "AKIA", "secret": "s", "session": "t"}),
    )
}

fn aws(kind: DestinationKind, config: Value, policy: &NetworkPolicy) -> Vec<String> {
    refused(kind, &config, &json!({"key": "k", "secret": "s"}), policy)
}

#[test]
fn s3_buckets_regions_templates_and_storage_classes() {
    let policy = NetworkPolicy::default();
    let ok = json!({"bucket": "events.example.com", "region": "eu-central-1",
                    "key_template": "join('/', [time.year, metadata.\"event-id\"])",
                    "storage_class": "standard_ia"});
    assert!(aws(DestinationKind::AwsS3, ok, &policy).is_empty());
    let bad = json!({"bucket": "a/b", "region": "eu-middle-1",
                     "key_template": "join('', [data.a", "storage_class": "COLD"});
    let errors = aws(DestinationKind::AwsS3, bad, &policy);
    let fields: Vec<&str> = errors
        .iter()
        .map(|e| e.split(':').next().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "config.bucket",
            "config.region",
            "config.key_template",
            "config.storage_class"
        ],
        "{errors:?}"
    );
    assert!(errors[2].contains("JMESPath"), "{errors:?}");
}

#[test]
fn kinesis_regions_endpoints_and_templates() {
    let strict = NetworkPolicy::default();
    let ok = json!({"stream_name": "s", "region": "us-west-2",
                    "endpoint": "https://kinesis.example.com", "partition_key_template": "data.user_id"});
    assert!(aws(DestinationKind::AwsKinesis, ok, &strict).is_empty());
    let bad = json!({"stream_name": "s", "region": "us-west-0",
                     "endpoint": "http://10.0.0.5:4566", "partition_key_template": "data.["});
    let errors = aws(DestinationKind::AwsKinesis, bad, &strict);
    let fields: Vec<&str> = errors
        .iter()
        .map(|e| e.split(':').next().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "config.region",
            "config.endpoint",
            "config.partition_key_template"
        ],
        "{errors:?}"
    );
}

#[test]
fn control_characters_are_refused_in_keys_secrets_and_tokens() {
    let policy = NetworkPolicy::default();
    let run = |kind, config: Value, credentials: Value| -> Vec<String> {
        refused(kind, &config, &credentials, &policy)
    };
    let s3 = json!({"bucket": "b-1", "region": "eu-west-1"});
    let errors = run(
        DestinationKind::AwsS3,
        s3.clone(),
        json!({"key": "AKIA\r\nX-Injected: 1", "secret": "s\u{0}"}),
    );
    assert_eq!(
        errors,
        [
            "credentials.key: contains a control character (CR); a line break, tab or NUL can never be sent in a header or URL",
            "credentials.secret: contains a control character (NUL); a line break, tab or NUL can never be sent in a header or URL",
        ]
    );
    let errors = run(
        DestinationKind::AwsS3,
        s3.clone(),
        json!({"key": "AKIA", "secret": "s", "session": "t\u{7f}t"}),
    );
    assert_eq!(
        errors,
        ["credentials.session: contains a control character (U+007F); a line break, tab or NUL can never be sent in a header or URL"]
    );
    assert!(run(
        DestinationKind::AwsS3,
        s3,
        json!({"key": "AKIA", "secret": "s"})
    )
    .is_empty());
}

#[test]
fn the_s3_and_kinesis_field_contracts_are_stable() {
    use super::{kinesis, s3};
    let url = Some(r"^https?:\/\/[^\s]+$");
    let region = Some(r"^[a-z]{2}-[a-z]+-[0-9]+$");
    assert_eq!(
        contracts(s3::DECLARATION.config_fields),
        [
            ("bucket", "text", true, false, None),
            ("region", "text", true, false, region),
            ("key_template", "text", false, false, None),
            ("storage_class", "text", false, false, None),
        ]
    );
    assert_eq!(s3::DECLARATION.config_fields[3].default, Some("STANDARD"));
    let keys = [
        ("key", "text", true, true, None),
        ("secret", "text", true, true, None),
        ("session", "text", false, true, None),
    ];
    assert_eq!(contracts(s3::DECLARATION.credential_fields), keys);
    assert_eq!(
        contracts(kinesis::DECLARATION.config_fields),
        [
            (
                "stream_name",
                "text",
                true,
                false,
                Some(r"^[a-zA-Z0-9_.-]+$")
            ),
            ("region", "text", true, false, region),
            ("endpoint", "text", false, false, url),
            ("partition_key_template", "text", false, false, None),
        ]
    );
    assert_eq!(contracts(kinesis::DECLARATION.credential_fields), keys);
}
