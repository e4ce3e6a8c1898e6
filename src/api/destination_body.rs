//! Destination request bodies — create, and merge-patch (RFC 7396) — checked
//! field by field into what the store writes. Every problem is collected so
//! a form can mark all its bad inputs at once; the rules themselves (type
//! schemas, filters, topics, secrets) are the domain's.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};
use serde_json::{json, Map, Value};

use super::auth::Principal;
use super::error::{ApiError, Problems};
use super::AppState;
use crate::destinations;
use crate::destinations::check::CheckContext;
use crate::destinations::credentials::{merge_credentials, merge_patch};
use crate::destinations::fields::DestinationType;
use crate::destinations::kind::DestinationKind;
use crate::destinations::webhook::secret::{self as webhook_secret, Caller, SecretError};
use crate::domain::delivery_policy::DeliveryPolicy;
use crate::domain::filter::Filter;
use crate::domain::ids::{DestinationId, TenantId};
use crate::domain::metadata::string_map;
use crate::domain::signature::WebhookMode;
use crate::store::destinations::{DestinationRow, DestinationUpdate, NewDestination};

/// `POST /tenants/{tenant_id}/destinations`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateDestination {
    id: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    topics: Option<Value>,
    filter: Option<Value>,
    config: Option<Value>,
    credentials: Option<Value>,
    delivery_metadata: Option<Value>,
    metadata: Option<Value>,
    disabled_at: Option<Value>,
    /// An extension: the destination's own retries and timeout.
    delivery_policy: Option<Value>,
}

/// One member of a merge-patch: absent (unchanged), null (cleared) or a value.
#[derive(Debug, Default)]
pub enum Member {
    #[default]
    Absent,
    Null,
    Value(Value),
}

impl<'de> Deserialize<'de> for Member {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::Null => Member::Null,
            v => Member::Value(v),
        })
    }
}

impl Member {
    fn value(&self) -> Option<&Value> {
        match self {
            Member::Value(v) => Some(v),
            _ => None,
        }
    }
}

/// `PATCH /tenants/{tenant_id}/destinations/{destination_id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchDestination {
    #[serde(default, rename = "type")]
    kind: Member,
    #[serde(default)]
    topics: Member,
    #[serde(default)]
    filter: Member,
    #[serde(default)]
    config: Member,
    #[serde(default)]
    credentials: Member,
    #[serde(default)]
    delivery_metadata: Member,
    #[serde(default)]
    metadata: Member,
    #[serde(default)]
    disabled_at: Member,
    #[serde(default)]
    delivery_policy: Member,
}

fn caller(principal: &Principal) -> Caller {
    match principal {
        Principal::Admin => Caller::Operator,
        Principal::Tenant(_) => Caller::Tenant,
    }
}

impl CreateDestination {
    /// The destination to insert, with its credentials encrypted; 422 with
    /// every problem, or 403 for a tenant setting a webhook secret.
    pub fn check(
        self,
        state: &AppState,
        principal: &Principal,
        tenant: &TenantId,
        now: DateTime<Utc>,
    ) -> Result<NewDestination, ApiError> {
        let mut problems = Problems::default();
        let kind = match self.kind.as_deref() {
            None => {
                problems.push("type is required");
                None
            }
            Some(k) => problems.take(DestinationKind::parse(k)).filter(|k| {
                match state.deliverable.contains(k) {
                    true => true,
                    false => {
                        problems.push(format!("type {k} cannot be delivered by this build"));
                        false
                    }
                }
            }),
        };
        let id = match self.id {
            None => Some(DestinationId::generate()),
            Some(s) => problems.take(DestinationId::try_from(s)),
        };
        let topics = match &self.topics {
            None => {
                problems.push("topics is required");
                None
            }
            Some(v) => topics(state, v, &mut problems),
        };
        let filter = filter(self.filter.as_ref(), &mut problems);
        let config = self.config.unwrap_or_else(|| json!({}));
        let sent = self.credentials.unwrap_or_else(|| json!({}));
        let delivery_metadata = strings(
            "delivery_metadata",
            self.delivery_metadata.as_ref(),
            &mut problems,
        );
        let metadata = strings("metadata", self.metadata.as_ref(), &mut problems);
        let disabled_at = match &self.disabled_at {
            None => None,
            Some(v) => disabled_at(v, &mut problems).flatten(),
        };
        let policy = policy(state, self.delivery_policy.as_ref(), &mut problems);
        let mut credentials = sent.clone();
        if let Some(k) = kind {
            credentials = secrets(
                k,
                state.webhook_mode,
                principal,
                &sent,
                credentials,
                now,
                &mut problems,
            )?;
            validate(
                state,
                destinations::declaration(k),
                &config,
                &credentials,
                &mut problems,
            );
        }
        let (Some(kind), Some(id), Some(topics)) = (kind, id, topics) else {
            return Err(problems.fail());
        };
        let t = destinations::declaration(kind);
        problems.check()?;
        Ok(NewDestination {
            id,
            tenant_id: tenant.clone(),
            kind,
            topics,
            filter,
            config: t.normalize_config(&config),
            credentials: encrypt(state, t, &credentials)?,
            delivery_metadata: delivery_metadata.flatten(),
            metadata: metadata.flatten(),
            disabled_at,
            policy,
        })
    }
}

