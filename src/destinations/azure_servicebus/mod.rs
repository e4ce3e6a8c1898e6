//! Azure Service Bus: each event as a message to a queue or topic, over
//! its REST API with a Shared Access Signature.
//!
//! - this file: the declaration, the create-time check, the target;
//! - [`connection`]: the connection string;
//! - [`send`]: the sender.

pub mod connection;
pub mod send;
#[cfg(test)]
pub(super) mod tests;

use serde_json::Value;

use super::check::{error, CheckContext};
use super::fields::{icon, DestinationType, Field, FieldError, Pattern, TEXT};
use super::kind::DestinationKind;
use crate::destinations::target::{Configured, DestinationTarget};
use crate::domain::ssrf::reachable_url;
use connection::ConnectionString;

pub static DECLARATION: DestinationType = DestinationType {
    kind: DestinationKind::AzureServicebus,
    label: "Azure Service Bus",
    description: "Send each event as a message to an Azure Service Bus queue or topic",
    link: "https://azure.microsoft.com/products/service-bus/",
    icon: icon!(
        "#0078D4",
        r#"<path d="M3.5 5.5h9v5h-9z"/><path d="M6 8h4M8 6.5v3"/>"#
    ),
    config_fields: &[Field {
        key: "name",
        label: "Queue or topic",
        description: "The name of the queue or topic messages are sent to",
        required: true,
        pattern: Some(Pattern::ServiceBusName),
        ..TEXT
    }],
    credential_fields: &[Field {
        key: "connection_string",
        label: "Connection string",
        description: "A connection string with Send rights: Endpoint=sb://…;SharedAccessKeyName=…;SharedAccessKey=…",
        required: true,
        sensitive: true,
        ..TEXT
    }],
    managed_credentials: &[],
    unmasked_secrets: &[],
    instructions: include_str!("instructions.md"),
    setup_link: None,
};

/// Service Bus: a connection string with every part, for the entity named
/// (a key scoped with `EntityPath` to another queue cannot send here), at
/// an endpoint the network policy allows.
pub fn check(config: &Value, credentials: &Value, ctx: &CheckContext<'_>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let Some(text) = credentials.get("connection_string").and_then(Value::as_str) else {
        return errors; // the schema reports it
    };
    let field = "credentials.connection_string";
    let connection = match ConnectionString::parse(text) {
        Ok(c) => c,
        Err(message) => {
            errors.push(error(field, message));
            return errors;
        }
    };
    if let Err(message) = reachable_url(&connection.base_url(), ctx.network) {
        errors.push(error(field, format!("Endpoint {message}")));
    }
    let name = config.get("name").and_then(Value::as_str);
    if let (Some(path), Some(name)) = (&connection.entity_path, name) {
        if path != name {
            errors.push(error(
                "config.name",
                format!("must be {path:?}, the EntityPath the connection string is scoped to"),
            ));
        }
    }
    errors
}

/// `namespace/name`, the namespace read from the connection string's
/// endpoint; the name alone when it cannot be.
pub fn target(d: &Configured<'_>) -> DestinationTarget {
    let name = d.config("name");
    let namespace = connection::ConnectionString::parse(d.credential("connection_string"))
        .ok()
        .and_then(|c| c.host.split_once('.').map(|(ns, _)| ns.to_string()))
        .filter(|ns| !ns.is_empty());
    match namespace {
        Some(ns) => DestinationTarget::text(format!("{ns}/{name}")),
        None => DestinationTarget::text(name),
    }
}
