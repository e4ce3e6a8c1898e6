//! Kinesis: one `PutRecord` per event (AWS JSON 1.1,
//! `X-Amz-Target: Kinesis_20131202.PutRecord`) on `config.stream_name`.
//!
//! The record is, as in Outpost, `{"data": <data>, "metadata": {…}}` when
//! `DESTINATIONS_AWS_KINESIS_METADATA_IN_PAYLOAD` is true (the default),
//! else the event's data alone. The data inside is the event's data byte
//! for byte; the keys are in the order Go's encoder writes them (sorted),
//! so a consumer reading Outpost's records reads these.
//!
//! The partition key is `config.partition_key_template`, a JMESPath
//! expression over that same record (`metadata."event-id"`,
//! `data.customer_id`, or with the envelope off, `customer_id`); the event
//! id when there is no template, or when it fails or yields nothing.
//!
//! The call goes to the destination's `endpoint` if it has one, else
//! `AWS_ENDPOINT_URL_KINESIS` / `AWS_ENDPOINT_URL`, else
//! `https://kinesis.<region>.amazonaws.com`.

use std::sync::Arc;

use base64::Engine;
use serde_json::{json, Value};

use super::{call, credentials, delivered, field, metadata_json, unusable, Call, Settings};
use super::{AWS_KEY, AWS_REGION_FIELD, AWS_SECRET, AWS_SESSION};
use crate::destinations::aws::config::dns_suffix;
use crate::destinations::check::{error, given, template, CheckContext};
use crate::destinations::fields::{icon, DestinationType, Field, FieldError, Pattern, TEXT};
use crate::destinations::kind::DestinationKind;
use crate::destinations::sender::{BoxFuture, Message, Sender, SenderContext, Sent, Target};
use crate::destinations::target::{Configured, DestinationTarget};
use crate::domain::jmespath_template;
use crate::domain::ssrf::reachable_url;
use crate::net::http_client::HttpSender;

pub static DECLARATION: DestinationType = DestinationType {
    kind: DestinationKind::AwsKinesis,
    label: "AWS Kinesis",
    description: "Put each event as a record on an Amazon Kinesis data stream",
    link: "https://aws.amazon.com/kinesis/data-streams/",
    icon: icon!(
        "#D9692F",
        r#"<path d="M3.5 6c1.5-1.2 3-1.2 4.5 0s3 1.2 4.5 0M3.5 10c1.5-1.2 3-1.2 4.5 0s3 1.2 4.5 0"/>"#
    ),
    config_fields: &[
        Field {
            key: "stream_name",
            label: "Stream name",
            description: "The name of the Kinesis stream",
            required: true,
            pattern: Some(Pattern::StreamName),
            ..TEXT
        },
        AWS_REGION_FIELD,
        Field {
            key: "endpoint",
            label: "Endpoint",
            description: "A custom Kinesis endpoint URL, e.g. a VPC endpoint or a local emulator",
            pattern: Some(Pattern::HttpUrl),
            ..TEXT
        },
        Field {
            key: "partition_key_template",
            label: "Partition key template",
            description: "A JMESPath expression for each record's partition key; the event ID when unset or when it yields nothing",
            ..TEXT
        },
    ],
    credential_fields: &[AWS_KEY, AWS_SECRET, AWS_SESSION],
    managed_credentials: &[],
    unmasked_secrets: &[],
    instructions: include_str!("kinesis_instructions.md"),
    setup_link: None,
};

/// A plausible region, an endpoint that is a URL outbound may reach, a
/// partition key template that compiles.
pub fn check(config: &Value, _credentials: &Value, ctx: &CheckContext<'_>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    super::check_region(config, &mut errors);
    if let Some(endpoint) = given(config, "endpoint") {
        let checked = super::config::check_endpoint(endpoint)
            .and_then(|()| reachable_url(endpoint, ctx.network));
        if let Err(message) = checked {
            errors.push(error("config.endpoint", message));
        }
    }
    template(config, "partition_key_template", &mut errors);
    errors
}

/// The stream and its region.
pub fn target(d: &Configured<'_>) -> DestinationTarget {
    DestinationTarget::text(format!(
        "{} in {}",
        d.config("stream_name"),
        d.config("region")
    ))
}

/// The record's bytes for `message`.
pub fn record(message: &Message<'_>, metadata_in_payload: bool) -> Vec<u8> {
    if !metadata_in_payload {
        return message.data.as_bytes().to_vec();
    }
    // Written by hand around the data so that the data stays exactly as
    // published (a round trip through a JSON value would re-encode it).
    let metadata = metadata_json(message.metadata).to_string();
    let mut out = Vec::with_capacity(message.data.len() + metadata.len() + 24);
    out.extend_from_slice(b"{\"data\":");
    out.extend_from_slice(message.data.as_bytes());
    out.extend_from_slice(b",\"metadata\":");
    out.extend_from_slice(metadata.as_bytes());
    out.push(b'}');
    out
}

