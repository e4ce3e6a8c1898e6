//! Operator events (Outpost's names): alerts, subscription changes and,
//! when asked for, one event per attempt, sent to the operator's sink
//! (HTTP, or a queue) through an outbox (`operator_events`).

use std::time::Duration;

use crate::destinations::{OperatorSinkArgs, QueueSink};
use crate::domain::operator_event::OperatorTopics;
use crate::domain::setting::{boolean, http_url, operator_topics, seconds, text};

#[derive(clap::Args, Debug, Clone)]
#[group(skip)]
pub struct OperatorEventSettings {
    /// Operator events to emit, comma separated; `*` for all (attempt.success
    /// and attempt.failed too: one per attempt); empty: none
    #[arg(id = "operator_events_topics", env = "OPERATOR_EVENTS_TOPICS")]
    #[arg(default_value = "", value_parser = operator_topics)]
    pub topics: OperatorTopics,
    /// Where operator events are POSTed
    #[arg(env = "OPERATOR_EVENTS_HTTP_URL", value_parser = http_url)]
    pub http_url: Option<String>,
    /// Key of the operator events' X-Outpost-Signature (HMAC-SHA256)
    #[arg(env = "OPERATOR_EVENTS_HTTP_SIGNING_SECRET")]
    #[arg(hide_env_values = true, value_parser = text)]
    pub signing_secret: Option<String>,
    /// The queue sinks' variables (`OPERATOR_EVENTS_AWS_SQS_*`,
    /// `_GCP_PUBSUB_*`, `_RABBITMQ_*`), each declared by its type.
    #[command(flatten)]
    pub sinks: OperatorSinkArgs,
    /// The queue the events go to instead of the HTTP sink, after the rules
    /// between the sinks' variables ([`Self::finish`]).
    #[arg(skip)]
    pub queue: Option<QueueSink>,
    /// Put in every operator event as `deployment_id`; unset: left out
    #[arg(env = "DEPLOYMENT_ID", value_parser = text)]
    pub deployment_id: Option<String>,
    /// Disable a destination at ALERT_CONSECUTIVE_FAILURE_COUNT failures
    #[arg(env = "ALERT_AUTO_DISABLE_DESTINATION", default_value = "true", value_parser = boolean)]
    pub auto_disable: bool,
    /// At most one alert.attempt.exhausted_retries per destination per this many seconds
    #[arg(env = "ALERT_EXHAUSTED_RETRIES_WINDOW_SECONDS", default_value = "3600")]
    #[arg(value_parser = seconds(0, 30 * 86_400))]
    pub exhausted_retries_window: Duration,
}

impl OperatorEventSettings {
    /// Whether the events have somewhere to go.
    pub fn has_sink(&self) -> bool {
        self.http_url.is_some() || self.queue.is_some()
    }

    /// The queue sink, after the rules between the sinks' variables.
    pub(super) fn finish(&mut self) -> Result<(), String> {
        self.queue = self
            .sinks
            .resolve(self.http_url.is_some(), self.topics.any())?;
        Ok(())
    }
}
