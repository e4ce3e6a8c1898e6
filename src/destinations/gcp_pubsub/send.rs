//! GCP Pub/Sub over its REST API: one `topics.publish` call per message,
//! `{"messages": [{"data": base64(data), "attributes": metadata}]}` to
//! `projects/<project_id>/topics/<topic>:publish`; delivered when Pub/Sub
//! answers 2xx with the message's id.
//!
//! **Auth**: the OAuth 2.0 JWT-bearer grant. An assertion signed with the
//! service account's key (RS256) is posted to the key's `token_uri`; the
//! access token that comes back is sent as `Authorization: Bearer` and kept
//! until a minute before it expires, per key, so one token exchange serves
//! an hour of deliveries. A 401 from Pub/Sub drops the token and the publish
//! is tried once more with a new one (a revoked or rotated key).
//!
//! **Endpoint**: `config.endpoint` replaces Google's (an emulator, or a
//! private endpoint; see `domain::pubsub_target`). Outpost sends nothing
//! but the message to an endpoint, so with an endpoint any credentials are
//! accepted; if they are nevertheless a real service account key, the
//! OAuth exchange is made and the token sent, which a private endpoint
//! needs and an emulator ignores.
//!
//! Every call goes through the guarded HTTP client, the token endpoint
//! included (it comes from the customer's key file).

use crate::domain::attempt_code::AttemptCode;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::Utc;
use hyper::body::Bytes;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::destinations::gcp_pubsub::key::{ServiceAccountKey, PUBSUB_SCOPE};
use crate::destinations::gcp_pubsub::target::PubsubTarget;
use crate::destinations::rest;
use crate::destinations::sender::{
    BoxFuture, Failure, Message, Reply, Sender, SenderContext, Sent, Target,
};
use crate::net::http_client::HttpSender;

const SERVICE: &str = "Pub/Sub";
const TOKEN_SERVICE: &str = "the OAuth token endpoint";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// A token is dropped this long before Google says it expires, so that it
/// never expires in flight.
const TOKEN_MARGIN: Duration = Duration::from_secs(60);

/// Publishes to Pub/Sub, keeping each service account's access token.
pub struct GcpPubsubSender {
    http: HttpSender,
    /// Access tokens by SHA-256 of the key file's text: a changed key is
    /// another entry, and the cache holds no key material.
    tokens: Mutex<HashMap<[u8; 32], CachedToken>>,
}

#[derive(Clone)]
struct CachedToken {
    access_token: String,
    refresh_at: Instant,
}

impl GcpPubsubSender {
    pub fn new(ctx: &SenderContext) -> GcpPubsubSender {
        GcpPubsubSender {
            http: ctx.http.clone(),
            tokens: Mutex::new(HashMap::new()),
        }
    }

    async fn publish(&self, target: Target<'_>, message: Message<'_>) -> Result<Reply, Failure> {
        let topic = PubsubTarget::parse(target.config).map_err(|errors| {
            let text: Vec<String> = errors
                .into_iter()
                .map(|e| format!("{} {}", e.field, e.message))
                .collect();
            Failure::permanent(AttemptCode::InvalidDestinationConfig, text.join("; "))
        })?;
        let key_text = target
            .credentials
            .get("service_account_json")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let key_id: [u8; 32] = Sha256::digest(key_text.as_bytes()).into();
        let url = topic.publish_url();
        let body = Bytes::from(publish_body(&message));
        let mut retried_with_new_token = false;
        loop {
            let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
            let token = self
                .access_token(key_text, key_id, topic.endpoint.is_some())
                .await?;
            let fresh = token.as_ref().is_some_and(|t| t.fresh);
            if let Some(t) = &token {
                headers.push(("authorization".into(), format!("Bearer {}", t.value)));
            }
            let out = self.http.post(&url, &headers, body.clone()).await;
            let resp = out.result.map_err(|f| rest::unreachable(SERVICE, f))?;
            if resp.status == 401 && token.is_some() && !fresh && !retried_with_new_token {
                self.forget(&key_id);
                retried_with_new_token = true;
                continue;
            }
            if !resp.is_success() {
                return Err(rest::refused(SERVICE, rest::code_for(resp.status), &resp));
            }
            let message_id = serde_json::from_str::<Value>(&resp.body)
                .ok()
                .and_then(|v| v["messageIds"][0].as_str().map(str::to_string));
            if message_id.is_none() {
                return Err(Failure::retryable(
                    AttemptCode::InvalidResponse,
                    format!("{SERVICE} answered {} without a message id", resp.status),
                ));
            }
            return Ok(Reply {
                status: Some(resp.status),
                headers: resp.headers,
                body: resp.body,
            });
        }
    }

    /// The bearer token for the service account key in `key_text`, for a
    /// Pub/Sub call other than a publish (the publish queue's pull and
    /// acknowledge, `intake::gcp_pubsub`), from the same cache; None when
    /// there is no key and `has_endpoint` (an emulator) makes one
    /// unnecessary. `renew` drops the cached one first (after a 401).
    pub async fn bearer(
        &self,
        key_text: &str,
        has_endpoint: bool,
        renew: bool,
    ) -> Result<Option<String>, Failure> {
        let key_id: [u8; 32] = Sha256::digest(key_text.as_bytes()).into();
        if renew {
            self.forget(&key_id);
        }
        let token = self.access_token(key_text, key_id, has_endpoint).await?;
        Ok(token.map(|t| t.value))
    }