/// The partition key for `message`: the template's text over the record,
/// or the event id.
pub fn partition_key(
    template: Option<&str>,
    message: &Message<'_>,
    metadata_in_payload: bool,
) -> String {
    let fallback = || message.event_id.as_str().to_string();
    let Some(template) = template else {
        return fallback();
    };
    let data = serde_json::from_str::<Value>(message.data).unwrap_or(Value::Null);
    let document = if metadata_in_payload {
        json!({"data": data, "metadata": metadata_json(message.metadata)})
    } else {
        data
    };
    match jmespath_template::evaluate(template, &document) {
        Ok(Some(key)) if !key.is_empty() => key,
        _ => fallback(),
    }
}

pub struct KinesisSender {
    http: HttpSender,
    settings: Arc<Settings>,
}

impl KinesisSender {
    pub fn new(ctx: &SenderContext, settings: &Settings) -> KinesisSender {
        KinesisSender {
            http: ctx.http.clone(),
            settings: Arc::new(settings.clone()),
        }
    }

    async fn send_one(&self, target: Target<'_>, message: Message<'_>) -> Sent {
        let credentials = match credentials(&target) {
            Ok(c) => c,
            Err(sent) => return *sent,
        };
        let config = target.config;
        let (Some(stream), Some(region)) = (field(config, "stream_name"), field(config, "region"))
        else {
            return unusable("the destination has no stream_name or region");
        };
        let envelope = self.settings.kinesis_metadata_in_payload;
        let key = partition_key(field(config, "partition_key_template"), &message, envelope);
        let data = base64::engine::general_purpose::STANDARD.encode(record(&message, envelope));
        let body = json!({"StreamName": stream, "Data": data, "PartitionKey": key});
        let endpoint = match field(config, "endpoint").or(self.settings.kinesis_endpoint()) {
            Some(e) => e.trim_end_matches('/').to_string(),
            None => format!("https://kinesis.{region}.{}", dns_suffix(region)),
        };
        let operation = ("1.1", "Kinesis_20131202.PutRecord");
        let request = Call::json(("Kinesis", "kinesis"), region, &endpoint, operation, &body);
        match call(&self.http, request, &credentials).await {
            Ok(response) => delivered(response, None),
            Err(failure) => Sent::Failed(failure),
        }
    }
}

impl Sender for KinesisSender {
    fn send<'a>(&'a self, target: Target<'a>, message: Message<'a>) -> BoxFuture<'a, Sent> {
        Box::pin(self.send_one(target, message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destinations::test_support::Sample;

    fn with_message<T>(data: &str, f: impl FnOnce(&Message<'_>) -> T) -> T {
        let sample = Sample::new("t", None, json!({"tenant": "acme"}));
        f(&sample.message(data))
    }

    #[test]
    fn records_with_and_without_the_envelope() {
        with_message("{\"z\": 1,  \"a\": 2.50}", |m| {
            let r = String::from_utf8(record(m, true)).unwrap();
            assert_eq!(
                r,
                r#"{"data":{"z": 1,  "a": 2.50},"metadata":{"event-id":"evt_1","tenant":"acme","timestamp":"2026-11-29T12:00:00Z","topic":"t"}}"#
            );
            let parsed: Value = serde_json::from_str(&r).unwrap();
            assert_eq!(parsed["data"]["a"], 2.5);
            assert_eq!(record(m, false), m.data.as_bytes());
        });
    }

    #[test]
    fn partition_keys_fall_back_to_the_event_id() {
        with_message(r#"{"customer": "c-9", "n": 3, "empty": ""}"#, |m| {
            assert_eq!(partition_key(None, m, true), "evt_1");
            assert_eq!(partition_key(Some("data.customer"), m, true), "c-9");
            assert_eq!(partition_key(Some("metadata.tenant"), m, true), "acme");
            assert_eq!(partition_key(Some("customer"), m, false), "c-9");
            assert_eq!(partition_key(Some("data.n"), m, true), "3");
            assert_eq!(partition_key(Some("data.missing"), m, true), "evt_1");
            assert_eq!(partition_key(Some("data.empty"), m, true), "evt_1");
            assert_eq!(partition_key(Some("join('', data.n)"), m, true), "evt_1");
        });
    }
}
