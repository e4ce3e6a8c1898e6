//! Operator events to an SQS queue (`OPERATOR_EVENTS_AWS_SQS_*`), sent by
//! the SQS sender.

use std::sync::Arc;

use serde_json::json;

use super::SqsSender;
use crate::destinations::aws::config::parse_queue_url;
use crate::destinations::aws::{region, Settings, DEFAULT_REGION};
use crate::destinations::kind::DestinationKind;
use crate::destinations::sink::{required, QueueSink, SinkArgs};
use crate::domain::setting;

const SINK: &str = "OPERATOR_EVENTS_AWS_SQS_QUEUE_URL";

#[derive(clap::Args, Clone, Default)]
#[group(skip)]
pub struct SqsSinkArgs {
    /// Operator events to this SQS queue instead (one sink only)
    #[arg(id = "operator_events_aws_sqs_queue_url", env = "OPERATOR_EVENTS_AWS_SQS_QUEUE_URL", value_parser = setting::text)]
    pub queue_url: Option<String>,
    /// Access key id of the operator events' SQS queue
    #[arg(
        id = "operator_events_aws_sqs_access_key_id",
        env = "OPERATOR_EVENTS_AWS_SQS_ACCESS_KEY_ID"
    )]
    #[arg(hide_env_values = true, value_parser = setting::text)]
    pub access_key_id: Option<String>,
    /// Secret access key of the operator events' SQS queue
    #[arg(
        id = "operator_events_aws_sqs_secret_access_key",
        env = "OPERATOR_EVENTS_AWS_SQS_SECRET_ACCESS_KEY"
    )]
    #[arg(hide_env_values = true, value_parser = setting::text)]
    pub secret_access_key: Option<String>,
    /// Region of the operator events' SQS queue; unset: the queue URL's
    #[arg(id = "operator_events_aws_sqs_region", env = "OPERATOR_EVENTS_AWS_SQS_REGION", value_parser = region)]
    pub region: Option<String>,
    /// Endpoint of the operator events' SQS (an emulator); unset: the queue URL's host
    #[arg(id = "operator_events_aws_sqs_endpoint", env = "OPERATOR_EVENTS_AWS_SQS_ENDPOINT", value_parser = setting::endpoint_url)]
    pub endpoint: Option<String>,
}

/// Without the secrets: settings are printed in debug output.
impl std::fmt::Debug for SqsSinkArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqsSinkArgs")
            .field("queue_url", &self.queue_url)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field(
                "access_key_id",
                &self.access_key_id.as_ref().map(|_| "(set)"),
            )
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "(set)"),
            )
            .finish()
    }
}

impl SinkArgs for SqsSinkArgs {
    fn primary(&self) -> (&'static str, bool) {
        (SINK, self.queue_url.is_some())
    }

    fn companions(&self) -> Vec<(&'static str, bool)> {
        vec![
            (
                "OPERATOR_EVENTS_AWS_SQS_ACCESS_KEY_ID",
                self.access_key_id.is_some(),
            ),
            (
                "OPERATOR_EVENTS_AWS_SQS_SECRET_ACCESS_KEY",
                self.secret_access_key.is_some(),
            ),
            ("OPERATOR_EVENTS_AWS_SQS_REGION", self.region.is_some()),
            ("OPERATOR_EVENTS_AWS_SQS_ENDPOINT", self.endpoint.is_some()),
        ]
    }

    fn sink(&self) -> Result<QueueSink, String> {
        let queue_url = required(&self.queue_url, SINK, SINK)?;
        let parsed = parse_queue_url(queue_url)
            .map_err(|e| format!("invalid value for {SINK}: the queue URL {e}"))?;
        let key = required(
            &self.access_key_id,
            "OPERATOR_EVENTS_AWS_SQS_ACCESS_KEY_ID",
            SINK,
        )?;
        let secret = required(
            &self.secret_access_key,
            "OPERATOR_EVENTS_AWS_SQS_SECRET_ACCESS_KEY",
            SINK,
        )?;
        // A request is signed for a region: the setting, the one an AWS
        // queue URL names, or (behind an endpoint, an emulator) us-east-1.
        // Without any of them the guess would be silent and likely wrong.
        if self.region.is_none() && parsed.region.is_none() && self.endpoint.is_none() {
            return Err(format!(
                "{SINK} names no region and OPERATOR_EVENTS_AWS_SQS_REGION is not set \
                 (nor OPERATOR_EVENTS_AWS_SQS_ENDPOINT): the requests could not be signed"
            ));
        }
        let settings = Settings {
            sqs_endpoint: self.endpoint.clone(),
            region: self.region.clone().unwrap_or_else(|| DEFAULT_REGION.into()),
            ..Settings::default()
        };
        Ok(QueueSink {
            kind: DestinationKind::AwsSqs,
            config: super::config(queue_url),
            credentials: json!({ "key": key, "secret": secret }),
            describe: format!("SQS queue {queue_url}"),
            sender: Arc::new(move |ctx| Arc::new(SqsSender::new(ctx, &settings))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> SqsSinkArgs {
        SqsSinkArgs {
            queue_url: Some("https://sqs.eu-west-1.amazonaws.com/123456789012/ops".into()),
            access_key_id: Some("AKIAOPS".into()),
            secret_access_key: Some("ops-secret".into()),
            ..SqsSinkArgs::default()
        }
    }

    #[test]
    fn sqs_needs_its_keys_and_a_region() {
        let sink = args().sink().unwrap();
        assert_eq!(sink.kind, DestinationKind::AwsSqs);
        assert_eq!(
            sink.config,
            json!({"queue_url": "https://sqs.eu-west-1.amazonaws.com/123456789012/ops"})
        );
        assert!(!format!("{sink:?}").contains("ops-secret"));
        let err = SqsSinkArgs {
            secret_access_key: None,
            ..args()
        }
        .sink()
        .unwrap_err();
        assert!(
            err.contains("OPERATOR_EVENTS_AWS_SQS_SECRET_ACCESS_KEY is not"),
            "{err}"
        );
        let emulator = || SqsSinkArgs {
            queue_url: Some("http://127.0.0.1:5000/123456789012/ops".into()),
            ..args()
        };
        let err = emulator().sink().unwrap_err();
        assert!(err.contains("OPERATOR_EVENTS_AWS_SQS_REGION"), "{err}");
        let with_region = SqsSinkArgs {
            region: Some("eu-west-1".into()),
            ..emulator()
        };
        assert!(with_region.sink().is_ok());
        let with_endpoint = SqsSinkArgs {
            endpoint: Some("http://127.0.0.1:5000".into()),
            ..emulator()
        };
        assert!(with_endpoint.sink().is_ok());
        let err = SqsSinkArgs {
            queue_url: Some("not a url".into()),
            ..args()
        }
        .sink()
        .unwrap_err();
        assert!(err.contains("OPERATOR_EVENTS_AWS_SQS_QUEUE_URL"), "{err}");
    }
}
