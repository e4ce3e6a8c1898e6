//! The publish queue on SQS (`PUBLISH_AWS_SQS_*`): long polls of
//! `ReceiveMessage` on the queue named `PUBLISH_AWS_SQS_QUEUE` (its URL
//! from `GetQueueUrl`), in the AWS JSON protocol, signed by the AWS
//! destinations' [`call`].
//!
//! Settling: a published, duplicate or refused message is deleted
//! (`DeleteMessage`); one to retry is made visible again at once
//! (`ChangeMessageVisibility` to 0). A message taken and never settled (a
//! crash) reappears when the queue's visibility timeout ends — and its
//! `MessageId` is the same, which is what makes an id-less request's event
//! id stable ([`super::derived_id`]).
//!
//! Credentials: `PUBLISH_AWS_SQS_ACCESS_KEY_ID` and `_SECRET_ACCESS_KEY`,
//! or else the AWS SDKs' `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
//! `AWS_SESSION_TOKEN`. (Outpost's SDK would also find an instance role;
//! outbound has no SDK and does not.)

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::settings::BrokerArgs;
use super::{Settle, Source, SourceError, Taken};
use crate::destinations::aws::config::dns_suffix;
use crate::destinations::aws::sign::Credentials;
use crate::destinations::aws::{call, region, Call};
use crate::domain::setting;
use crate::net::http_client::HttpSender;

const REGION: &str = "PUBLISH_AWS_SQS_REGION";
const QUEUE: &str = "PUBLISH_AWS_SQS_QUEUE";
const KEY: &str = "PUBLISH_AWS_SQS_ACCESS_KEY_ID";
const SECRET: &str = "PUBLISH_AWS_SQS_SECRET_ACCESS_KEY";

/// SQS's longest long poll, Outpost's default.
pub const WAIT_SECONDS: u64 = 20;

#[derive(clap::Args, Clone, Default)]
#[group(skip)]
pub struct SqsArgs {
    /// Access key id for the publish queue's SQS; unset: AWS_ACCESS_KEY_ID
    #[arg(
        id = "publish_aws_sqs_access_key_id",
        env = "PUBLISH_AWS_SQS_ACCESS_KEY_ID"
    )]
    #[arg(hide_env_values = true, value_parser = setting::text)]
    pub access_key_id: Option<String>,
    /// Secret access key for the publish queue's SQS; unset: AWS_SECRET_ACCESS_KEY
    #[arg(
        id = "publish_aws_sqs_secret_access_key",
        env = "PUBLISH_AWS_SQS_SECRET_ACCESS_KEY"
    )]
    #[arg(hide_env_values = true, value_parser = setting::text)]
    pub secret_access_key: Option<String>,
    /// Region of the publish queue's SQS (chooses SQS as the publish queue)
    #[arg(id = "publish_aws_sqs_region", env = "PUBLISH_AWS_SQS_REGION", value_parser = region)]
    pub region: Option<String>,
    /// Endpoint of the publish queue's SQS (an emulator); unset: AWS's
    #[arg(id = "publish_aws_sqs_endpoint", env = "PUBLISH_AWS_SQS_ENDPOINT", value_parser = setting::endpoint_url)]
    pub endpoint: Option<String>,
    /// Name of the SQS queue the publish requests are read from
    #[arg(id = "publish_aws_sqs_queue", env = "PUBLISH_AWS_SQS_QUEUE", value_parser = setting::text)]
    pub queue: Option<String>,
    /// The AWS SDKs' access key id, used when PUBLISH_AWS_SQS_ACCESS_KEY_ID is unset
    #[arg(id = "aws_access_key_id", env = "AWS_ACCESS_KEY_ID")]
    #[arg(hide_env_values = true, value_parser = setting::text)]
    pub sdk_key: Option<String>,
    /// The AWS SDKs' secret access key, with AWS_ACCESS_KEY_ID
    #[arg(id = "aws_secret_access_key", env = "AWS_SECRET_ACCESS_KEY")]
    #[arg(hide_env_values = true, value_parser = setting::text)]
    pub sdk_secret: Option<String>,
    /// The AWS SDKs' session token, with AWS_ACCESS_KEY_ID
    #[arg(id = "aws_session_token", env = "AWS_SESSION_TOKEN")]
    #[arg(hide_env_values = true, value_parser = setting::text)]
    pub sdk_session: Option<String>,
}

/// Without the secrets.
impl std::fmt::Debug for SqsArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |v: &Option<String>| v.as_ref().map(|_| "(set)");
        f.debug_struct("SqsArgs")
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("queue", &self.queue)
            .field("access_key_id", &set(&self.access_key_id))
            .field("secret_access_key", &set(&self.secret_access_key))
            .field("sdk_key", &set(&self.sdk_key))
            .finish_non_exhaustive()
    }
}

impl BrokerArgs for SqsArgs {
    fn chosen(&self) -> bool {
        self.region.is_some()
    }

    /// The SDK's own variables are left out: they may be set for other
    /// reasons.
    fn variables(&self) -> Vec<(&'static str, bool)> {
        vec![
            (REGION, self.region.is_some()),
            (QUEUE, self.queue.is_some()),
            ("PUBLISH_AWS_SQS_ENDPOINT", self.endpoint.is_some()),
            (KEY, self.access_key_id.is_some()),
            (SECRET, self.secret_access_key.is_some()),
        ]
    }
}

