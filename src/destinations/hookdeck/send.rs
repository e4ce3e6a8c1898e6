//! Hookdeck (Event Gateway) as Outpost sends to it: an HTTP POST of the
//! event's data to the ingest URL of the source the token names,
//! `<ingest base>/<source id>` (`https://hkdk.events/<id>`), signed with the
//! token (`domain::hookdeck_token`): `x-hookdeck-signature: v0=<base64
//! HMAC-SHA256(token, body)>`, `content-type: application/json`, and
//! `x-outpost-<key>` for each metadata key (the prefix is fixed, as in
//! Outpost, whatever the webhook prefix is).
//!
//! The ingest base is a deployment setting
//! (`DESTINATIONS_HOOKDECK_INGEST_URL`) rather than part of the token: the
//! token holds only the source id, as Outpost reads it.
//!
//! Success is a final status below 300; anything else is a failure coded
//! with the status, and the response is kept as a webhook's is.

use crate::domain::attempt_code::AttemptCode;
use serde_json::Value;

use crate::destinations::hookdeck::token::HookdeckToken;
use crate::destinations::sender::{
    BoxFuture, Failure, Message, Reply, Sender, SenderContext, Sent, Target,
};
use crate::net::http_client::HttpSender;

/// Hookdeck's ingest host, Outpost's fixed base.
pub const DEFAULT_INGEST_URL: &str = "https://hkdk.events";

/// The headers of Hookdeck requests.
const METADATA_PREFIX: &str = "x-outpost-";

/// Sends to Hookdeck sources.
pub struct HookdeckSender {
    http: HttpSender,
    /// No trailing `/`.
    ingest_url: String,
}

impl HookdeckSender {
    pub fn new(ctx: &SenderContext, settings: &super::Settings) -> HookdeckSender {
        HookdeckSender {
            http: ctx.http.clone(),
            ingest_url: settings.ingest_url.trim_end_matches('/').to_string(),
        }
    }
}

/// One ingest request.
#[derive(Debug)]
struct Request {
    url: String,
    headers: Vec<(String, String)>,
}

fn build(ingest_url: &str, token: &HookdeckToken, message: &Message<'_>) -> Request {
    let mut headers: Vec<(String, String)> = message
        .metadata
        .iter()
        .map(|(k, v)| {
            (
                format!("{METADATA_PREFIX}{}", k.to_ascii_lowercase()),
                v.to_string(),
            )
        })
        .collect();
    headers.push(("content-type".into(), "application/json".into()));
    headers.push((
        "x-hookdeck-signature".into(),
        token.signature(message.data.as_bytes()),
    ));
    Request {
        url: format!("{ingest_url}/{}", token.source_id),
        headers,
    }
}

impl Sender for HookdeckSender {
    fn send<'a>(&'a self, target: Target<'a>, message: Message<'a>) -> BoxFuture<'a, Sent> {
        Box::pin(async move {
            let text = target
                .credentials
                .get("token")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let token = match HookdeckToken::parse(text) {
                Ok(token) => token,
                Err(m) => {
                    return Sent::Failed(Failure::permanent(
                        AttemptCode::InvalidDestinationConfig,
                        format!("credentials.token {m}"),
                    ))
                }
            };
            let req = build(&self.ingest_url, &token, &message);
            let body = hyper::body::Bytes::copy_from_slice(message.data.as_bytes());
            let out = self.http.post(&req.url, &req.headers, body).await;
            let resp = match out.result {
                Ok(resp) => resp,
                Err(f) => {
                    return Sent::Failed(Failure::retryable(
                        f.code,
                        format!("Hookdeck: {}", f.detail),
                    ))
                }
            };
            let retry_after = matches!(resp.status, 429 | 503)
                .then_some(resp.retry_after)
                .flatten();
            let success = resp.is_success();
            let status = resp.status;
            let reply = Reply {
                status: Some(status),
                headers: resp.headers,
                body: resp.body,
            };
            if success {
                return Sent::Delivered(Some(reply));
            }
            Sent::Failed(Failure {
                code: AttemptCode::Http(status),
                message: format!("Hookdeck answered {status}"),
                reply: Some(reply),
                retry_after,
                permanent: false,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destinations::test_support::Sample;

    use base64::Engine;
    use serde_json::json;

    #[test]
    fn the_request_goes_to_the_source_signed_with_metadata_headers() {
        let sample = Sample::new("user.created", None, json!({"Source": "crm"}));
        let message = sample.message("{\"a\": 1}");
        let text = base64::engine::general_purpose::STANDARD.encode("src_9:secret");
        let token = HookdeckToken::parse(&text).unwrap();
        let r = build(DEFAULT_INGEST_URL, &token, &message);
        assert_eq!(r.url, "https://hkdk.events/src_9");
        let header = |n: &str| {
            r.headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(header("x-outpost-event-id"), Some("evt_1"));
        assert_eq!(header("x-outpost-topic"), Some("user.created"));
        assert_eq!(header("x-outpost-timestamp"), Some("2026-11-29T12:00:00Z"));
        assert_eq!(header("x-outpost-source"), Some("crm"));
        assert_eq!(header("content-type"), Some("application/json"));
        assert_eq!(
            header("x-hookdeck-signature"),
            Some(token.signature(b"{\"a\": 1}").as_str())
        );
    }
}
