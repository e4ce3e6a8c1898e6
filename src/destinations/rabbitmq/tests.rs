use serde_json::{json, Value};

use super::*;
use crate::destinations::test_support::contracts;

/// A valid `config` and `credentials`, every declared field given a
/// value (the schema tests reach all of them through it).
pub(crate) fn example() -> (Value, Value) {
    (
        json!({"server_url": "mq:5672", "exchange": "events", "tls": "on"}),
        json!({"username": "u", "password": "p"}),
    )
}

#[test]
fn the_field_contract_is_stable() {
    let config = contracts(DECLARATION.config_fields);
    assert_eq!(
        config,
        [
            ("server_url", "text", true, false, Some(r"^[^\s]+$")),
            ("exchange", "text", false, false, None),
            ("tls", "checkbox", false, false, None),
        ]
    );
    assert_eq!(DECLARATION.config_fields[2].default, Some("on"));
    let credentials = contracts(DECLARATION.credential_fields);
    assert_eq!(
        credentials,
        [
            ("username", "text", true, false, None),
            ("password", "text", true, true, None)
        ]
    );
}
