use serde_json::{json, Value};

use super::*;
use crate::destinations::test_support::{contracts, refused, EC_KEY, RSA_KEY};

/// A valid `config` and `credentials`, every declared field given a
/// value (the schema tests reach all of them through it).
pub(crate) fn example() -> (Value, Value) {
    (
        json!({"project_id": "p", "topic": "t", "endpoint": "localhost:8085"}),
        json!({"service_account_json": "{}"}),
    )
}

#[test]
fn gcp_service_accounts_are_real_keys_unless_emulated() {
    let policy = NetworkPolicy::default();
    let run = |config: Value, sa: &str| {
        refused(
            DestinationKind::GcpPubsub,
            &config,
            &json!({ "service_account_json": sa }),
            &policy,
        )
    };
    let config = json!({"project_id": "p", "topic": "t"});
    let good = json!({"type": "service_account", "client_email": "a@p.iam.gserviceaccount.com",
                      "private_key": RSA_KEY})
    .to_string();
    assert!(run(config.clone(), &good).is_empty());
    for (sa, says) in [
        ("not-valid-json".to_string(), "JSON key file"),
        (
            json!({"project_id": "p"}).to_string(),
            "has no type, client_email, private_key",
        ),
        (
            json!({"type": "user", "client_email": "a", "private_key": RSA_KEY}).to_string(),
            "service_account",
        ),
        (
            json!({"type": "service_account", "client_email": "a", "private_key": "nope"})
                .to_string(),
            "PEM RSA",
        ),
        (
            json!({"type": "service_account", "client_email": "a", "private_key": EC_KEY})
                .to_string(),
            "PEM RSA",
        ),
    ] {
        let errors = run(config.clone(), &sa);
        assert_eq!(errors.len(), 1, "{sa}");
        assert!(
            errors[0].starts_with("credentials.service_account_json: "),
            "{errors:?}"
        );
        assert!(errors[0].contains(says), "{errors:?}");
    }
    // With an endpoint any credentials go, as in Outpost; the endpoint
    // itself must be reachable under the network policy.
    let emulated = json!({"project_id": "p", "topic": "t", "endpoint": "localhost:8085"});
    let errors = run(emulated.clone(), "not-valid-json");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with("config.endpoint: "), "{errors:?}");
    assert!(errors[0].contains("loopback"), "{errors:?}");
    let loopback = NetworkPolicy::parse("127.0.0.0/8").unwrap();
    let errors = refused(
        DestinationKind::GcpPubsub,
        &emulated,
        &json!({"service_account_json": "not-valid-json"}),
        &loopback,
    );
    assert!(errors.is_empty(), "{errors:?}");
    let errors = run(json!({"project_id": "p/x", "topic": "goog"}), &good);
    let fields: Vec<&str> = errors
        .iter()
        .map(|e| e.split(':').next().unwrap())
        .collect();
    assert_eq!(fields, ["config.project_id", "config.topic"]);
}

#[test]
fn a_gcp_key_must_send_its_assertion_over_https_to_an_address_outbound_may_reach() {
    let strict = NetworkPolicy::default();
    let loopback = NetworkPolicy::parse("127.0.0.0/8").unwrap();
    let run = |token_uri: &str, policy: &NetworkPolicy| {
        let key = json!({"type": "service_account", "client_email": "a@p.iam.gserviceaccount.com",
                         "private_key": RSA_KEY, "token_uri": token_uri})
        .to_string();
        refused(
            DestinationKind::GcpPubsub,
            &json!({"project_id": "p", "topic": "t"}),
            &json!({ "service_account_json": key }),
            policy,
        )
    };
    assert!(run("https://oauth2.googleapis.com/token", &strict).is_empty());
    for (uri, says) in [
        (
            "http://oauth2.googleapis.com/token",
            "must be an https:// URL",
        ),
        (
            "https://169.254.169.254/token",
            "token_uri host 169.254.169.254",
        ),
        ("https://[::ffff:0:7f00:1]/token", "token_uri host"),
        ("http://127.0.0.1:9/token", "must be an https:// URL"),
    ] {
        let errors = run(uri, &strict);
        assert_eq!(errors.len(), 1, "{uri}: {errors:?}");
        assert!(
            errors[0].starts_with("credentials.service_account_json: ") && errors[0].contains(says),
            "{uri}: {errors:?}"
        );
    }
    // An address the operator allows may be plain http (an emulator).
    assert!(run("http://127.0.0.1:9/token", &loopback).is_empty());
}

#[test]
fn a_key_file_is_pasted_whole_line_breaks_and_all() {
    let key = json!({"type": "service_account", "client_email": "a@p.iam.gserviceaccount.com",
                     "private_key": RSA_KEY})
    .to_string();
    let pretty = key.replace(",", ",\n");
    let errors = refused(
        DestinationKind::GcpPubsub,
        &json!({"project_id": "p", "topic": "t"}),
        &json!({ "service_account_json": pretty }),
        &NetworkPolicy::default(),
    );
    assert!(errors.is_empty(), "{errors:?}");
}

#[test]
fn the_field_contract_is_stable() {
    let config = contracts(DECLARATION.config_fields);
    assert_eq!(
        config,
        [
            ("project_id", "text", true, false, None),
            ("topic", "text", true, false, None),
            ("endpoint", "text", false, false, None),
        ]
    );
    let credentials = contracts(DECLARATION.credential_fields);
    assert_eq!(
        credentials,
        [("service_account_json", "text", true, true, None)]
    );
}