    /// The bearer token for the key in `key_text`: the cached one, or a new
    /// one from the key's token endpoint. None when there is no key and an
    /// endpoint (an emulator) makes one unnecessary.
    async fn access_token(
        &self,
        key_text: &str,
        key_id: [u8; 32],
        has_endpoint: bool,
    ) -> Result<Option<Token>, Failure> {
        if let Some(value) = self.cached(&key_id) {
            return Ok(Some(Token {
                value,
                fresh: false,
            }));
        }
        let key = match ServiceAccountKey::parse(key_text) {
            Ok(key) => key,
            Err(_) if has_endpoint => return Ok(None),
            Err(e) => {
                return Err(Failure::permanent(
                    AttemptCode::InvalidDestinationConfig,
                    format!("credentials.service_account_json {e}"),
                ))
            }
        };
        let (value, lifetime) = self.exchange(&key).await?;
        let refresh_at = Instant::now() + lifetime.saturating_sub(TOKEN_MARGIN.min(lifetime / 2));
        let mut tokens = self.lock();
        let now = Instant::now();
        tokens.retain(|_, t| t.refresh_at > now);
        tokens.insert(
            key_id,
            CachedToken {
                access_token: value.clone(),
                refresh_at,
            },
        );
        Ok(Some(Token { value, fresh: true }))
    }

    /// The JWT-bearer grant: the signed assertion for the access token and
    /// how long it lives.
    async fn exchange(&self, key: &ServiceAccountKey) -> Result<(String, Duration), Failure> {
        let assertion = key
            .assertion(PUBSUB_SCOPE, Utc::now().timestamp())
            .map_err(|e| {
                Failure::permanent(AttemptCode::InvalidDestinationConfig, e.to_string())
            })?;
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", JWT_BEARER)
            .append_pair("assertion", &assertion)
            .finish();
        let headers = [(
            "content-type".to_string(),
            "application/x-www-form-urlencoded".to_string(),
        )];
        let out = self.http.post(&key.token_uri, &headers, form.into()).await;
        let resp = out
            .result
            .map_err(|f| rest::unreachable(TOKEN_SERVICE, f))?;
        if !resp.is_success() {
            // invalid_grant (400) and invalid_client (401) are how the
            // endpoint says the key is wrong, deleted or disabled.
            let code = match resp.status {
                400 | 401 | 403 => AttemptCode::AuthFailed,
                other => rest::code_for(other),
            };
            return Err(rest::refused(TOKEN_SERVICE, code, &resp));
        }
        // Only the fields: the answer holds the token itself, which must
        // not reach a message.
        let answer: Value = serde_json::from_str(&resp.body).unwrap_or(Value::Null);
        let Some(token) = answer["access_token"].as_str().filter(|t| !t.is_empty()) else {
            return Err(Failure::retryable(
                AttemptCode::InvalidResponse,
                format!(
                    "{TOKEN_SERVICE} answered {} without an access_token",
                    resp.status
                ),
            ));
        };
        let lifetime = answer["expires_in"].as_u64().unwrap_or(3600);
        Ok((token.to_string(), Duration::from_secs(lifetime)))
    }

    fn cached(&self, key_id: &[u8; 32]) -> Option<String> {
        let tokens = self.lock();
        let t = tokens.get(key_id)?;
        (t.refresh_at > Instant::now()).then(|| t.access_token.clone())
    }

    fn forget(&self, key_id: &[u8; 32]) {
        self.lock().remove(key_id);
    }

    /// The cache, even if a thread panicked holding it: the map stays
    /// consistent (every change is one call), so its data is still good.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], CachedToken>> {
        self.tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

struct Token {
    value: String,
    /// Just exchanged (a 401 with it is not an expired cache entry).
    fresh: bool,
}

/// The `topics.publish` request body: the data as base64, the metadata map
/// as the message's attributes.
fn publish_body(message: &Message<'_>) -> String {
    let attributes: Map<String, Value> = message
        .metadata
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect();
    json!({"messages": [{"data": STANDARD.encode(message.data), "attributes": attributes}]})
        .to_string()
}

impl Sender for GcpPubsubSender {
    fn send<'a>(&'a self, target: Target<'a>, message: Message<'a>) -> BoxFuture<'a, Sent> {
        Box::pin(async move {
            match self.publish(target, message).await {
                Ok(reply) => Sent::Delivered(Some(reply)),
                Err(failure) => Sent::Failed(failure),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destinations::test_support::Sample;

    #[test]
    fn the_body_carries_base64_data_and_the_metadata_as_attributes() {
        let sample = Sample::new("user.created", None, json!({"source": "crm"}));
        let data = "{\"b\":1,  \"a\":2}";
        let message = sample.message(data);
        let body: Value = serde_json::from_str(&publish_body(&message)).unwrap();
        let m = &body["messages"][0];
        assert_eq!(
            STANDARD.decode(m["data"].as_str().unwrap()).unwrap(),
            data.as_bytes()
        );
        assert_eq!(
            m["attributes"],
            json!({"event-id": "evt_1", "topic": "user.created",
                   "timestamp": "2026-11-29T12:00:00Z", "source": "crm"})
        );
    }
}
