//! The destination types' deployment settings, each type's group declared
//! in its folder and gathered here: the groups a type's sender is made
//! with, and the queue sinks the operator events may go to.

use super::aws::sqs::sink::SqsSinkArgs;
use super::gcp_pubsub::sink::PubsubSinkArgs;
use super::rabbitmq::sink::RabbitmqSinkArgs;
use super::sink::{QueueSink, SinkArgs};
use super::{aws, hookdeck, webhook};

/// What the types' senders are made with.
#[derive(clap::Args, Debug, Clone, Default)]
#[group(skip)]
pub struct Settings {
    #[command(flatten)]
    pub webhook: webhook::Settings,
    #[command(flatten)]
    pub aws: aws::Settings,
    #[command(flatten)]
    pub hookdeck: hookdeck::Settings,
}

impl Settings {
    /// The rules within a type's settings that clap cannot check one
    /// value at a time.
    pub fn check(&mut self) -> Result<(), String> {
        self.webhook.check()
    }
}

/// The queue sinks the operator events may go to instead of the HTTP sink.
#[derive(clap::Args, Debug, Clone, Default)]
#[group(skip)]
pub struct OperatorSinkArgs {
    #[command(flatten)]
    pub aws_sqs: SqsSinkArgs,
    #[command(flatten)]
    pub gcp_pubsub: PubsubSinkArgs,
    #[command(flatten)]
    pub rabbitmq: RabbitmqSinkArgs,
}

impl OperatorSinkArgs {
    fn each(&self) -> [&dyn SinkArgs; 3] {
        [&self.aws_sqs, &self.gcp_pubsub, &self.rabbitmq]
    }

    /// The queue sink, if one is configured, after the rules between the
    /// variables: one sink at most (`http_url`: whether the HTTP sink's
    /// variable is set), a companion never without its sink, and a sink
    /// when some operator topic is on (`topics`). Errors name the
    /// variables concerned.
    pub fn resolve(&self, http_url: bool, topics: bool) -> Result<Option<QueueSink>, String> {
        let mut primaries = vec![("OPERATOR_EVENTS_HTTP_URL", http_url)];
        primaries.extend(self.each().iter().map(|s| s.primary()));
        let set: Vec<&str> = primaries
            .iter()
            .filter(|(_, on)| *on)
            .map(|(name, _)| *name)
            .collect();
        if set.len() > 1 {
            let verb = if set.len() == 2 { "both" } else { "all" };
            return Err(format!(
                "{} are {verb} set: operator events go to one sink; keep one",
                set.join(" and ")
            ));
        }
        if topics && set.is_empty() {
            let others: Vec<&str> = primaries[1..].iter().map(|(name, _)| *name).collect();
            return Err(format!(
                "OPERATOR_EVENTS_TOPICS is set but OPERATOR_EVENTS_HTTP_URL is not (nor {}): \
                 the operator events would have nowhere to go",
                others.join(", ")
            ));
        }
        // A companion without its sink is a mistake (a typo in the other
        // variable's name, usually), not something to ignore.
        for sink in self.each() {
            let (primary, on) = sink.primary();
            if let Some((name, _)) = sink.companions().into_iter().find(|(_, set)| *set) {
                if !on {
                    return Err(format!(
                        "{name} is set but {primary} is not: that sink is not configured"
                    ));
                }
            }
        }
        self.each()
            .into_iter()
            .find(|s| s.primary().1)
            .map(|s| s.sink())
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destinations::kind::DestinationKind;

    fn sqs() -> OperatorSinkArgs {
        OperatorSinkArgs {
            aws_sqs: SqsSinkArgs {
                queue_url: Some("https://sqs.eu-west-1.amazonaws.com/123456789012/ops".into()),
                access_key_id: Some("AKIAOPS".into()),
                secret_access_key: Some("ops-secret".into()),
                ..SqsSinkArgs::default()
            },
            ..OperatorSinkArgs::default()
        }
    }

    #[test]
    fn topics_need_a_sink_and_a_sink_alone_is_fine() {
        let none = OperatorSinkArgs::default();
        let err = none.resolve(false, true).unwrap_err();
        assert!(err.contains("OPERATOR_EVENTS_HTTP_URL is not"), "{err}");
        assert!(none.resolve(false, false).unwrap().is_none());
        assert!(none.resolve(true, true).unwrap().is_none());
        let sink = sqs().resolve(false, true).unwrap().unwrap();
        assert_eq!(sink.kind, DestinationKind::AwsSqs);
    }

    #[test]
    fn two_sinks_are_an_error_naming_both() {
        let err = sqs().resolve(true, true).unwrap_err();
        assert!(
            err.contains(
                "OPERATOR_EVENTS_HTTP_URL and OPERATOR_EVENTS_AWS_SQS_QUEUE_URL are both set"
            ),
            "{err}"
        );
        let two = OperatorSinkArgs {
            gcp_pubsub: PubsubSinkArgs {
                project_id: Some("p".into()),
                ..PubsubSinkArgs::default()
            },
            rabbitmq: RabbitmqSinkArgs {
                server_url: Some("amqp://u:p@h/".into()),
                ..RabbitmqSinkArgs::default()
            },
            ..OperatorSinkArgs::default()
        };
        let err = two.resolve(false, false).unwrap_err();
        assert!(
            err.contains("OPERATOR_EVENTS_GCP_PUBSUB_PROJECT_ID")
                && err.contains("OPERATOR_EVENTS_RABBITMQ_SERVER_URL"),
            "{err}"
        );
    }

    #[test]
    fn a_companion_without_its_sink_is_an_error() {
        let args = OperatorSinkArgs {
            gcp_pubsub: PubsubSinkArgs {
                topic_id: Some("ops".into()),
                ..PubsubSinkArgs::default()
            },
            ..OperatorSinkArgs::default()
        };
        let err = args.resolve(true, true).unwrap_err();
        assert!(
            err.contains("OPERATOR_EVENTS_GCP_PUBSUB_TOPIC_ID is set but OPERATOR_EVENTS_GCP_PUBSUB_PROJECT_ID is not"),
            "{err}"
        );
    }
}
