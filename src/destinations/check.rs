//! What every destination type's check shares: the deployment facts the
//! checks need, and the rules that hold for every type. Each type's own
//! rules are in its folder (`check` beside its declaration); the registry
//! runs both when a destination is created or changed, so that a setting
//! that could never deliver is refused with a 422 naming the field,
//! instead of failing every attempt until the destination is disabled.
//!
//! For every type: no control character (CR, LF, NUL, tab…) in any
//! single-line value. Every one of them ends up in a header, a URL or a
//! protocol field (an AWS key in a signature, a SharedAccessSignature in a
//! header), where it could never be sent.

use serde_json::Value;

use super::fields::{DestinationType, FieldError};
use crate::domain::jmespath_template;
use crate::domain::ssrf::NetworkPolicy;

/// What the checks need to know about the deployment.
#[derive(Debug, Clone, Copy)]
pub struct CheckContext<'a> {
    /// Which addresses destinations may reach (`DESTINATIONS_WEBHOOK_ALLOWED_NETWORKS`).
    pub network: &'a NetworkPolicy,
    /// The prefix of the headers outbound sets (`DESTINATIONS_WEBHOOK_HEADER_PREFIX`).
    pub header_prefix: &'a str,
}

/// The rules every type shares, for a destination of type `t`.
pub fn shared(t: &DestinationType, config: &Value, credentials: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    single_line_values(t, config, credentials, &mut errors);
    errors
}

/// Every single-line text of `config` and `credentials` is free of
/// control characters (the declarations mark the few that may span lines).
fn single_line_values(
    t: &DestinationType,
    config: &Value,
    credentials: &Value,
    errors: &mut Vec<FieldError>,
) {
    for (section, field) in t.single_line_fields() {
        let values = if section == "config" {
            config
        } else {
            credentials
        };
        let Some(text) = values.get(field.key).and_then(Value::as_str) else {
            continue;
        };
        if let Some(c) = text.chars().find(|c| c.is_control()) {
            errors.push(error(
                &format!("{section}.{}", field.key),
                format!(
                    "contains a control character ({}); a line break, tab or NUL can never be sent in a header or URL",
                    control_name(c)
                ),
            ));
        }
    }
}

/// How a control character is named in an error.
fn control_name(c: char) -> String {
    match c {
        '\r' => "CR".into(),
        '\n' => "LF".into(),
        '\t' => "tab".into(),
        '\0' => "NUL".into(),
        c => format!("U+{:04X}", u32::from(c)),
    }
}

/// A config field's text, unless blank.
pub fn given<'a>(config: &'a Value, key: &str) -> Option<&'a str> {
    config
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// A JMESPath template field, when set, must compile.
pub fn template(config: &Value, key: &str, errors: &mut Vec<FieldError>) {
    if let Some(text) = given(config, key) {
        if let Err(message) = jmespath_template::check(text) {
            errors.push(error(&format!("config.{key}"), message));
        }
    }
}

pub fn error(field: &str, message: String) -> FieldError {
    FieldError {
        field: field.to_string(),
        message,
    }
}
