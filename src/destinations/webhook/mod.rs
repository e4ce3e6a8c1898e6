//! Webhooks: an HTTP POST of the event's data, signed (Outpost's headers,
//! or Standard Webhooks').
//!
//! - this file: the declaration (fields, icon, link), the create-time
//!   check and the target;
//! - [`send`]: the request and its sender;
//! - `settings`: the deployment's settings ([`Settings`]);
//! - [`secret`]: the signing secret's rules (generation, rotation, who may
//!   set it).

pub mod secret;
pub mod send;
mod settings;
#[cfg(test)]
pub(super) mod tests;

use serde_json::{Map, Value};

use super::check::{error, CheckContext};
use super::fields::{icon, DestinationType, Field, FieldError, FieldKind, Pattern, TEXT};
use super::kind::DestinationKind;
use crate::destinations::target::{Configured, DestinationTarget};
use crate::domain::ssrf::reachable_url;

pub use settings::{Settings, SystemHeaders, MAX_RESPONSE_BODY_CEILING};

const URL_FIELD: Field = Field {
    key: "url",
    label: "Endpoint URL",
    description: "Where each event is sent as an HTTP POST",
    required: true,
    pattern: Some(Pattern::HttpUrl),
    ..TEXT
};

const CUSTOM_HEADERS_FIELD: Field = Field {
    key: "custom_headers",
    kind: FieldKind::KeyValueMap,
    label: "Custom headers",
    description: "Extra HTTP headers added to every request",
    key_placeholder: Some("Header name"),
    value_placeholder: Some("Header value"),
    ..TEXT
};

const WEBHOOK_FIELDS: &[Field] = &[URL_FIELD, CUSTOM_HEADERS_FIELD];

const WEBHOOK_MANAGED: &[&str] = &[
    "secret",
    "previous_secret",
    "previous_secret_invalid_at",
    "rotate_secret",
];

const WEBHOOK_SECRETS: &[&str] = &["secret", "previous_secret"];

const WEBHOOK_LINK: &str = "https://www.standardwebhooks.com/";

const WEBHOOK_ICON: &str = icon!(
    "#4B5563",
    r#"<circle cx="5" cy="11" r="1.6"/><circle cx="11" cy="11" r="1.6"/><circle cx="8" cy="5" r="1.6"/><path d="M8 6.6 5.8 9.6M8 6.6l2.2 3M6.6 11h2.8"/>"#
);

const WEBHOOK: DestinationType = DestinationType {
    kind: DestinationKind::Webhook,
    label: "Webhook",
    description: "Deliver events as signed HTTP POST requests to a URL",
    link: WEBHOOK_LINK,
    icon: WEBHOOK_ICON,
    config_fields: WEBHOOK_FIELDS,
    credential_fields: &[],
    managed_credentials: WEBHOOK_MANAGED,
    unmasked_secrets: WEBHOOK_SECRETS,
    setup_link: None,
    instructions: include_str!("instructions.md"),
};

/// The webhook type's declaration.
pub static DECLARATION: DestinationType = WEBHOOK;

/// The webhook type as advertised by a deployment in Standard Webhooks
/// mode: the same type and fields, described as such.
pub static STANDARD_DECLARATION: DestinationType = DestinationType {
    description:
        "Deliver events as HTTP POST requests signed per the Standard Webhooks specification",
    instructions: include_str!("instructions_standard.md"),
    ..WEBHOOK
};

/// The most custom headers a webhook destination may set: more than a
/// receiver's server usually accepts with ours (Go's and nginx's defaults
/// are far above; 64 leaves room for every real use).
pub const MAX_CUSTOM_HEADERS: usize = 64;

/// The longest custom header value, in bytes: 8 KiB is the smallest
/// header-line limit among common servers (nginx, Apache).
pub const MAX_HEADER_VALUE_BYTES: usize = 8 * 1024;

/// The longest custom header name, in bytes.
const MAX_HEADER_NAME_BYTES: usize = 256;

/// Headers outbound sets on every webhook request, or that describe the
/// connection: a destination cannot replace them.
pub(super) const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "proxy-connection",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
];

/// What the field schema cannot say of a webhook: its URL's host is an
/// address outbound may reach, or a name DNS can hold (names are checked
/// again after resolution at send time: what a name resolves to can
/// change); its custom headers are valid HTTP, none a header outbound sets
/// itself, and no more of them, nor longer, than a receiver accepts.
pub fn check(config: &Value, _credentials: &Value, ctx: &CheckContext<'_>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Some(url) = config.get("url").and_then(Value::as_str) {
        if let Err(message) = reachable_url(url, ctx.network) {
            errors.push(error("config.url", message));
        }
    }
    custom_headers(config.get("custom_headers"), ctx, &mut errors);
    errors
}

/// The URL (Outpost shows no console link for a webhook).
pub fn target(d: &Configured<'_>) -> DestinationTarget {
    DestinationTarget::text(d.config("url"))
}

/// `custom_headers`: names must be HTTP tokens, values HTTP field values
/// (RFC 9110: no CR, LF, NUL or other control characters but tab), none of
/// them a header outbound sets, and no more of them, nor longer, than a
/// receiver accepts.
fn custom_headers(value: Option<&Value>, ctx: &CheckContext<'_>, errors: &mut Vec<FieldError>) {
    let parsed;
    let map: &Map<String, Value> = match value {
        Some(Value::Object(m)) => m,
        Some(Value::String(s)) if !s.is_empty() => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(m)) => {
                parsed = m;
                &parsed
            }
            _ => return, // the schema reports it
        },
        _ => return,
    };
    if map.len() > MAX_CUSTOM_HEADERS {
        errors.push(error(
            "config.custom_headers",
            format!(
                "has {} headers; at most {MAX_CUSTOM_HEADERS} are allowed",
                map.len()
            ),
        ));
    }
    let prefix = ctx.header_prefix.to_ascii_lowercase();
    for (name, value) in map {
        let field = format!("config.custom_headers.{name}");
        let lower = name.to_ascii_lowercase();
        if !is_token(name) {
            errors.push(error(
                &field,
                "is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)".into(),
            ));
        } else if name.len() > MAX_HEADER_NAME_BYTES {
            errors.push(error(
                &field,
                format!("is a header name longer than {MAX_HEADER_NAME_BYTES} bytes"),
            ));
        } else if RESERVED_HEADERS.contains(&lower.as_str())
            || (!prefix.is_empty() && lower.starts_with(&prefix))
        {
            errors.push(error(
                &field,
                "is a header outbound sets itself and cannot be replaced".into(),
            ));
        }
        if let Some(v) = value.as_str() {
            if !is_field_value(v) {
                errors.push(error(
                    &field,
                    "is not a valid header value (no line breaks or control characters)".into(),
                ));
            } else if v.len() > MAX_HEADER_VALUE_BYTES {
                errors.push(error(
                    &field,
                    format!(
                        "is {} bytes long; a header value may have at most {MAX_HEADER_VALUE_BYTES}",
                        v.len()
                    ),
                ));
            }
        }
    }
}

/// RFC 9110 `token`.
pub(super) fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// RFC 9110 `field-value`: visible characters, spaces and tabs (and
/// non-ASCII text), no other control characters.
fn is_field_value(s: &str) -> bool {
    s.chars().all(|c| c == '\t' || !c.is_control())
}
