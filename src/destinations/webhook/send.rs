//! Webhooks (DESIGN.md §3): an HTTP POST whose body is the event's data,
//! byte for byte; identity, topic, timestamp and metadata headers; the
//! signature; the destination's custom headers. [`build`] makes the
//! request, [`WebhookSender`] sends it through the guarded HTTP client.

use crate::domain::attempt_code::AttemptCode;
use serde_json::Value;

use super::{Settings, MAX_RESPONSE_BODY_CEILING};
use crate::destinations::sender::{
    BoxFuture, Failure, Message, Reply, Sender, SenderContext, Sent, Target,
};
use crate::destinations::webhook::secret::valid_secrets;
use crate::domain::signature::{outpost_signature, standard_signature, SignInput, WebhookMode};
use crate::net::http_client::HttpSender;

#[derive(Debug, Clone, PartialEq)]
pub struct WebhookRequest {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum WebhookError {
    #[error("destination config has no url")]
    NoUrl,
    #[error("destination has no signing secret")]
    NoSecret,
    #[error("signing failed: {0}")]
    Signing(String),
}

/// Builds the request for `message` to `target`.
pub fn build(
    settings: &Settings,
    target: Target<'_>,
    message: Message<'_>,
) -> Result<WebhookRequest, WebhookError> {
    let (event_id, now) = (message.event_id.as_str(), message.attempted_at);
    let url = target
        .config
        .get("url")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
        .ok_or(WebhookError::NoUrl)?
        .to_string();
    let secrets = valid_secrets(target.credentials, now);
    if secrets.is_empty() {
        return Err(WebhookError::NoSecret);
    }
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let body = message.data.as_bytes().to_vec();
    let prefix = &settings.header_prefix;
    let metadata = message.metadata;
    let mut headers: Vec<(String, String)> =
        vec![("content-type".into(), "application/json".into())];

    match settings.mode {
        WebhookMode::Default => {
            // The whole metadata map, system keys included, as
            // `<prefix><key>` (a system key under its own header's name,
            // or left out with it); then the signature, which nothing
            // replaces.
            let names = &settings.headers;
            for (k, v) in metadata.iter() {
                if let Some(name) = names.for_metadata(prefix, &k.to_ascii_lowercase()) {
                    set(&mut headers, name, v.to_string());
                }
            }
            if let Some(name) = &names.signature {
                let signature = outpost_signature(
                    &settings.templates,
                    settings.signature_encoding,
                    &secrets,
                    &SignInput {
                        body: &body,
                        timestamp: now.timestamp(),
                        event_id,
                        topic: message.topic,
                    },
                );
                set(&mut headers, name.clone(), signature);
            }
        }
        WebhookMode::Standard => {
            // The id and timestamp travel as `<prefix>id` and
            // `<prefix>timestamp` (the prefix is `webhook-` unless set, as
            // in Outpost); the rest of the map as prefixed headers.
            for (k, v) in metadata
                .iter()
                .filter(|(k, _)| !matches!(*k, "event-id" | "timestamp"))
            {
                set(
                    &mut headers,
                    format!("{prefix}{}", k.to_ascii_lowercase()),
                    v.to_string(),
                );
            }
            let timestamp = now.timestamp();
            let signature = standard_signature(&secrets, event_id, timestamp, &body)
                .map_err(|e| WebhookError::Signing(e.to_string()))?;
            set(&mut headers, format!("{prefix}id"), event_id.to_string());
            set(
                &mut headers,
                format!("{prefix}timestamp"),
                timestamp.to_string(),
            );
            set(&mut headers, format!("{prefix}signature"), signature);
            // The event's own metadata also goes as headers without the
            // prefix, as Outpost sends it; never in place of one set above.
            for (k, v) in metadata.event_own() {
                let name = k.to_ascii_lowercase();
                if !headers.iter().any(|(n, _)| *n == name) {
                    headers.push((name, v.to_string()));
                }
            }
        }
    }
    // A custom header never replaces one outbound set: the API refuses
    // those under the prefix, and a pinned system header name is kept here.
    let system = headers.len();
    for (k, v) in custom_headers(target.config) {
        let name = k.to_ascii_lowercase();
        if !headers[..system].iter().any(|(n, _)| *n == name) {
            set(&mut headers, name, v);
        }
    }
    Ok(WebhookRequest { url, headers, body })
}

/// `config.custom_headers`: an object, or (as Outpost stores config values
/// as strings) a JSON-encoded object.
fn custom_headers(config: &Value) -> Vec<(String, String)> {
    let parsed;
    let map = match config.get("custom_headers") {
        Some(Value::Object(m)) => m,
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(m)) => {
                parsed = m;
                &parsed
            }
            _ => return Vec::new(),
        },
        _ => return Vec::new(),
    };
    map.iter()
        .map(|(k, v)| (k.clone(), value_text(v)))
        .collect()
}

