//! `outbound bench`: throughput figures measured on this machine, always
//! next to the raw rate of the same Postgres in the same run, so the ratios
//! mean something on any hardware. Benchmarks print; they assert nothing.

mod capture;
mod citus;
mod delivery;
mod fanout;
mod harness;
mod http;
mod isolation;
mod latency;
mod ordered;
mod rate_limit;
mod scale;
mod senders;
mod sql;
mod support;

use clap::{Args, Subcommand};

use crate::config::Settings;

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub which: Which,
}

#[derive(Debug, Subcommand)]
pub enum Which {
    /// Event inserts through the fan-out trigger vs a plain table.
    Fanout(fanout::FanoutArgs),
    /// End-to-end delivery throughput, latency and worker memory.
    Delivery(delivery::DeliveryArgs),
    /// POST /publish end to end: accepted/s, delivered/s, latency.
    Http(http::HttpArgs),
    /// Publish→receive latency at fixed rates, stage by stage.
    Latency(latency::LatencyArgs),
    /// One tenant's slow or dead endpoint next to another's fast one.
    Isolation(isolation::IsolationArgs),
    /// Deliveries per second per destination type (webhook, SQS, RabbitMQ).
    Senders(senders::SendersArgs),
    /// The same work on one PostgreSQL and on a Citus cluster, side by side.
    Citus(citus::CitusArgs),
    /// How closely a destination's rate limit holds with 1, 2, 4 workers.
    RateLimit(rate_limit::RateLimitArgs),
    /// Ordered delivery: one lane, and per key, next to no ordering.
    Ordered(ordered::OrderedArgs),
    /// What capturing a table adds to the application's insert.
    Capture(capture::CaptureArgs),
}

pub async fn run(settings: Settings, args: BenchArgs) -> anyhow::Result<()> {
    match args.which {
        Which::Fanout(a) => fanout::run(settings, a).await,
        Which::Delivery(a) => delivery::run(settings, a).await,
        Which::Http(a) => http::run(settings, a).await,
        Which::Latency(a) => latency::run(settings, a).await,
        Which::Isolation(a) => isolation::run(settings, a).await,
        Which::Senders(a) => senders::run(settings, a).await,
        Which::Citus(a) => citus::run(settings, a).await,
        Which::RateLimit(a) => rate_limit::run(settings, a).await,
        Which::Ordered(a) => ordered::run(settings, a).await,
        Which::Capture(a) => capture::run(settings, a).await,
    }
}