/// A checked merge-patch: the fields to store, and whether to enable (false)
/// or disable (true) the destination.
pub struct Patched {
    pub update: DestinationUpdate,
    pub disable: Option<bool>,
}

impl PatchDestination {
    /// The stored destination `d` with this patch applied, checked.
    pub fn apply(
        self,
        state: &AppState,
        principal: &Principal,
        d: &DestinationRow,
        now: DateTime<Utc>,
    ) -> Result<Patched, ApiError> {
        let mut problems = Problems::default();
        let t = destinations::declaration(d.kind);
        if !matches!(&self.kind, Member::Value(Value::String(k)) if k == d.kind.as_str())
            && !matches!(self.kind, Member::Absent)
        {
            problems.push(format!(
                "type cannot be changed (this destination is a {})",
                d.kind
            ));
        }
        let topics = match &self.topics {
            Member::Absent => Some(d.topics.clone()),
            Member::Null => topics(state, &Value::Null, &mut problems),
            Member::Value(v) => topics(state, v, &mut problems),
        };
        let filter = match &self.filter {
            Member::Absent => d.filter.as_ref().and_then(|f| Filter::parse(f).ok()),
            other => filter(other.value(), &mut problems),
        };
        let mut config = d.config.clone();
        if let Some(p) = self.config.value() {
            merge_patch(&mut config, p);
        }
        let stored = state
            .cipher
            .decrypt_sensitive(t, &d.credentials)
            .map_err(|e| ApiError::internal(&e))?;
        let sensitive: Vec<&str> = t.sensitive_keys().collect();
        let (credentials, sent) = match self.credentials.value() {
            None => (stored.clone(), json!({})),
            Some(p) => (merge_credentials(&stored, p, &sensitive), p.clone()),
        };
        // A tenant echoing the secret it was shown is not setting it.
        let mut echoed = sent;
        if let (Some(s), Some(obj)) = (stored.as_object(), echoed.as_object_mut()) {
            obj.retain(|k, v| s.get(k) != Some(v));
        }
        let credentials = secrets(
            d.kind,
            state.webhook_mode,
            principal,
            &echoed,
            credentials,
            now,
            &mut problems,
        )?;
        let delivery_metadata = merge_optional(&d.delivery_metadata, &self.delivery_metadata);
        let metadata = merge_optional(&d.metadata, &self.metadata);
        strings(
            "delivery_metadata",
            delivery_metadata.as_ref(),
            &mut problems,
        );
        strings("metadata", metadata.as_ref(), &mut problems);
        validate(state, t, &config, &credentials, &mut problems);
        // Merged as the rest of a merge-patch: `{"timeout_seconds": null}`
        // drops that part only, `null` the whole policy.
        let policy = match &self.delivery_policy {
            Member::Absent => d.policy.clone(),
            Member::Null => DeliveryPolicy::default(),
            Member::Value(p) => {
                let mut merged = d.policy.to_json();
                merge_patch(&mut merged, p);
                self::policy(state, Some(&merged), &mut problems)
            }
        };
        let disable = match &self.disabled_at {
            Member::Absent => None,
            Member::Null => Some(false),
            Member::Value(v) => disabled_at(v, &mut problems).map(|_| true),
        };
        let Some(topics) = topics else {
            return Err(problems.fail());
        };
        problems.check()?;
        Ok(Patched {
            update: DestinationUpdate {
                topics,
                filter,
                config: t.normalize_config(&config),
                credentials: encrypt(state, t, &credentials)?,
                delivery_metadata,
                metadata,
                policy,
            },
            disable,
        })
    }
}