impl SqsArgs {
    /// The source the variables name; the error names the variable.
    pub fn source(&self) -> Result<SqsSource, String> {
        let region = self
            .region
            .clone()
            .ok_or_else(|| format!("{REGION} is not set"))?;
        let queue = self
            .queue
            .clone()
            .ok_or_else(|| format!("{REGION} is set but {QUEUE} is not: name the queue"))?;
        let credentials = match (&self.access_key_id, &self.secret_access_key) {
            (Some(k), Some(s)) => Credentials::new(k, s, None),
            (None, None) => match (&self.sdk_key, &self.sdk_secret) {
                (Some(k), Some(s)) => Credentials::new(k, s, self.sdk_session.as_deref()),
                _ => {
                    return Err(format!(
                        "the SQS publish queue needs credentials: {KEY} and {SECRET}, \
                         or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
                    ))
                }
            },
            _ => {
                return Err(format!(
                    "{KEY} and {SECRET} go together: set both or neither"
                ))
            }
        };
        let endpoint = self
            .endpoint
            .clone()
            .unwrap_or_else(|| format!("https://sqs.{region}.{}", dns_suffix(&region)));
        SqsSource::new(endpoint, region, queue, credentials, WAIT_SECONDS)
    }
}

/// Reads one queue.
pub struct SqsSource {
    http: HttpSender,
    endpoint: String,
    region: String,
    queue: String,
    credentials: Arc<Credentials>,
    wait_seconds: u64,
    /// From `GetQueueUrl`, on first use.
    queue_url: Option<String>,
}

impl SqsSource {
    /// A source on queue `queue` at `endpoint`; each receive waits up to
    /// `wait_seconds` (0 to 20) for a message.
    pub fn new(
        endpoint: String,
        region: String,
        queue: String,
        credentials: Credentials,
        wait_seconds: u64,
    ) -> Result<SqsSource, String> {
        let wait_seconds = wait_seconds.min(WAIT_SECONDS);
        let timeout = Duration::from_secs(wait_seconds + 10);
        // Ten messages of up to 256 KiB, and their envelope.
        let http = super::http_client("SQS", timeout, 4 * 1024 * 1024)?;
        Ok(SqsSource {
            http,
            endpoint: endpoint.trim_end_matches('/').to_string(),
            region,
            queue,
            credentials: Arc::new(credentials),
            wait_seconds,
            queue_url: None,
        })
    }

    async fn sqs(&self, operation: &str, body: &Value) -> Result<Value, SourceError> {
        let target = format!("AmazonSQS.{operation}");
        let request = Call::json(
            ("SQS", "sqs"),
            &self.region,
            &self.endpoint,
            ("1.0", &target),
            body,
        );
        let response = call(&self.http, request, &self.credentials).await?;
        Ok(serde_json::from_str(&response.body).unwrap_or(Value::Null))
    }

    async fn queue_url(&mut self) -> Result<String, SourceError> {
        if let Some(url) = &self.queue_url {
            return Ok(url.clone());
        }
        let answer = self
            .sqs("GetQueueUrl", &json!({ "QueueName": self.queue }))
            .await?;
        let url = answer["QueueUrl"]
            .as_str()
            .ok_or_else(|| SourceError("SQS answered GetQueueUrl without a QueueUrl".into()))?
            .to_string();
        self.queue_url = Some(url.clone());
        Ok(url)
    }
}

impl Source for SqsSource {
    const LABEL: &'static str = "aws_sqs";
    /// The receipt handle.
    type Receipt = String;

    fn describe(&self) -> String {
        format!("SQS queue {:?} at {}", self.queue, self.endpoint)
    }

    async fn receive(&mut self, max: usize) -> Result<Vec<Taken<String>>, SourceError> {
        let queue_url = self.queue_url().await?;
        let answer = self
            .sqs(
                "ReceiveMessage",
                &json!({
                    "QueueUrl": queue_url,
                    "MaxNumberOfMessages": max.clamp(1, 10),
                    "WaitTimeSeconds": self.wait_seconds,
                }),
            )
            .await?;
        let messages = answer["Messages"].as_array().cloned().unwrap_or_default();
        Ok(messages
            .into_iter()
            .filter_map(|m| {
                let receipt = m["ReceiptHandle"].as_str()?.to_string();
                Some(Taken {
                    body: m["Body"].as_str().unwrap_or_default().as_bytes().to_vec(),
                    message_id: m["MessageId"].as_str().map(str::to_string),
                    receipt,
                })
            })
            .collect())
    }

    async fn settle(&mut self, settled: Vec<(String, Settle)>) -> Result<(), SourceError> {
        let queue_url = self.queue_url().await?;
        for (handle, settle) in settled {
            match settle {
                Settle::Done | Settle::Refused => {
                    self.sqs(
                        "DeleteMessage",
                        &json!({ "QueueUrl": queue_url, "ReceiptHandle": handle }),
                    )
                    .await?;
                }
                Settle::Again => {
                    self.sqs(
                        "ChangeMessageVisibility",
                        &json!({ "QueueUrl": queue_url, "ReceiptHandle": handle,
                                 "VisibilityTimeout": 0 }),
                    )
                    .await?;
                }
            }
        }
        Ok(())
    }
}
