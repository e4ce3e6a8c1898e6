//! The registry: every destination type, one row each, and what the rest
//! of the service asks of a type through it. It is the only place that
//! picks something by a destination's kind.
//!
//! A row names the type's declaration (fields, icon, docs link), its
//! create-time check, what it delivers to (`target`), and how its sender
//! is made. The API's validation, the `/destination-types` documents, the
//! worker's senders and the operator-event sinks all read these rows.

use std::sync::Arc;

use serde_json::Value;

use super::check::{self, CheckContext};
use super::fields::{DestinationType, FieldError};
use super::kind::DestinationKind;
use super::sender::{Sender, SenderContext};
use super::settings::Settings;
use super::target::{Configured, DestinationTarget};
use super::{aws, azure_servicebus, gcp_pubsub, hookdeck, kafka, rabbitmq, webhook};
use crate::domain::signature::WebhookMode;

/// One destination type.
pub struct Entry {
    pub declaration: &'static DestinationType,
    /// How a deployment in Standard Webhooks mode describes it, where that
    /// differs (the webhook type).
    pub standard_declaration: Option<&'static DestinationType>,
    /// What the field schema cannot say: a setting that could never
    /// deliver (beyond the rules every type shares, [`check::shared`]).
    pub check: fn(&Value, &Value, &CheckContext<'_>) -> Vec<FieldError>,
    /// What it delivers to (`target`, `target_url`), as Outpost shows it.
    pub target: fn(&Configured<'_>) -> DestinationTarget,
    /// Its sender, with the deployment's settings (each type reads its own).
    pub sender: fn(&SenderContext, &Settings) -> Arc<dyn Sender>,
    /// A valid `config` and `credentials` giving every field a value, for
    /// the tests that hold every type to the same rules.
    #[cfg(test)]
    pub example: fn() -> (Value, Value),
}

/// The types, in [`DestinationKind::ALL`]'s order (a test checks it).
static ENTRIES: [Entry; DestinationKind::ALL.len()] = [
    Entry {
        declaration: &webhook::DECLARATION,
        standard_declaration: Some(&webhook::STANDARD_DECLARATION),
        check: webhook::check,
        target: webhook::target,
        sender: |ctx, s| Arc::new(webhook::send::WebhookSender::new(ctx, &s.webhook)),
        #[cfg(test)]
        example: webhook::tests::example,
    },
    Entry {
        declaration: &aws::sqs::DECLARATION,
        standard_declaration: None,
        check: aws::sqs::check,
        target: aws::sqs::target,
        sender: |ctx, s| Arc::new(aws::sqs::SqsSender::new(ctx, &s.aws)),
        #[cfg(test)]
        example: aws::sqs::tests::example,
    },
    Entry {
        declaration: &aws::s3::DECLARATION,
        standard_declaration: None,
        check: aws::s3::check,
        target: aws::s3::target,
        sender: |ctx, s| Arc::new(aws::s3::S3Sender::new(ctx, &s.aws)),
        #[cfg(test)]
        example: aws::tests::s3_example,
    },
    Entry {
        declaration: &aws::kinesis::DECLARATION,
        standard_declaration: None,
        check: aws::kinesis::check,
        target: aws::kinesis::target,
        sender: |ctx, s| Arc::new(aws::kinesis::KinesisSender::new(ctx, &s.aws)),
        #[cfg(test)]
        example: aws::tests::kinesis_example,
    },
    Entry {
        declaration: &rabbitmq::DECLARATION,
        standard_declaration: None,
        check: rabbitmq::check,
        target: rabbitmq::target,
        sender: |ctx, _| Arc::new(rabbitmq::send::RabbitmqSender::new(ctx)),
        #[cfg(test)]
        example: rabbitmq::tests::example,
    },
    Entry {
        declaration: &gcp_pubsub::DECLARATION,
        standard_declaration: None,
        check: gcp_pubsub::check,
        target: gcp_pubsub::target,
        sender: |ctx, _| Arc::new(gcp_pubsub::send::GcpPubsubSender::new(ctx)),
        #[cfg(test)]
        example: gcp_pubsub::tests::example,
    },
    Entry {
        declaration: &azure_servicebus::DECLARATION,
        standard_declaration: None,
        check: azure_servicebus::check,
        target: azure_servicebus::target,
        sender: |ctx, _| Arc::new(azure_servicebus::send::AzureServicebusSender::new(ctx)),
        #[cfg(test)]
        example: azure_servicebus::tests::example,
    },
    Entry {
        declaration: &kafka::DECLARATION,
        standard_declaration: None,
        check: kafka::check,
        target: kafka::target,
        sender: |ctx, _| Arc::new(kafka::send::KafkaSender::new(ctx)),
        #[cfg(test)]
        example: kafka::tests::example,
    },
    Entry {
        declaration: &hookdeck::DECLARATION,
        standard_declaration: None,
        check: hookdeck::check,
        target: hookdeck::target,
        sender: |ctx, s| Arc::new(hookdeck::send::HookdeckSender::new(ctx, &s.hookdeck)),
        #[cfg(test)]
        example: hookdeck::tests::example,
    },
];

/// The row of `kind`.
pub fn entry(kind: DestinationKind) -> &'static Entry {
    &ENTRIES[kind as usize]
}

/// Every type's declaration, in the order they are listed to clients.
pub fn declarations() -> impl Iterator<Item = &'static DestinationType> {
    ENTRIES.iter().map(|e| e.declaration)
}

