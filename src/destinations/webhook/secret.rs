//! Webhook signing secrets: how they are made, rotated, and who may set
//! them (DESIGN.md §3).
//!
//! A webhook destination always has a `secret`, generated on create as
//! `whsec_` and 64 hex characters. Rotating (`rotate_secret: true`) makes a
//! new one and keeps the old as `previous_secret`, still signed with until
//! `previous_secret_invalid_at` (24 h later unless the operator says
//! otherwise), so receivers can switch keys without losing a delivery.
//! Tenants can only rotate; the operator may set the secrets directly.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

use crate::destinations::fields::parse_checkbox;
use crate::domain::signature::WebhookMode;

/// How long the previous secret stays valid after a rotation.
pub const ROTATION_GRACE: chrono::Duration = chrono::Duration::hours(24);

/// Credential keys that hold or schedule secrets, which only the operator
/// may set directly.
pub const OPERATOR_ONLY: &[&str] = &["secret", "previous_secret", "previous_secret_invalid_at"];

/// Who is changing the credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    Operator,
    Tenant,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("webhook secrets can be set only by the operator; use rotate_secret")]
    OperatorOnly,
    /// The input is malformed; one message per problem.
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
}

/// A new random signing secret: `whsec_` and 32 random bytes, in hex for
/// Outpost's signatures (the key is the whole string), in base64 for
/// Standard Webhooks (whose libraries decode the part after `whsec_`).
pub fn generate(mode: WebhookMode) -> String {
    use base64::Engine as _;
    let bytes: [u8; 32] = rand::random();
    match mode {
        WebhookMode::Default => format!("whsec_{}", hex::encode(bytes)),
        WebhookMode::Standard => format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        ),
    }
}

/// Applies the secret rules to `credentials` (the stored credentials with
/// the caller's patch merged in), given what the caller `sent`: refuses a
/// tenant setting secrets, rotates on `rotate_secret`, generates a missing
/// secret, and checks `previous_secret_invalid_at`. `rotate_secret` itself
/// is consumed: it is an instruction, not a credential.
pub fn apply(
    caller: Caller,
    mode: WebhookMode,
    sent: &Value,
    credentials: &mut Map<String, Value>,
    now: DateTime<Utc>,
) -> Result<(), SecretError> {
    let sent_keys = sent.as_object();
    if caller == Caller::Tenant
        && sent_keys.is_some_and(|s| OPERATOR_ONLY.iter().any(|k| s.contains_key(*k)))
    {
        return Err(SecretError::OperatorOnly);
    }
    let mut problems = Vec::new();
    let rotate = match credentials.remove("rotate_secret") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(Value::String(s)) if parse_checkbox(&s).is_some() => parse_checkbox(&s) == Some(true),
        Some(_) => {
            problems.push("credentials.rotate_secret must be a boolean".to_string());
            false
        }
    };
    let current = credentials
        .get("secret")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(String::from);
    match (rotate, current) {
        (true, Some(old)) => {
            let given = sent
                .get("previous_secret_invalid_at")
                .and_then(Value::as_str)
                .filter(|_| caller == Caller::Operator);
            let until = given.map(String::from).unwrap_or_else(|| {
                (now + ROTATION_GRACE).to_rfc3339_opts(SecondsFormat::Secs, true)
            });
            credentials.insert("previous_secret".into(), Value::String(old));
            credentials.insert("previous_secret_invalid_at".into(), Value::String(until));
            credentials.insert("secret".into(), Value::String(generate(mode)));
        }
        (_, None) => {
            credentials.insert("secret".into(), Value::String(generate(mode)));
        }
        (false, Some(_)) => {}
    }
    if let Some(t) = credentials
        .get("previous_secret_invalid_at")
        .and_then(Value::as_str)
    {
        if DateTime::parse_from_rfc3339(t).is_err() {
            problems.push(
                "credentials.previous_secret_invalid_at must be an RFC 3339 date-time".into(),
            );
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(SecretError::Invalid(problems))
    }
}

/// Signing secrets valid at `now`, newest first: the current secret, then
/// the previous one while its grace period lasts.
pub fn valid_secrets(credentials: &Value, now: DateTime<Utc>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(s) = credentials.get("secret").and_then(Value::as_str) {
        if !s.is_empty() {
            out.push(s.to_string());
        }
    }
    if let Some(prev) = credentials.get("previous_secret").and_then(Value::as_str) {
        let valid = credentials
            .get("previous_secret_invalid_at")
            .and_then(Value::as_str)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .is_some_and(|until| until > now);
        if valid && !prev.is_empty() {
            out.push(prev.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_missing_secret_is_generated() {
        let mut c = Map::new();
        apply(
            Caller::Tenant,
            WebhookMode::Default,
            &json!({}),
            &mut c,
            Utc::now(),
        )
        .unwrap();
        let s = c["secret"].as_str().unwrap();
        assert!(s.starts_with("whsec_") && s.len() == 6 + 64, "{s}");
    }

    #[test]
    fn standard_mode_secrets_are_base64() {
        use base64::Engine as _;
        let s = generate(WebhookMode::Standard);
        let key = s.strip_prefix("whsec_").unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(key)
            .unwrap();
        assert_eq!(bytes.len(), 32);
    }

    #[test]
    fn rotation_keeps_the_old_secret_for_a_day() {
        let now = at("2026-12-01T10:00:00Z");
        let mut c = obj(json!({"secret": "whsec_old", "rotate_secret": true}));
        apply(
            Caller::Tenant,
            WebhookMode::Default,
            &json!({"rotate_secret": true}),
            &mut c,
            now,
        )
        .unwrap();
        assert_eq!(c["previous_secret"], "whsec_old");
        assert_eq!(c["previous_secret_invalid_at"], "2026-12-02T10:00:00Z");
        assert_ne!(c["secret"], "whsec_old");
        assert!(!c.contains_key("rotate_secret"));
        assert_eq!(
            valid_secrets(&Value::Object(c.clone()), now).len(),
            2,
            "both sign during the overlap"
        );
        let later = now + chrono::Duration::hours(25);
        assert_eq!(valid_secrets(&Value::Object(c), later).len(), 1);
    }

    #[test]
    fn only_the_operator_sets_secrets_or_the_overlap() {
        let now = at("2026-12-01T10:00:00Z");
        let mut c = obj(json!({"secret": "x"}));
        assert_eq!(
            apply(
                Caller::Tenant,
                WebhookMode::Default,
                &json!({"secret": "x"}),
                &mut c,
                now
            ),
            Err(SecretError::OperatorOnly)
        );
        let sent =
            json!({"rotate_secret": "true", "previous_secret_invalid_at": "2026-12-05T00:00:00Z"});
        let mut c = obj(json!({"secret": "whsec_a"}));
        c.extend(obj(sent.clone()));
        apply(Caller::Operator, WebhookMode::Default, &sent, &mut c, now).unwrap();
        assert_eq!(c["previous_secret_invalid_at"], "2026-12-05T00:00:00Z");
    }

    #[test]
    fn malformed_instructions_are_reported() {
        let mut c = obj(json!({"secret": "s", "rotate_secret": "maybe",
                               "previous_secret_invalid_at": "soon"}));
        let err = apply(
            Caller::Operator,
            WebhookMode::Default,
            &json!({}),
            &mut c,
            Utc::now(),
        )
        .unwrap_err();
        let SecretError::Invalid(messages) = err else {
            panic!("{err:?}")
        };
        assert_eq!(messages.len(), 2, "{messages:?}");
    }
}
