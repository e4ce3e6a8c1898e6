//! Operator events to a queue (Outpost's `OPERATOR_EVENTS_AWS_SQS_*`,
//! `_GCP_PUBSUB_*`, `_RABBITMQ_*`): delivered by the destination type's own
//! sender, so the queue sinks share the destinations' wire format,
//! connection handling and error codes. Each type that can be a sink
//! declares its variables and rules in its folder ([`SinkArgs`]); what a
//! sink is, and the rules between sinks, are here and in `settings`.

use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use super::kind::DestinationKind;
use super::sender::{Sender, SenderContext};

/// Makes a destination type's sender for one sink.
pub type MakeSender = dyn Fn(&SenderContext) -> Arc<dyn Sender> + Send + Sync;

/// A queue the operator events go to, as its destination type reads it.
#[derive(Clone)]
pub struct QueueSink {
    pub kind: DestinationKind,
    /// What the type's sender is told it delivers to, in the type's own
    /// field names.
    pub config: Value,
    pub credentials: Value,
    /// Where it is, for a log line: never a credential.
    pub describe: String,
    /// Makes the type's sender for this sink (with the sink's own settings:
    /// an SQS endpoint and region, say).
    pub sender: Arc<MakeSender>,
}

/// Without the credentials: settings are printed in debug output.
impl fmt::Debug for QueueSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueSink")
            .field("kind", &self.kind)
            .field("describe", &self.describe)
            .finish_non_exhaustive()
    }
}

/// The variables of one kind of queue sink.
pub trait SinkArgs {
    /// The variable that names this sink, and whether it is set.
    fn primary(&self) -> (&'static str, bool);
    /// The variables that only mean something with it, and whether each
    /// is set.
    fn companions(&self) -> Vec<(&'static str, bool)>;
    /// The sink, after its own rules; called when the primary is set.
    /// Errors name the variables concerned, never a secret.
    fn sink(&self) -> Result<QueueSink, String>;
}

/// A companion the sink needs.
pub fn required<'a>(value: &'a Option<String>, name: &str, sink: &str) -> Result<&'a str, String> {
    value
        .as_deref()
        .ok_or_else(|| format!("{sink} is set but {name} is not: the sink needs it"))
}
