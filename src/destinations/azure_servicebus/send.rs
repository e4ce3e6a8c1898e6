//! Azure Service Bus over its REST API ("Send Message"): one
//! `POST <namespace>/<queue or topic>/messages` per message, authorized with
//! a Shared Access Signature made from the connection string
//! (`domain::azure_connection`); delivered when Service Bus answers 201.
//!
//! - body: the event's data, `content-type: application/json`;
//! - `BrokerProperties: {"MessageId": "<event id>"}`, so that a queue with
//!   duplicate detection drops a resend of the same event;
//! - the metadata map as the message's application properties: over REST
//!   each is a header of its own, its value a quoted string (`"value"`, JSON
//!   string syntax), which Service Bus stores as a string property whatever
//!   the text looks like (an unquoted `123` would become a number). A key
//!   that cannot be a header of its own (not an HTTP token, or one of the
//!   headers the request itself needs: `authorization`, `content-type`,
//!   `brokerproperties`, …) cannot travel over REST and is left out.
//!
//! The SAS token is signed per request (an HMAC, cheaper than keeping it)
//! and valid for an hour. Connections are the shared keep-alive pool's.

use crate::domain::attempt_code::AttemptCode;
use chrono::Utc;
use hyper::body::Bytes;
use serde_json::{json, Value};

use crate::destinations::azure_servicebus::connection::ConnectionString;
use crate::destinations::rest;
use crate::destinations::sender::{
    BoxFuture, Failure, Message, Reply, Sender, SenderContext, Sent, Target,
};
use crate::net::http_client::HttpSender;

const SERVICE: &str = "Service Bus";

/// How long a signed request stays valid.
const TOKEN_LIFETIME_SECS: i64 = 3600;

/// Headers a metadata key cannot replace: the request's own, and those of
/// the connection.
const RESERVED: &[&str] = &[
    "authorization",
    "brokerproperties",
    "content-type",
    "content-length",
    "content-encoding",
    "transfer-encoding",
    "host",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "expect",
    "user-agent",
    "x-ms-retrypolicy",
];

/// Sends to Service Bus queues and topics.
pub struct AzureServicebusSender {
    http: HttpSender,
}

impl AzureServicebusSender {
    pub fn new(ctx: &SenderContext) -> AzureServicebusSender {
        AzureServicebusSender {
            http: ctx.http.clone(),
        }
    }

    async fn send_message(
        &self,
        target: Target<'_>,
        message: Message<'_>,
    ) -> Result<Reply, Failure> {
        let invalid = |m: String| Failure::permanent(AttemptCode::InvalidDestinationConfig, m);
        let name = target
            .config
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| invalid("config.name is missing".into()))?;
        let text = target
            .credentials
            .get("connection_string")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let connection = ConnectionString::parse(text)
            .map_err(|m| invalid(format!("credentials.connection_string {m}")))?;
        let request = build(&connection, name, &message, Utc::now().timestamp());
        let out = self
            .http
            .post(&request.url, &request.headers, request.body)
            .await;
        let resp = out.result.map_err(|f| rest::unreachable(SERVICE, f))?;
        if !resp.is_success() {
            // 403 is "quota exceeded or message too large" here; a missing
            // Send right is a 401.
            let code = match resp.status {
                403 => AttemptCode::Rejected,
                other => rest::code_for(other),
            };
            return Err(rest::refused(SERVICE, code, &resp));
        }
        Ok(Reply {
            status: Some(resp.status),
            headers: resp.headers,
            body: resp.body,
        })
    }
}

/// One Send Message request.
#[derive(Debug)]
struct Request {
    url: String,
    headers: Vec<(String, String)>,
    body: Bytes,
}

/// The request sending `message` to entity `name`, signed at `now` (unix
/// seconds).
fn build(connection: &ConnectionString, name: &str, message: &Message<'_>, now: i64) -> Request {
    let resource = format!("{}/{name}", connection.base_url());
    let mut headers = vec![
        (
            "authorization".to_string(),
            connection.authorization(&resource, now + TOKEN_LIFETIME_SECS),
        ),
        ("content-type".to_string(), "application/json".to_string()),
        (
            "brokerproperties".to_string(),
            json!({"MessageId": message.event_id.as_str()}).to_string(),
        ),
    ];
    for (key, value) in message.metadata.iter() {
        let header = key.to_ascii_lowercase();
        if is_token(key) && !RESERVED.contains(&header.as_str()) {
            headers.push((header, Value::String(value.to_string()).to_string()));
        }
    }
    Request {
        url: format!("{resource}/messages"),
        headers,
        body: Bytes::copy_from_slice(message.data.as_bytes()),
    }
}

/// RFC 9110 `token`: what a header name may be.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl Sender for AzureServicebusSender {
    fn send<'a>(&'a self, target: Target<'a>, message: Message<'a>) -> BoxFuture<'a, Sent> {
        Box::pin(async move {
            match self.send_message(target, message).await {
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
    fn the_request_carries_data_message_id_and_quoted_properties() {
        let sample = Sample::new(
            "user.created",
            None,
            json!({"count": "123", "quote": "say \"hi\"", "bad key": "x", "Authorization": "no"}),
        );
        let message = sample.message("{\"a\": 1}");
        let c = ConnectionString::parse(
            "Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=k",
        )
        .unwrap();
        let r = build(&c, "orders", &message, 1_800_000_000);
        assert_eq!(r.url, "https://acme.servicebus.windows.net/orders/messages");
        assert_eq!(&r.body[..], b"{\"a\": 1}");
        let header = |n: &str| {
            let found: Vec<&str> = r
                .headers
                .iter()
                .filter(|(k, _)| k == n)
                .map(|(_, v)| v.as_str())
                .collect();
            found
        };
        assert_eq!(
            header("authorization"),
            [
                c.authorization("https://acme.servicebus.windows.net/orders", 1_800_003_600)
                    .as_str()
            ]
        );
        assert_eq!(header("content-type"), ["application/json"]);
        assert_eq!(header("brokerproperties"), ["{\"MessageId\":\"evt_1\"}"]);
        assert_eq!(header("event-id"), ["\"evt_1\""]);
        assert_eq!(header("topic"), ["\"user.created\""]);
        assert_eq!(header("timestamp"), ["\"2026-11-29T12:00:00Z\""]);
        assert_eq!(header("count"), ["\"123\""]);
        assert_eq!(header("quote"), ["\"say \\\"hi\\\"\""]);
        assert!(header("bad key").is_empty());
    }
}
