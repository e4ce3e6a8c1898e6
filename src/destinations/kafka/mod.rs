//! Apache Kafka: each event produced as a record on a topic, through the
//! vetted SOCKS relay (the client dials the brokers it is told of).
//!
//! - this file: the declaration, the create-time check, the target;
//! - [`brokers`]: the broker list and the partitioner;
//! - [`record`]: the record and the client settings a destination makes;
//! - [`failure`]: Kafka's errors as attempt codes;
//! - [`send`]: the sender.

pub mod brokers;
mod failure;
pub mod record;
pub mod send;
#[cfg(test)]
pub(super) mod tests;

use serde_json::Value;

use super::check::{error, CheckContext};
use super::fields::{icon, DestinationType, Field, FieldError, FieldKind, SelectOption, TEXT};
use super::kind::DestinationKind;
use crate::destinations::target::{Configured, DestinationTarget};
use crate::domain::jmespath_template;
use crate::domain::ssrf::reachable_url;
use brokers::parse_brokers;

pub static DECLARATION: DestinationType = DestinationType {
    kind: DestinationKind::Kafka,
    label: "Apache Kafka",
    description: "Produce each event as a record on an Apache Kafka topic",
    link: "https://kafka.apache.org/",
    icon: icon!(
        "#231F20",
        r#"<circle cx="8" cy="4.5" r="1.3"/><circle cx="8" cy="11.5" r="1.3"/><circle cx="11.5" cy="8" r="1.3"/><path d="M8 5.8v4.4M9.2 9l1.3-.6M9.2 7l1.3.6"/>"#
    ),
    config_fields: &[
        Field {
            key: "brokers",
            label: "Brokers",
            description: "Broker addresses, comma separated, e.g. broker1:9092,broker2:9092",
            required: true,
            ..TEXT
        },
        Field {
            key: "topic",
            label: "Topic",
            description: "The Kafka topic records are produced to",
            required: true,
            ..TEXT
        },
        Field {
            key: "tls",
            kind: FieldKind::Checkbox,
            label: "Use TLS",
            description: "Connect to the brokers over TLS",
            default: Some("true"),
            ..TEXT
        },
        Field {
            key: "partition_key_template",
            label: "Partition key template",
            description: "A JMESPath expression for each record's key; the event ID when unset or when it yields nothing",
            ..TEXT
        },
        Field {
            key: "sasl_mechanism",
            kind: FieldKind::Select,
            label: "SASL mechanism",
            description: "How to authenticate to the brokers",
            required: true,
            options: &[
                SelectOption {
                    label: "PLAIN",
                    value: "plain",
                },
                SelectOption {
                    label: "SCRAM-SHA-256",
                    value: "scram-sha-256",
                },
                SelectOption {
                    label: "SCRAM-SHA-512",
                    value: "scram-sha-512",
                },
            ],
            ..TEXT
        },
    ],
    credential_fields: &[
        Field {
            key: "username",
            label: "Username",
            description: "The SASL user name",
            required: true,
            ..TEXT
        },
        Field {
            key: "password",
            label: "Password",
            description: "The SASL user's password",
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

/// Kafka: brokers, topic, partition key template.
pub fn check(config: &Value, _credentials: &Value, ctx: &CheckContext<'_>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let field = |k: &str| config.get(k).and_then(Value::as_str);
    if let Some(brokers) = field("brokers") {
        match parse_brokers(brokers) {
            Err(message) => errors.push(error("config.brokers", message)),
            Ok(brokers) => {
                // The first refused broker is enough to say what is wrong.
                let refused = brokers
                    .iter()
                    .find_map(|b| reachable_url(&format!("http://{b}/"), ctx.network).err());
                if let Some(message) = refused {
                    errors.push(error("config.brokers", message));
                }
            }
        }
    }
    if let Some(topic) = field("topic") {
        if !is_kafka_topic(topic) {
            errors.push(error(
                "config.topic",
                "is not a valid Kafka topic name (1-249 letters, digits, '.', '_' or '-'; not \".\" or \"..\")".into(),
            ));
        }
    }
    if let Some(template) = field("partition_key_template").filter(|t| !t.is_empty()) {
        if let Err(message) = jmespath_template::check(template) {
            errors.push(error("config.partition_key_template", message));
        }
    }
    errors
}

/// A topic name Kafka accepts (its `Topic.validate`).
fn is_kafka_topic(name: &str) -> bool {
    (1..=249).contains(&name.len())
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

/// The first broker and the topic (`broker:9092 / events`).
pub fn target(d: &Configured<'_>) -> DestinationTarget {
    let topic = d.config("topic");
    match d
        .config("brokers")
        .split(',')
        .map(str::trim)
        .find(|b| !b.is_empty())
    {
        Some(broker) => DestinationTarget::text(format!("{broker} / {topic}")),
        None => DestinationTarget::text(topic),
    }
}