/// Sets header `name`, replacing an earlier one of that name.
fn set(headers: &mut Vec<(String, String)>, name: String, value: String) {
    headers.retain(|(n, _)| n != &name);
    headers.push((name, value));
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Sends webhooks: builds each request and POSTs it through the guarded,
/// keep-alive HTTP client.
pub struct WebhookSender {
    http: HttpSender,
    settings: Settings,
}

impl WebhookSender {
    /// The sender over the process's HTTP client, keeping as much of each
    /// response as `DESTINATIONS_WEBHOOK_MAX_RESPONSE_BODY_BYTES` says, and
    /// with a pool of its own through `DESTINATIONS_WEBHOOK_PROXY_URL` when
    /// that is set (the other types' HTTP calls do not use the proxy, as in
    /// Outpost).
    pub fn new(ctx: &SenderContext, settings: &Settings) -> WebhookSender {
        let http = ctx
            .http
            .with_max_response_bytes(response_cap(settings.max_response_body_bytes));
        let http = match &settings.proxy_url {
            Some(proxy) => http.through_proxy(proxy.clone()),
            None => http,
        };
        WebhookSender {
            http,
            settings: settings.clone(),
        }
    }
}

/// The response bytes kept for `DESTINATIONS_WEBHOOK_MAX_RESPONSE_BODY_BYTES`:
/// as many, or for 0 (Outpost's "no cap") outbound's ceiling.
fn response_cap(setting: usize) -> usize {
    match setting {
        0 => MAX_RESPONSE_BODY_CEILING,
        n => n,
    }
}

/// The body stored on the attempt: as received, or, when it was longer than
/// the cap, Outpost's note saying so (never a cut body, which a reader
/// could take for the whole).
fn stored_body(body: String, truncated: bool, cap: usize) -> String {
    if truncated {
        format!("Response body exceeded {cap} bytes and was not stored")
    } else {
        body
    }
}

impl Sender for WebhookSender {
    fn send<'a>(&'a self, target: Target<'a>, message: Message<'a>) -> BoxFuture<'a, Sent> {
        Box::pin(async move {
            let req = match build(&self.settings, target, message) {
                Ok(req) => req,
                Err(err) => {
                    return Sent::Failed(Failure::permanent(
                        AttemptCode::InvalidDestinationConfig,
                        err.to_string(),
                    ))
                }
            };
            let out = self
                .http
                .post(&req.url, &req.headers, req.body.into())
                .await;
            match out.result {
                Ok(resp) => {
                    // Retry-After only means "come back later" on these.
                    let retry_after = matches!(resp.status, 429 | 503)
                        .then_some(resp.retry_after)
                        .flatten();
                    let success = resp.is_success();
                    let code = AttemptCode::Http(resp.status);
                    let cap = response_cap(self.settings.max_response_body_bytes);
                    let reply = Reply {
                        status: Some(resp.status),
                        headers: resp.headers,
                        body: stored_body(resp.body, resp.body_truncated, cap),
                    };
                    if success {
                        Sent::Delivered(Some(reply))
                    } else {
                        Sent::Failed(Failure {
                            code,
                            message: format!("the endpoint answered {}", reply.status.unwrap_or(0)),
                            reply: Some(reply),
                            retry_after,
                            permanent: false,
                        })
                    }
                }
                Err(failure) => Sent::Failed(Failure::retryable(failure.code, failure.detail)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{DestinationId, EventId};
    use crate::domain::metadata::MessageMetadata;
    use crate::store::deliveries::{ClaimedDestination, ClaimedEvent};
    use chrono::{DateTime, Utc};
    use hmac::{Hmac, Mac};
    use serde_json::json;

    fn event() -> ClaimedEvent {
        ClaimedEvent {
            topic: "user.created".into(),
            metadata: json!({"source": "crm"}),
            data: "{\"b\":1,  \"a\":2}".into(),
        }
    }

    fn destination(credentials: Value) -> ClaimedDestination {
        ClaimedDestination {
            kind: crate::destinations::kind::DestinationKind::Webhook,
            config: json!({"url": "https://example.com/h", "custom_headers": "{\"X-Api-Key\":\"k1\"}"}),
            credentials,
            delivery_metadata: Some(json!({"region": "eu"})),
            disabled: false,
            circuit_open_until: None,
            policy: Default::default(),
        }
    }

    /// `build` for a claimed event and destination, as the worker calls it.
    fn run(
        settings: &Settings,
        event_id: &str,
        event: &ClaimedEvent,
        d: &ClaimedDestination,
        now: DateTime<Utc>,
    ) -> Result<WebhookRequest, WebhookError> {
        let id = EventId::parse(event_id).unwrap();
        let metadata = MessageMetadata::new(
            event_id,
            &event.topic,
            now,
            d.delivery_metadata.as_ref(),
            &event.metadata,
        );
        let destination_id = DestinationId::parse("d").unwrap();
        let target = Target {
            id: &destination_id,
            config: &d.config,
            credentials: &d.credentials,
        };
        let message = Message {
            event_id: &id,
            topic: &event.topic,
            time: now,
            data: &event.data,
            metadata: &metadata,
            attempted_at: now,
        };
        build(settings, target, message)
    }

    fn hmac_hex(key: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }

    fn header<'a>(r: &'a WebhookRequest, name: &str) -> Option<&'a str> {
        r.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn default_mode_request() {
        let now = DateTime::parse_from_rfc3339("2026-11-29T12:00:00Z")
            .unwrap()
            .to_utc();
        let r = run(
            &Settings::default(),
            "evt_1",
            &event(),
            &destination(json!({"secret": "whsec_abc"})),
            now,
        )
        .unwrap();
        assert_eq!(r.url, "https://example.com/h");
        assert_eq!(r.body, b"{\"b\":1,  \"a\":2}");
        assert_eq!(header(&r, "content-type"), Some("application/json"));
        assert_eq!(header(&r, "x-outpost-event-id"), Some("evt_1"));
        assert_eq!(header(&r, "x-outpost-topic"), Some("user.created"));
        assert_eq!(
            header(&r, "x-outpost-timestamp"),
            Some("2026-11-29T12:00:00Z")
        );
        assert_eq!(header(&r, "x-outpost-source"), Some("crm"));
        assert_eq!(header(&r, "x-outpost-region"), Some("eu"));
        // Event metadata wins over the destination's, which wins over the
        // system keys; the signature is never replaced.
        let mut d = destination(json!({"secret": "whsec_abc"}));
        d.delivery_metadata = Some(json!({"source": "dest", "topic": "t2", "signature": "x"}));
        let r = run(&Settings::default(), "evt_1", &event(), &d, now).unwrap();
        assert_eq!(header(&r, "x-outpost-source"), Some("crm"));
        assert_eq!(header(&r, "x-outpost-topic"), Some("t2"));
        assert!(header(&r, "x-outpost-signature")
            .unwrap()
            .starts_with("v0="));
        let count = |name: &str| r.headers.iter().filter(|(n, _)| n == name).count();
        assert_eq!(count("x-outpost-source"), 1);
        assert_eq!(count("x-outpost-signature"), 1);
        assert_eq!(header(&r, "x-api-key"), Some("k1"));
        let expected = format!("v0={}", hmac_hex("whsec_abc", &r.body));
        assert_eq!(header(&r, "x-outpost-signature"), Some(expected.as_str()));
    }

    #[test]
    fn rotation_signs_with_both_secrets_newest_first_until_the_old_expires() {
        let now = DateTime::parse_from_rfc3339("2026-11-29T12:00:00Z")
            .unwrap()
            .to_utc();
        let creds = json!({"secret": "new", "previous_secret": "old",
                           "previous_secret_invalid_at": "2026-11-30T12:00:00Z"});
        let r = run(
            &Settings::default(),
            "e",
            &event(),
            &destination(creds.clone()),
            now,
        )
        .unwrap();
        let expected = format!(
            "v0={},{}",
            hmac_hex("new", &r.body),
            hmac_hex("old", &r.body)
        );
        assert_eq!(header(&r, "x-outpost-signature"), Some(expected.as_str()));
        let later = now + chrono::Duration::days(2);
        assert_eq!(valid_secrets(&creds, later), ["new"]);
    }

    #[test]
    fn standard_mode_sends_standard_webhooks_headers() {
        let now = DateTime::parse_from_rfc3339("2026-11-29T12:00:00Z")
            .unwrap()
            .to_utc();
        let mut settings = Settings {
            mode: WebhookMode::Standard,
            ..Settings::default()
        };
        settings.check().unwrap();
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let send = |settings: &Settings, event: &ClaimedEvent| {
            run(
                settings,
                "msg_1",
                event,
                &destination(json!({"secret": secret})),
                now,
            )
            .unwrap()
        };
        let r = send(&settings, &event());
        assert_eq!(header(&r, "webhook-id"), Some("msg_1"));
        assert_eq!(
            header(&r, "webhook-timestamp"),
            Some(now.timestamp().to_string().as_str())
        );
        let expected = standard_signature(&[secret], "msg_1", now.timestamp(), &r.body).unwrap();
        assert_eq!(header(&r, "webhook-signature"), Some(expected.as_str()));
        assert!(expected.starts_with("v1,"));
        assert_eq!(header(&r, "x-outpost-signature"), None);
        // Metadata under the mode's prefix, `webhook-`, as in Outpost.
        assert_eq!(header(&r, "webhook-source"), Some("crm"));
        assert_eq!(header(&r, "webhook-topic"), Some("user.created"));
        assert_eq!(header(&r, "x-outpost-source"), None);
        // The event's own metadata also without a prefix, as Outpost sends
        // it; the destination's delivery_metadata and the system keys not.
        assert_eq!(header(&r, "source"), Some("crm"));
        assert_eq!(header(&r, "webhook-region"), Some("eu"));
        assert_eq!(header(&r, "region"), None);
        assert_eq!(header(&r, "topic"), None);
        // Never in place of a header outbound sets.
        let mut clash = event();
        clash.metadata = json!({"content-type": "text/plain", "webhook-id": "forged"});
        let r = send(&settings, &clash);
        assert_eq!(header(&r, "content-type"), Some("application/json"));
        assert_eq!(header(&r, "webhook-id"), Some("msg_1"));
        // A prefix that is set applies to the three headers too.
        settings.header_prefix_setting = Some("x-acme-".into());
        settings.check().unwrap();
        let r = send(&settings, &event());
        assert_eq!(header(&r, "x-acme-id"), Some("msg_1"));
        assert!(header(&r, "x-acme-signature").is_some());
        assert_eq!(header(&r, "webhook-id"), None);
    }

    #[test]
    fn a_destination_without_url_or_secret_is_an_error() {
        let now = Utc::now();
        let mut d = destination(json!({"secret": "s"}));
        d.config = json!({});
        assert_eq!(
            run(&Settings::default(), "e", &event(), &d, now),
            Err(WebhookError::NoUrl)
        );
        let d = destination(json!({}));
        assert_eq!(
            run(&Settings::default(), "e", &event(), &d, now),
            Err(WebhookError::NoSecret)
        );
    }
}
