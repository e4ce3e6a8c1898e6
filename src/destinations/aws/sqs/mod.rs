//! SQS: one `SendMessage` per event, in the JSON protocol (AWS JSON 1.0,
//! `X-Amz-Target: AmazonSQS.SendMessage`), which current AWS SDKs use and
//! emulators (moto, LocalStack) accept.
//!
//! The message body is the event's data, byte for byte. Its metadata
//! travels as ONE string message attribute, `metadata`, holding the map as
//! a JSON object, as Outpost sends it. A FIFO queue (`….fifo`) also gets
//! `MessageGroupId` and `MessageDeduplicationId`, both the event id: one
//! group per event keeps FIFO queues from serialising unrelated events,
//! and SQS drops a redelivery of the same event within its five-minute
//! deduplication window.
//!
//! The call goes to the queue URL's host (`https://sqs.<region>.amazonaws.com`),
//! or to `AWS_ENDPOINT_URL_SQS` / `AWS_ENDPOINT_URL` when the deployment
//! sets one. It is signed for the region the URL names, or `AWS_REGION`
//! when it names none (an emulator's URL).

use std::sync::Arc;

use serde_json::{json, Value};

use super::{call, credentials, delivered, field, metadata_json, unusable, Call, Settings};
use super::{AWS_KEY, AWS_SECRET};
use crate::destinations::aws::config::parse_queue_url;
use crate::destinations::check::{error, given, CheckContext};
use crate::destinations::fields::{icon, DestinationType, Field, FieldError, Pattern, TEXT};
use crate::destinations::kind::DestinationKind;
use crate::destinations::sender::{BoxFuture, Message, Sender, SenderContext, Sent, Target};
use crate::destinations::target::{query_escape, Configured, DestinationTarget};
use crate::domain::ssrf::reachable_url;
use crate::net::http_client::HttpSender;

pub mod sink;
#[cfg(test)]
pub(in crate::destinations) mod tests;

pub static DECLARATION: DestinationType = DestinationType {
    kind: DestinationKind::AwsSqs,
    label: "AWS SQS",
    description: "Send each event as a message to an Amazon SQS queue",
    link: "https://aws.amazon.com/sqs/",
    icon: icon!(
        "#C7366F",
        r#"<rect x="3.5" y="5" width="9" height="6" rx="1"/><path d="M6 5v6M8.5 5v6"/>"#
    ),
    config_fields: &[Field {
        key: "queue_url",
        label: "Queue URL",
        description: "The URL of the SQS queue",
        required: true,
        pattern: Some(Pattern::HttpUrl),
        ..TEXT
    }],
    credential_fields: &[AWS_KEY, AWS_SECRET],
    managed_credentials: &[],
    unmasked_secrets: &[],
    instructions: include_str!("instructions.md"),
    setup_link: None,
};

/// The queue URL is an SQS queue's, at an address outbound may reach.
pub fn check(config: &Value, _credentials: &Value, ctx: &CheckContext<'_>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Some(url) = given(config, "queue_url") {
        let checked = parse_queue_url(url)
            .map(drop)
            .and_then(|()| reachable_url(url, ctx.network));
        if let Err(message) = checked {
            errors.push(error("config.queue_url", message));
        }
    }
    errors
}

/// The `config` of a destination that sends to the queue at `queue_url`
/// (the operator-event sink's, the bench's).
pub fn config(queue_url: &str) -> Value {
    json!({ "queue_url": queue_url })
}

/// The queue URL, and the queue in the AWS console when it is on AWS.
pub fn target(d: &Configured<'_>) -> DestinationTarget {
    let queue_url = d.config("queue_url");
    let region = url::Url::parse(queue_url).ok().and_then(|u| {
        let host = u.host_str()?.to_string();
        let mut labels = host.split('.');
        let on_aws = labels.next() == Some("sqs") && host.contains(".amazonaws.com");
        on_aws.then(|| labels.next().map(String::from)).flatten()
    });
    match region {
        Some(r) => DestinationTarget::with_url(
            queue_url,
            format!(
                "https://{r}.console.aws.amazon.com/sqs/v3/home?region={r}#/queues/{}",
                query_escape(queue_url)
            ),
        ),
        None => DestinationTarget::text(queue_url),
    }
}

/// The `SendMessage` request body for `message` to the queue at
/// `queue_url`.
pub fn send_message(queue_url: &str, fifo: bool, message: &Message<'_>) -> Value {
    let mut body = json!({
        "QueueUrl": queue_url,
        "MessageBody": message.data,
        "MessageAttributes": {
            "metadata": {
                "DataType": "String",
                "StringValue": metadata_json(message.metadata).to_string(),
            }
        },
    });
    if fifo {
        body["MessageGroupId"] = json!(message.event_id.as_str());
        body["MessageDeduplicationId"] = json!(message.event_id.as_str());
    }
    body
}

pub struct SqsSender {
    http: HttpSender,
    settings: Arc<Settings>,
}

impl SqsSender {
    pub fn new(ctx: &SenderContext, settings: &Settings) -> SqsSender {
        SqsSender {
            http: ctx.http.clone(),
            settings: Arc::new(settings.clone()),
        }
    }

    async fn send_one(&self, target: Target<'_>, message: Message<'_>) -> Sent {
        let credentials = match credentials(&target) {
            Ok(c) => c,
            Err(sent) => return *sent,
        };
        let Some(queue_url) = field(target.config, "queue_url") else {
            return unusable("the destination has no queue_url");
        };
        let queue = match parse_queue_url(queue_url) {
            Ok(q) => q,
            Err(e) => return unusable(format!("queue_url {e}")),
        };
        let endpoint = self.settings.sqs_endpoint().unwrap_or(&queue.endpoint);
        let region = queue.region.as_deref().unwrap_or(&self.settings.region);
        let body = send_message(queue_url, queue.fifo, &message);
        let operation = ("1.0", "AmazonSQS.SendMessage");
        let request = Call::json(("SQS", "sqs"), region, endpoint, operation, &body);
        match call(&self.http, request, &credentials).await {
            Ok(response) => delivered(response, None),
            Err(failure) => Sent::Failed(failure),
        }
    }
}

impl Sender for SqsSender {
    fn send<'a>(&'a self, target: Target<'a>, message: Message<'a>) -> BoxFuture<'a, Sent> {
        Box::pin(self.send_one(target, message))
    }
}
