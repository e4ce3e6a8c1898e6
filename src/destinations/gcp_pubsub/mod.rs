//! GCP Pub/Sub: each event published to a topic with a service account's
//! OAuth token (or to an emulator without one).
//!
//! - this file: the declaration, the create-time check, the target;
//! - [`target`]: the project, topic and endpoint a destination names;
//! - [`key`]: the service account key file and the token assertion;
//! - [`send`]: the sender.

pub mod key;
pub mod send;
pub mod sink;
pub mod target;
#[cfg(test)]
pub(super) mod tests;

use std::net::IpAddr;

use serde_json::Value;

use super::check::{error, CheckContext};
use super::fields::{icon, DestinationType, Field, FieldError, TEXT};
use super::kind::DestinationKind;
use crate::destinations::target::{Configured, DestinationTarget};
use crate::domain::ssrf::{reachable_url, NetworkPolicy};
use key::ServiceAccountKey;
use target::PubsubTarget;

pub static DECLARATION: DestinationType = DestinationType {
    kind: DestinationKind::GcpPubsub,
    label: "GCP Pub/Sub",
    description: "Publish each event to a Google Cloud Pub/Sub topic with a service account",
    link: "https://cloud.google.com/pubsub",
    icon: icon!(
        "#3B78E7",
        r#"<circle cx="8" cy="8" r="1.8"/><path d="M8 3.5v2.7M4.2 10.3l2.3-1.3M11.8 10.3 9.5 9"/>"#
    ),
    config_fields: &[
        Field {
            key: "project_id",
            label: "Project ID",
            description: "The Google Cloud project that owns the topic",
            required: true,
            ..TEXT
        },
        Field {
            key: "topic",
            label: "Topic",
            description: "The Pub/Sub topic to publish to",
            required: true,
            ..TEXT
        },
        Field {
            key: "endpoint",
            label: "Endpoint",
            description: "A custom Pub/Sub endpoint, e.g. localhost:8085 for the emulator",
            ..TEXT
        },
    ],
    credential_fields: &[Field {
        key: "service_account_json",
        label: "Service account key",
        description: "The service account's JSON key file, pasted whole",
        required: true,
        sensitive: true,
        multiline: true,
        ..TEXT
    }],
    managed_credentials: &[],
    unmasked_secrets: &[],
    instructions: include_str!("instructions.md"),
    setup_link: None,
};

/// Pub/Sub: the project and topic make a valid resource name, the
/// endpoint (an emulator or a private endpoint) is a URL the network policy
/// allows, and the credentials are a service account key — except with an
/// endpoint, where any credentials are accepted as in Outpost (an emulator
/// needs none).
pub fn check(config: &Value, credentials: &Value, ctx: &CheckContext<'_>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let target = match PubsubTarget::parse(config) {
        Ok(target) => target,
        Err(problems) => return problems,
    };
    if let Some(endpoint) = &target.endpoint {
        if let Err(message) = reachable_url(endpoint, ctx.network) {
            errors.push(error("config.endpoint", message));
        }
        return errors;
    }
    if let Some(key) = credentials
        .get("service_account_json")
        .and_then(Value::as_str)
    {
        let checked = ServiceAccountKey::parse(key)
            .map_err(|e| e.to_string())
            .and_then(|key| token_uri(&key.token_uri, ctx.network));
        if let Err(message) = checked {
            errors.push(error("credentials.service_account_json", message));
        }
    }
    errors
}

/// A key's `token_uri`: the signed assertion, a credential good for an
/// hour, is posted there, so it must be https (plain http only to an
/// address the operator allows, as emulators and tests are) and an address
/// outbound may reach.
fn token_uri(uri: &str, policy: &NetworkPolicy) -> Result<(), String> {
    let parsed = url::Url::parse(uri).map_err(|e| format!("token_uri is not a valid URL: {e}"))?;
    let allowed_literal = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => policy.is_allowlisted(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => policy.is_allowlisted(IpAddr::V6(ip)),
        _ => false,
    };
    match parsed.scheme() {
        "https" => {}
        "http" if allowed_literal => {}
        _ => return Err("token_uri must be an https:// URL".into()),
    }
    reachable_url(uri, policy).map_err(|message| format!("token_uri {message}"))
}

/// `project/topic`, and the topic in the Google Cloud console.
pub fn target(d: &Configured<'_>) -> DestinationTarget {
    let (project, topic) = (d.config("project_id"), d.config("topic"));
    DestinationTarget::with_url(
        format!("{project}/{topic}"),
        format!(
            "https://console.cloud.google.com/cloudpubsub/topic/detail/{topic}?project={project}"
        ),
    )
}
