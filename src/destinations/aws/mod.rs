//! The AWS destination types: SQS, S3 and Kinesis, each one signed HTTPS
//! call (SigV4) through the guarded HTTP client — the same SSRF guard,
//! timeouts, body cap and keep-alive pool as webhooks. No AWS SDK: the
//! three calls are small, and the SDK would be most of the build.
//!
//! - [`sqs`]: `SendMessage` (JSON protocol) to the destination's queue URL;
//! - [`s3`]: `PutObject` into the bucket, under a key from a JMESPath template;
//! - [`kinesis`]: `PutRecord` (JSON protocol) on the stream.
//!
//! Where each call goes: AWS itself, unless the deployment points a
//! service elsewhere with the AWS SDKs' variables (`AWS_ENDPOINT_URL`,
//! `AWS_ENDPOINT_URL_<SERVICE>`, for an emulator); SQS sends to its queue
//! URL's host, and a Kinesis destination may name its own `endpoint`.
//! [`call`] signs, sends and turns AWS's answer into a delivery result
//! ([`errors`] says which failure means what).

pub mod config;
pub mod errors;
pub mod kinesis;
pub mod s3;
pub mod sign;
pub mod sqs;

#[cfg(test)]
pub(super) mod tests;

use crate::domain::attempt_code::AttemptCode;
use std::time::SystemTime;

use hyper::body::Bytes;
use hyper::Method;

use crate::destinations::sender::{Failure, Reply, Sent};
use crate::net::http_client::{HttpResponse, HttpSender};
use serde_json::Value;

use crate::domain::setting;
use sign::{Credentials, Flavor, Unsigned};

use super::check::{error, given};
use super::fields::{Field, FieldError, Pattern, TEXT};

pub(super) const AWS_REGION_FIELD: Field = Field {
    key: "region",
    label: "AWS region",
    description: "The region the resource lives in, e.g. us-east-1",
    required: true,
    pattern: Some(Pattern::AwsRegion),
    ..TEXT
};

pub(super) const AWS_KEY: Field = Field {
    key: "key",
    label: "Access key ID",
    description: "The AWS access key ID",
    required: true,
    sensitive: true,
    ..TEXT
};

pub(super) const AWS_SECRET: Field = Field {
    key: "secret",
    label: "Secret access key",
    description: "The AWS secret access key",
    required: true,
    sensitive: true,
    ..TEXT
};

pub(super) const AWS_SESSION: Field = Field {
    key: "session",
    label: "Session token",
    description: "An AWS session token, for temporary credentials",
    sensitive: true,
    ..TEXT
};

/// `config.region`: the schema checked its shape; this checks that it is
/// plausibly an AWS region.
pub(super) fn check_region(config: &Value, errors: &mut Vec<FieldError>) {
    if let Some(region) = given(config, "region") {
        if let Err(message) = config::check_region(region) {
            errors.push(error("config.region", message));
        }
    }
}

/// Where the AWS types send (the AWS SDKs' own variable names, so a
/// deployment already pointed at an emulator needs nothing new), and how
/// Kinesis records are shaped.
#[derive(clap::Args, Debug, Clone)]
#[group(skip)]
pub struct Settings {
    /// Endpoint of every AWS service (an emulator such as moto or
    /// LocalStack); unset: AWS itself
    #[arg(env = "AWS_ENDPOINT_URL", value_parser = setting::endpoint_url)]
    pub endpoint: Option<String>,
    /// Endpoint of SQS; wins over AWS_ENDPOINT_URL and the queue URL's host
    #[arg(env = "AWS_ENDPOINT_URL_SQS", value_parser = setting::endpoint_url)]
    pub sqs_endpoint: Option<String>,
    /// Endpoint of S3 (path-style addressing); wins over AWS_ENDPOINT_URL
    #[arg(env = "AWS_ENDPOINT_URL_S3", value_parser = setting::endpoint_url)]
    pub s3_endpoint: Option<String>,
    /// Endpoint of Kinesis; wins over AWS_ENDPOINT_URL, a destination's
    /// own `endpoint` wins over it
    #[arg(env = "AWS_ENDPOINT_URL_KINESIS", value_parser = setting::endpoint_url)]
    pub kinesis_endpoint: Option<String>,
    /// Region of SQS queues whose URL names none (an emulator's)
    #[arg(env = "AWS_REGION", default_value = DEFAULT_REGION, value_parser = region)]
    pub region: String,
    /// Kinesis records carry `{"metadata": …, "data": …}` (true) or the
    /// event's data alone (false): true, false, 1 or 0
    #[arg(
        env = "DESTINATIONS_AWS_KINESIS_METADATA_IN_PAYLOAD",
        default_value = "true"
    )]
    #[arg(action = clap::ArgAction::Set, value_parser = setting::boolean)]
    pub kinesis_metadata_in_payload: bool,
}

/// The region of a request that names none.
pub const DEFAULT_REGION: &str = "us-east-1";

