use serde_json::{json, Value};

use super::*;
use crate::destinations::test_support::{contracts, refused};
use crate::domain::ssrf::NetworkPolicy;

/// A valid `config` and `credentials`, every declared field given a
/// value (the schema tests reach all of them through it).
pub(crate) fn example() -> (Value, Value) {
    (json!({}), json!({"token": "t"}))
}

#[test]
fn hookdeck_tokens_must_be_tokens() {
    use base64::Engine;
    let policy = NetworkPolicy::default();
    let run = |token: &str| {
        refused(
            DestinationKind::Hookdeck,
            &json!({}),
            &json!({ "token": token }),
            &policy,
        )
    };
    let good = base64::engine::general_purpose::STANDARD.encode("src_1:secret");
    assert!(run(&good).is_empty());
    let errors = run("t");
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].starts_with("credentials.token: is not a Hookdeck token"),
        "{errors:?}"
    );
}

#[test]
fn the_field_contract_is_stable() {
    assert!(DECLARATION.config_fields.is_empty());
    let rows = contracts(DECLARATION.credential_fields);
    assert_eq!(rows, [("token", "text", true, true, None)]);
}