/// `delivery_policy`, within the operator's bounds; every problem named.
fn policy(state: &AppState, v: Option<&Value>, problems: &mut Problems) -> DeliveryPolicy {
    match v.map(|v| DeliveryPolicy::parse(v, &state.policy_bounds)) {
        None => DeliveryPolicy::default(),
        Some(Ok(p)) => p,
        Some(Err(messages)) => {
            for m in messages {
                problems.push(m);
            }
            DeliveryPolicy::default()
        }
    }
}

/// `topics`: `"*"` or an array of topic names, each allowed by the
/// deployment's topic list.
fn topics(state: &AppState, v: &Value, problems: &mut Problems) -> Option<Vec<String>> {
    let list = match v {
        Value::String(s) if s == "*" => vec!["*".to_string()],
        Value::Array(a) if a.iter().all(Value::is_string) => a
            .iter()
            .filter_map(|t| t.as_str().map(String::from))
            .collect(),
        _ => {
            problems.push("topics must be an array of topic names, or \"*\"");
            return None;
        }
    };
    match state.topics.check_subscription(&list) {
        Ok(t) => Some(t),
        Err(e) => {
            problems.push(format!("topics: {e}"));
            None
        }
    }
}

fn filter(v: Option<&Value>, problems: &mut Problems) -> Option<Filter> {
    match v {
        None | Some(Value::Null) => None,
        Some(f) => problems.take(Filter::parse(f)),
    }
}

/// A metadata field, checked; `Some(None)` when absent or null.
fn strings(field: &str, v: Option<&Value>, problems: &mut Problems) -> Option<Option<Value>> {
    match string_map(field, v) {
        Ok(m) => Some(m),
        Err(messages) => {
            problems.extend(messages);
            None
        }
    }
}

/// `disabled_at`: null, or an RFC 3339 date-time.
fn disabled_at(v: &Value, problems: &mut Problems) -> Option<Option<DateTime<Utc>>> {
    match v {
        Value::Null => Some(None),
        Value::String(s) => match DateTime::parse_from_rfc3339(s) {
            Ok(t) => Some(Some(t.to_utc())),
            Err(_) => {
                problems.push("disabled_at must be null or an RFC 3339 date-time");
                None
            }
        },
        _ => {
            problems.push("disabled_at must be null or an RFC 3339 date-time");
            None
        }
    }
}

/// The webhook secret rules applied to merged `credentials` (other kinds
/// have no managed secrets). 403 for a tenant setting a secret.
fn secrets(
    kind: DestinationKind,
    mode: WebhookMode,
    principal: &Principal,
    sent: &Value,
    credentials: Value,
    now: DateTime<Utc>,
    problems: &mut Problems,
) -> Result<Value, ApiError> {
    if kind != DestinationKind::Webhook {
        return Ok(credentials);
    }
    let Value::Object(mut map) = credentials else {
        problems.push("credentials must be an object");
        return Ok(credentials);
    };
    match webhook_secret::apply(caller(principal), mode, sent, &mut map, now) {
        Ok(()) => {}
        Err(e @ SecretError::OperatorOnly) => {
            return Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                e.to_string(),
            ))
        }
        Err(SecretError::Invalid(messages)) => problems.extend(messages),
    }
    Ok(Value::Object(map))
}

/// The type's field schema, then (when that passed) the checks the schema
/// cannot express: an unreachable URL, an invalid header, a key that is none.
fn validate(
    state: &AppState,
    t: &DestinationType,
    config: &Value,
    credentials: &Value,
    problems: &mut Problems,
) {
    let errors = match t.validate(config, credentials) {
        Ok(()) => {
            let ctx = CheckContext {
                network: &state.network,
                header_prefix: &state.header_prefix,
            };
            destinations::check_settings(t.kind, config, credentials, &ctx)
        }
        Err(errors) => errors,
    };
    problems.extend(
        errors
            .into_iter()
            .map(|e| format!("{}: {}", e.field, e.message)),
    );
}

fn encrypt(state: &AppState, t: &DestinationType, credentials: &Value) -> Result<Value, ApiError> {
    state
        .cipher
        .encrypt_sensitive(t, credentials)
        .map_err(|e| ApiError::internal(&e))
}

/// RFC 7396 for an optional object field: absent = unchanged, null = cleared.
fn merge_optional(stored: &Option<Value>, patch: &Member) -> Option<Value> {
    match patch {
        Member::Absent => stored.clone(),
        Member::Null => None,
        Member::Value(p) => {
            let mut merged = stored.clone().unwrap_or_else(|| Value::Object(Map::new()));
            merge_patch(&mut merged, p);
            Some(merged)
        }
    }
}
