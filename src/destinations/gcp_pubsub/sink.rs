//! Operator events to a Pub/Sub topic (`OPERATOR_EVENTS_GCP_PUBSUB_*`),
//! sent by the Pub/Sub sender.

use std::sync::Arc;

use serde_json::json;

use super::key::ServiceAccountKey;
use super::send::GcpPubsubSender;
use super::target::PubsubTarget;
use crate::destinations::kind::DestinationKind;
use crate::destinations::sink::{required, QueueSink, SinkArgs};
use crate::domain::setting;

const SINK: &str = "OPERATOR_EVENTS_GCP_PUBSUB_PROJECT_ID";

#[derive(clap::Args, Clone, Default)]
#[group(skip)]
pub struct PubsubSinkArgs {
    /// Operator events to this Google Cloud project's Pub/Sub instead (one sink only)
    #[arg(id = "operator_events_gcp_pubsub_project_id", env = "OPERATOR_EVENTS_GCP_PUBSUB_PROJECT_ID", value_parser = setting::text)]
    pub project_id: Option<String>,
    /// Pub/Sub topic of the operator events
    #[arg(id = "operator_events_gcp_pubsub_topic_id", env = "OPERATOR_EVENTS_GCP_PUBSUB_TOPIC_ID", value_parser = setting::text)]
    pub topic_id: Option<String>,
    /// Service-account key JSON publishing the operator events
    #[arg(
        id = "operator_events_gcp_pubsub_credentials",
        env = "OPERATOR_EVENTS_GCP_PUBSUB_CREDENTIALS"
    )]
    #[arg(hide_env_values = true, value_parser = setting::text)]
    pub credentials: Option<String>,
    /// Pub/Sub endpoint of the operator events (host:port of an emulator, or https://…)
    #[arg(id = "operator_events_gcp_pubsub_endpoint", env = "OPERATOR_EVENTS_GCP_PUBSUB_ENDPOINT", value_parser = setting::text)]
    pub endpoint: Option<String>,
}

/// Without the secrets: settings are printed in debug output.
impl std::fmt::Debug for PubsubSinkArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PubsubSinkArgs")
            .field("project_id", &self.project_id)
            .field("topic_id", &self.topic_id)
            .field("endpoint", &self.endpoint)
            .field("credentials", &self.credentials.as_ref().map(|_| "(set)"))
            .finish()
    }
}

impl SinkArgs for PubsubSinkArgs {
    fn primary(&self) -> (&'static str, bool) {
        (SINK, self.project_id.is_some())
    }

    fn companions(&self) -> Vec<(&'static str, bool)> {
        vec![
            (
                "OPERATOR_EVENTS_GCP_PUBSUB_TOPIC_ID",
                self.topic_id.is_some(),
            ),
            (
                "OPERATOR_EVENTS_GCP_PUBSUB_CREDENTIALS",
                self.credentials.is_some(),
            ),
            (
                "OPERATOR_EVENTS_GCP_PUBSUB_ENDPOINT",
                self.endpoint.is_some(),
            ),
        ]
    }

    fn sink(&self) -> Result<QueueSink, String> {
        let project_id = required(&self.project_id, SINK, SINK)?;
        let topic_id = required(&self.topic_id, "OPERATOR_EVENTS_GCP_PUBSUB_TOPIC_ID", SINK)?;
        let variable = |field: &str| match field {
            "config.project_id" => SINK,
            "config.topic" => "OPERATOR_EVENTS_GCP_PUBSUB_TOPIC_ID",
            _ => "OPERATOR_EVENTS_GCP_PUBSUB_ENDPOINT",
        };
        let mut config = json!({"project_id": project_id, "topic": topic_id});
        if let Some(e) = &self.endpoint {
            config["endpoint"] = json!(e);
        }
        if let Err(errors) = PubsubTarget::parse(&config) {
            let text: Vec<String> = errors
                .iter()
                .map(|e| format!("invalid value for {}: {}", variable(&e.field), e.message))
                .collect();
            return Err(text.join("; "));
        }
        match &self.credentials {
            Some(key) => {
                ServiceAccountKey::parse(key).map_err(|e| {
                    format!("invalid value for OPERATOR_EVENTS_GCP_PUBSUB_CREDENTIALS: {e}")
                })?;
            }
            // An emulator takes no token; Google's endpoint does.
            None if self.endpoint.is_some() => {}
            None => required(&None, "OPERATOR_EVENTS_GCP_PUBSUB_CREDENTIALS", SINK).map(drop)?,
        }
        Ok(QueueSink {
            kind: DestinationKind::GcpPubsub,
            config,
            credentials: json!({ "service_account_json": self.credentials.clone().unwrap_or_default() }),
            describe: format!("Pub/Sub topic projects/{project_id}/topics/{topic_id}"),
            sender: Arc::new(|ctx| Arc::new(GcpPubsubSender::new(ctx))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pubsub_needs_a_topic_and_a_key_unless_an_emulator() {
        let args = |topic: Option<&str>, endpoint: Option<&str>| PubsubSinkArgs {
            project_id: Some("acme-ops".into()),
            topic_id: topic.map(str::to_string),
            endpoint: endpoint.map(str::to_string),
            ..PubsubSinkArgs::default()
        };
        let err = args(None, None).sink().unwrap_err();
        assert!(
            err.contains("OPERATOR_EVENTS_GCP_PUBSUB_TOPIC_ID is not"),
            "{err}"
        );
        let err = args(Some("ops"), None).sink().unwrap_err();
        assert!(
            err.contains("OPERATOR_EVENTS_GCP_PUBSUB_CREDENTIALS is not"),
            "{err}"
        );
        let err = args(Some("goog-ops"), None).sink().unwrap_err();
        assert!(
            err.contains("invalid value for OPERATOR_EVENTS_GCP_PUBSUB_TOPIC_ID"),
            "{err}"
        );
        let sink = args(Some("ops"), Some("localhost:8085")).sink().unwrap();
        assert_eq!(sink.kind, DestinationKind::GcpPubsub);
        assert_eq!(
            sink.config,
            json!({"project_id": "acme-ops", "topic": "ops", "endpoint": "localhost:8085"})
        );
        let bad_key = PubsubSinkArgs {
            credentials: Some("{}".into()),
            ..args(Some("ops"), None)
        };
        let err = bad_key.sink().unwrap_err();
        assert!(
            err.contains("OPERATOR_EVENTS_GCP_PUBSUB_CREDENTIALS"),
            "{err}"
        );
    }
}
