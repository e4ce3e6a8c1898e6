//! The publish queue's variables, Outpost's names: `PUBLISH_MAX_CONCURRENCY`
//! and one broker's `PUBLISH_RABBITMQ_*`, `PUBLISH_AWS_SQS_*`,
//! `PUBLISH_GCP_PUBSUB_*` or `PUBLISH_AZURE_SERVICEBUS_*` (each declared in
//! its broker's file). A broker is chosen as Outpost chooses it (by
//! `PUBLISH_RABBITMQ_SERVER_URL`, `PUBLISH_AWS_SQS_REGION`,
//! `PUBLISH_GCP_PUBSUB_PROJECT`, or the three Service Bus variables);
//! unlike Outpost, two chosen brokers, or a broker's variable set without
//! the one that chooses it, are a start-up error rather than a silent pick.
//!
//! This file is a leaf (clap and `domain::setting`): `config` gathers it
//! into `Settings`.

use super::azure_servicebus::ServiceBusArgs;
use super::gcp_pubsub::PubsubArgs;
use super::rabbitmq::RabbitmqArgs;
use super::sqs::SqsArgs;
use crate::domain::setting;

#[derive(clap::Args, Debug, Clone)]
#[group(skip)]
pub struct PublishSettings {
    /// Messages of the publish queue published at once
    #[arg(env = "PUBLISH_MAX_CONCURRENCY", default_value = "1", value_parser = setting::whole(1usize, 1000))]
    pub max_concurrency: usize,
    #[command(flatten)]
    pub rabbitmq: RabbitmqArgs,
    #[command(flatten)]
    pub aws_sqs: SqsArgs,
    #[command(flatten)]
    pub gcp_pubsub: PubsubArgs,
    #[command(flatten)]
    pub azure_servicebus: ServiceBusArgs,
}

/// One broker's variables.
pub trait BrokerArgs {
    /// What Outpost reads as "this broker is the publish queue".
    fn chosen(&self) -> bool;
    /// Its variables, and whether each is set.
    fn variables(&self) -> Vec<(&'static str, bool)>;
}

/// Which broker the variables choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broker {
    Rabbitmq,
    AwsSqs,
    GcpPubsub,
    AzureServicebus,
}

impl PublishSettings {
    /// The chosen broker (None: no publish queue), after the rules between
    /// the variables. The error names them.
    pub fn broker(&self) -> Result<Option<Broker>, String> {
        let brokers: [(Broker, &dyn BrokerArgs); 4] = [
            (Broker::Rabbitmq, &self.rabbitmq),
            (Broker::AwsSqs, &self.aws_sqs),
            (Broker::GcpPubsub, &self.gcp_pubsub),
            (Broker::AzureServicebus, &self.azure_servicebus),
        ];
        let mut chosen = Vec::new();
        for (broker, args) in brokers {
            let set: Vec<&str> = args
                .variables()
                .into_iter()
                .filter_map(|(name, set)| set.then_some(name))
                .collect();
            match (args.chosen(), set.is_empty()) {
                (true, _) => chosen.push((broker, set)),
                (false, true) => {}
                (false, false) => {
                    let needed: Vec<&str> = args.variables().into_iter().map(|(n, _)| n).collect();
                    return Err(format!(
                        "{} set, but not enough for a publish queue (its variables: {})",
                        set.join(", "),
                        needed.join(", ")
                    ));
                }
            }
        }
        match chosen.as_slice() {
            [] => Ok(None),
            [(broker, _)] => Ok(Some(*broker)),
            [(_, a), (_, b), ..] => Err(format!(
                "one publish queue at most: {} and {} are both set",
                a.join(", "),
                b.join(", ")
            )),
        }
    }
}
