//! Hookdeck Event Gateway: each event posted to the ingest URL the token
//! names.
//!
//! - this file: the declaration, the create-time check, the target;
//! - [`token`]: what a Hookdeck token holds;
//! - [`send`]: the sender and its deployment setting (the ingest URL).

pub mod send;
#[cfg(test)]
pub(super) mod tests;
pub mod token;

use serde_json::Value;

use super::check::{error, CheckContext};
use super::fields::{icon, DestinationType, Field, FieldError, SetupLink, TEXT};
use super::kind::DestinationKind;
use crate::destinations::target::{Configured, DestinationTarget};
use crate::domain::setting;
use token::HookdeckToken;

/// Where Hookdeck destinations send.
#[derive(clap::Args, Debug, Clone)]
#[group(skip)]
pub struct Settings {
    /// Base URL of Hookdeck's ingest endpoint (a stand-in for tests)
    #[arg(
        env = "DESTINATIONS_HOOKDECK_INGEST_URL",
        default_value = "https://hkdk.events"
    )]
    #[arg(value_parser = setting::http_url)]
    pub ingest_url: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            ingest_url: "https://hkdk.events".into(),
        }
    }
}

pub static DECLARATION: DestinationType = DestinationType {
    kind: DestinationKind::Hookdeck,
    label: "Hookdeck",
    description: "Send each event to the Hookdeck Event Gateway",
    link: "https://hookdeck.com/",
    icon: icon!("#6B4EFF", r#"<path d="M5 4v8M11 4v8M5 8h6"/>"#),
    config_fields: &[],
    credential_fields: &[Field {
        key: "token",
        label: "Hookdeck token",
        description: "The token Hookdeck issued for this connection",
        required: true,
        sensitive: true,
        ..TEXT
    }],
    managed_credentials: &[],
    unmasked_secrets: &[],
    instructions: include_str!("instructions.md"),
    setup_link: Some(SetupLink {
        href: "https://dashboard.hookdeck.com/connect",
        cta: "Generate Hookdeck Token",
    }),
};

/// The token is a Hookdeck token (a source id and a secret).
pub fn check(_config: &Value, credentials: &Value, _ctx: &CheckContext<'_>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Some(token) = credentials.get("token").and_then(Value::as_str) {
        if let Err(message) = HookdeckToken::parse(token) {
            errors.push(error("credentials.token", message));
        }
    }
    errors
}

/// The Hookdeck source the token names, and that source in Hookdeck's
/// dashboard.
pub fn target(d: &Configured<'_>) -> DestinationTarget {
    match d.credential("token") {
        "" => DestinationTarget::text("Hookdeck (no token)"),
        token => match token::HookdeckToken::parse(token) {
            Ok(t) => DestinationTarget::with_url(
                format!("Hookdeck source ID: {}", t.source_id),
                format!("https://dashboard.hookdeck.com/sources/{}", t.source_id),
            ),
            Err(_) => DestinationTarget::text("Hookdeck (invalid token)"),
        },
    }
}