/// The declaration of `kind`.
pub fn declaration(kind: DestinationKind) -> &'static DestinationType {
    entry(kind).declaration
}

/// The destination type named `name`, if that is a type.
pub fn find(name: &str) -> Option<&'static DestinationType> {
    DestinationKind::parse(name).ok().map(declaration)
}

/// The declaration a deployment in `mode` serves for `kind`.
pub fn served_declaration(kind: DestinationKind, mode: WebhookMode) -> &'static DestinationType {
    let e = entry(kind);
    match (mode, e.standard_declaration) {
        (WebhookMode::Standard, Some(standard)) => standard,
        _ => e.declaration,
    }
}

/// Everything wrong with a destination's settings of `kind` (after its
/// schema passed): the type's own rules, then those every type shares, for
/// the fields the type's rules did not already refuse.
pub fn check_settings(
    kind: DestinationKind,
    config: &Value,
    credentials: &Value,
    ctx: &CheckContext<'_>,
) -> Vec<FieldError> {
    let e = entry(kind);
    let mut errors = (e.check)(config, credentials, ctx);
    for shared in check::shared(e.declaration, config, credentials) {
        if !errors.iter().any(|known| known.field == shared.field) {
            errors.push(shared);
        }
    }
    errors
}

/// What a destination of `kind` delivers to (`target`, `target_url`).
pub fn target(kind: DestinationKind, destination: &Configured<'_>) -> DestinationTarget {
    (entry(kind).target)(destination)
}

/// The senders of this build, one per type.
pub struct Senders {
    by_kind: [Arc<dyn Sender>; DestinationKind::ALL.len()],
}

impl Senders {
    pub fn new(ctx: &SenderContext, settings: &Settings) -> Senders {
        Senders {
            by_kind: std::array::from_fn(|i| (ENTRIES[i].sender)(ctx, settings)),
        }
    }

    /// The sender of `kind`.
    pub fn get(&self, kind: DestinationKind) -> &dyn Sender {
        &*self.by_kind[kind as usize]
    }

    /// The sender of `kind`, to keep (the operator-event queue sinks hold
    /// one for the life of the process).
    pub fn shared(&self, kind: DestinationKind) -> Arc<dyn Sender> {
        self.by_kind[kind as usize].clone()
    }

    /// The types this build delivers, in the order clients list them.
    pub fn kinds(&self) -> Vec<DestinationKind> {
        DestinationKind::ALL.to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_is_registered_at_its_position() {
        for kind in DestinationKind::ALL {
            assert_eq!(declaration(kind).kind, kind);
            assert_eq!(find(kind.as_str()).map(|t| t.kind), Some(kind));
        }
        assert!(find("carrier_pigeon").is_none());
        let std = served_declaration(DestinationKind::Webhook, WebhookMode::Standard);
        assert!(std.description.contains("Standard Webhooks"));
        assert_eq!(
            served_declaration(DestinationKind::AwsSqs, WebhookMode::Standard).kind,
            DestinationKind::AwsSqs
        );
    }
}