impl Default for Settings {
    fn default() -> Self {
        Settings {
            endpoint: None,
            sqs_endpoint: None,
            s3_endpoint: None,
            kinesis_endpoint: None,
            region: DEFAULT_REGION.into(),
            kinesis_metadata_in_payload: true,
        }
    }
}

/// `AWS_REGION` and its kind: a region name such as `eu-west-1`.
pub fn region(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    config::check_region(raw)?;
    Ok(raw.to_string())
}

impl Settings {
    fn sqs_endpoint(&self) -> Option<&str> {
        self.sqs_endpoint.as_deref().or(self.endpoint.as_deref())
    }

    fn s3_endpoint(&self) -> Option<&str> {
        self.s3_endpoint.as_deref().or(self.endpoint.as_deref())
    }

    fn kinesis_endpoint(&self) -> Option<&str> {
        self.kinesis_endpoint
            .as_deref()
            .or(self.endpoint.as_deref())
    }
}

/// One AWS call, before signing.
#[derive(Debug)]
pub struct Call<'a> {
    /// For people: `SQS`, `S3`, `Kinesis`.
    pub label: &'a str,
    /// The signing name: `sqs`, `s3`, `kinesis`.
    pub service: &'a str,
    pub region: &'a str,
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub flavor: Flavor,
}

impl<'a> Call<'a> {
    /// A call in the AWS JSON protocol (SQS, Kinesis): a POST to the
    /// endpoint's root, the operation named by `X-Amz-Target`.
    pub fn json(
        (label, service): (&'a str, &'a str),
        region: &'a str,
        endpoint: &str,
        (protocol, operation): (&str, &str),
        body: &serde_json::Value,
    ) -> Call<'a> {
        Call {
            label,
            service,
            region,
            method: Method::POST,
            url: format!("{endpoint}/"),
            headers: vec![
                (
                    "content-type".into(),
                    format!("application/x-amz-json-{protocol}"),
                ),
                ("x-amz-target".into(), operation.into()),
            ],
            body: body.to_string().into(),
            flavor: Flavor::Standard,
        }
    }
}

/// Signs `call` with `credentials` and sends it. A 2xx answer is the
/// response; anything else is the failure it means.
pub async fn call(
    http: &HttpSender,
    call: Call<'_>,
    credentials: &Credentials,
) -> Result<HttpResponse, Failure> {
    let unsigned = Unsigned {
        service: call.service,
        region: call.region,
        method: call.method.as_str(),
        url: &call.url,
        headers: &call.headers,
        body: &call.body,
        flavor: call.flavor,
    };
    let signed =
        sign::signature_headers(&unsigned, credentials, SystemTime::now()).map_err(|e| {
            Failure::permanent(
                AttemptCode::InvalidDestinationConfig,
                format!(
                    "{} request cannot be signed: {}",
                    call.label,
                    credentials.redact(&e)
                ),
            )
        })?;
    let mut headers = call.headers;
    headers.extend(signed);
    let outcome = http
        .request(call.method, &call.url, &headers, call.body)
        .await;
    match outcome.result {
        Ok(response) if response.is_success() => Ok(response),
        Ok(response) => Err(errors::failure(call.label, &response, credentials)),
        Err(failure) => {
            // A URL or header outbound built and the client refused:
            // the destination's settings (or this event's metadata) can
            // never make a valid request.
            let permanent = matches!(
                failure.code,
                AttemptCode::InvalidUrl | AttemptCode::InvalidRequest
            );
            let message = format!("{}: {}", call.label, credentials.redact(&failure.detail));
            Err(Failure {
                permanent,
                ..Failure::retryable(failure.code, message)
            })
        }
    }
}

/// A delivered message, with what the service answered.
fn delivered(response: HttpResponse, body: Option<String>) -> Sent {
    Sent::Delivered(Some(Reply {
        status: Some(response.status),
        headers: response.headers,
        body: body.unwrap_or(response.body),
    }))
}

/// A destination whose stored settings cannot be used (they passed the
/// checks at creation, so this means a row edited by hand).
fn unusable(message: impl Into<String>) -> Sent {
    Sent::Failed(Failure::permanent(
        AttemptCode::InvalidDestinationConfig,
        message.into(),
    ))
}

/// The destination's credentials, or the failure their absence means
/// (boxed: a `Sent` is large, and this is the rare path).
fn credentials(target: &crate::destinations::sender::Target<'_>) -> Result<Credentials, Box<Sent>> {
    Credentials::from_destination(target.credentials)
        .ok_or_else(|| Box::new(unusable("the destination has no AWS access key and secret")))
}

/// A config field's text, unless blank.
fn field<'a>(config: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    config
        .get(key)
        .and_then(serde_json::Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The metadata as a JSON object, keys sorted as Go's encoder writes a
/// map, so the text is the one Outpost sends.
fn metadata_json(metadata: &crate::domain::metadata::MessageMetadata) -> serde_json::Value {
    let sorted: std::collections::BTreeMap<&str, &str> = metadata.iter().collect();
    serde_json::Value::Object(
        sorted
            .into_iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
            .collect(),
    )
}
