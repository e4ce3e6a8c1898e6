use serde_json::{json, Value};

use super::*;
use crate::destinations::test_support::{contracts, refused};
use crate::domain::ssrf::NetworkPolicy;

/// A valid `config` and `credentials`, every declared field given a
/// value (the schema tests reach all of them through it).
pub(crate) fn example() -> (Value, Value) {
    (
        json!({"name": "orders.v1"}),
        json!({"connection_string": "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=k"}),
    )
}

fn azure(name: &str, connection_string: &str, policy: &NetworkPolicy) -> Vec<String> {
    refused(
        DestinationKind::AzureServicebus,
        &json!({ "name": name }),
        &json!({ "connection_string": connection_string }),
        policy,
    )
}

#[test]
fn azure_connection_strings_need_every_part_and_the_right_entity() {
    let policy = NetworkPolicy::default();
    let ns = "Endpoint=sb://acme.servicebus.windows.net/";
    assert!(azure(
        "orders",
        &format!("{ns};SharedAccessKeyName=send;SharedAccessKey=k"),
        &policy
    )
    .is_empty());
    assert_eq!(
        azure("orders", &format!("{ns};SharedAccessKeyName=send"), &policy),
        ["credentials.connection_string: has no SharedAccessKey"]
    );
    assert_eq!(
        azure("orders", "SharedAccessKeyName=send;SharedAccessKey=k", &policy)[0],
        "credentials.connection_string: has no Endpoint (Endpoint=sb://<namespace>.servicebus.windows.net/)"
    );
    assert_eq!(
        azure(
            "orders",
            &format!("{ns};SharedAccessKeyName=s;SharedAccessKey=k;EntityPath=invoices"),
            &policy
        ),
        ["config.name: must be \"invoices\", the EntityPath the connection string is scoped to"]
    );
    let local = "Endpoint=sb://127.0.0.1:5300;SharedAccessKeyName=s;SharedAccessKey=k;UseDevelopmentEmulator=true";
    let errors = azure("orders", local, &policy);
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].starts_with("credentials.connection_string: Endpoint host 127.0.0.1"),
        "{errors:?}"
    );
    assert!(azure(
        "orders",
        local,
        &NetworkPolicy::parse("127.0.0.0/8").unwrap()
    )
    .is_empty());
}

#[test]
fn control_characters_are_refused_in_the_name_and_the_connection_string() {
    let policy = NetworkPolicy::default();
    let errors = azure(
        "orders\n",
        "Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKeyName=send\n;SharedAccessKey=k",
        &policy,
    );
    let fields: Vec<&str> = errors
        .iter()
        .map(|e| e.split(':').next().unwrap())
        .collect();
    assert!(fields.contains(&"config.name"), "{errors:?}");
    assert!(
        fields.contains(&"credentials.connection_string"),
        "{errors:?}"
    );
}

#[test]
fn the_field_contract_is_stable() {
    let config = contracts(DECLARATION.config_fields);
    assert_eq!(
        config,
        [(
            "name",
            "text",
            true,
            false,
            Some("^[a-zA-Z0-9]([a-zA-Z0-9._-]*[a-zA-Z0-9])?$")
        )]
    );
    let credentials = contracts(DECLARATION.credential_fields);
    assert_eq!(
        credentials,
        [("connection_string", "text", true, true, None)]
    );
}
