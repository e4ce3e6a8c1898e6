//! RabbitMQ: each event published to an exchange, routed by its topic,
//! with publisher confirms.
//!
//! - this file: the declaration, the create-time check, the target;
//! - [`server`]: the server address and login a destination names;
//! - [`link`]: one AMQP connection and channel, kept between deliveries;
//! - [`classify`]: AMQP's errors as attempt codes;
//! - [`send`]: the sender.

mod classify;
mod lane;
mod link;
pub mod send;
pub mod server;
pub mod sink;

pub use link::open;

use serde_json::Value;

use super::check::CheckContext;
use super::fields::{icon, DestinationType, Field, FieldError, FieldKind, Pattern, TEXT};
use super::kind::DestinationKind;
use crate::destinations::target::{Configured, DestinationTarget};

pub static DECLARATION: DestinationType = DestinationType {
    kind: DestinationKind::Rabbitmq,
    label: "RabbitMQ",
    description: "Publish each event to a RabbitMQ exchange, routed by topic",
    link: "https://www.rabbitmq.com/",
    icon: icon!("#E8620C", r#"<path d="M4.5 12V4.5h2V8h5v4z"/>"#),
    config_fields: &[
        Field {
            key: "server_url",
            label: "Server address",
            description: "Host and port of the RabbitMQ server, e.g. rabbit.example.com:5672",
            required: true,
            pattern: Some(Pattern::NoWhitespace),
            ..TEXT
        },
        Field {
            key: "exchange",
            label: "Exchange",
            description: "The exchange messages are published to",
            ..TEXT
        },
        Field {
            key: "tls",
            kind: FieldKind::Checkbox,
            label: "Use TLS",
            description: "Connect to the server over TLS",
            default: Some("on"),
            ..TEXT
        },
    ],
    credential_fields: &[
        Field {
            key: "username",
            label: "Username",
            description: "The RabbitMQ user name",
            required: true,
            ..TEXT
        },
        Field {
            key: "password",
            label: "Password",
            description: "The RabbitMQ user's password",
            required: true,
            sensitive: true,
            ..TEXT
        },
    ],
    managed_credentials: &[],
    unmasked_secrets: &[],
    instructions: include_str!("instructions.md"),
    setup_link: None,
};

/// The address, the exchange, a literal address the network policy
/// refuses, credentials the PLAIN login cannot carry (see [`server::check`]).
pub fn check(config: &Value, credentials: &Value, ctx: &CheckContext<'_>) -> Vec<FieldError> {
    server::check(config, credentials, ctx.network)
}

/// The `config` of a destination that publishes to `exchange` on
/// `server_url` (the operator-event sink's, the bench's).
pub fn config(server_url: &str, exchange: &str, tls: bool) -> Value {
    serde_json::json!({ "server_url": server_url, "exchange": exchange,
                        "tls": if tls { "true" } else { "false" } })
}

/// The exchange and the topics routed to it (`orders -> order.created`).
pub fn target(d: &Configured<'_>) -> DestinationTarget {
    DestinationTarget::text(format!(
        "{} -> {}",
        d.config("exchange"),
        d.topics.join(", ")
    ))
}

#[cfg(test)]
pub(super) mod tests;
