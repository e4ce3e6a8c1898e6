//! `outbound bench fanout`: what the fan-out trigger costs.
//!
//! Measures, in one run against the same Postgres: single-row and 50-row
//! inserts into a plain table of the same shape as `outbound.events` (same
//! partitioning and indexes, no trigger), and the same inserts into
//! `outbound.events` with 10 destinations of which 3 match. Prints rows/s
//! and the ratio to the plain table.

use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::sql;
use super::support::{connect, machine_summary, payload, timed, BenchDb};
use crate::config::Settings;

#[derive(Debug, Args)]
pub struct FanoutArgs {
    /// Seconds measured per phase.
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
    /// Concurrent connections inserting.
    #[arg(long, default_value_t = 16)]
    pub connections: usize,
    /// Rows per statement in the batched phases.
    #[arg(long, default_value_t = 50)]
    pub batch: usize,
    /// Approximate size of each event's data, in bytes.
    #[arg(long, default_value_t = 1024)]
    pub payload_bytes: usize,
}

pub async fn run(settings: Settings, args: FanoutArgs) -> anyhow::Result<()> {
    let bench = BenchDb::create(&settings).await?;
    let setup = connect(&bench.url).await?;
    setup.batch_execute(sql::SETUP).await?;
    setup.batch_execute(sql::SETUP_PLAIN).await?;

    let warmup = Duration::from_secs(1);
    let secs = Duration::from_secs(args.seconds);
    let (conns, batch, bytes) = (args.connections, args.batch, args.payload_bytes);
    let url = bench.url.clone();

    println!(
        "outbound bench fanout: {}, PostgreSQL {}, {} connections, {} s per phase, ~{} B payloads",
        machine_summary(),
        bench.server_version,
        conns,
        args.seconds,
        bytes
    );

    let single = |statement: &'static str| {
        move |client: Arc<deadpool_postgres::Object>, i: u64| async move {
            let stmt = client.prepare_cached(statement).await?;
            client.execute(&stmt, &[&payload("a", i, bytes)]).await?;
            anyhow::Ok(1)
        }
    };
    let batched = |statement: &'static str| {
        move |client: Arc<deadpool_postgres::Object>, i: u64| async move {
            let stmt = client.prepare_cached(statement).await?;
            let rows: Vec<String> = (0..batch as u64)
                .map(|k| payload("a", i * 1000 + k, bytes))
                .collect();
            client.execute(&stmt, &[&rows]).await?;
            anyhow::Ok(batch as u64)
        }
    };

    let plain_single = timed(&url, conns, warmup, secs, single(sql::INSERT_ONE_PLAIN)).await?;
    let events_single = timed(&url, conns, warmup, secs, single(sql::INSERT_ONE)).await?;
    let fanned_single = deliveries_per_event(&setup).await?;
    // The same again with a worker marked idle: every statement notifies.
    setup.batch_execute(sql::IDLE_WORKER).await?;
    let notify_single = timed(&url, conns, warmup, secs, single(sql::INSERT_ONE)).await?;
    deliveries_per_event(&setup).await?;
    setup.batch_execute(sql::NO_WORKERS).await?;
    let plain_batch = timed(&url, conns, warmup, secs, batched(sql::INSERT_BATCH_PLAIN)).await?;
    let events_batch = timed(&url, conns, warmup, secs, batched(sql::INSERT_BATCH)).await?;
    let fanned_batch = deliveries_per_event(&setup).await?;

    println!();
    println!(
        "{:<52} {:>12} {:>14} {:>9}",
        "phase", "events/s", "deliveries/s", "vs plain"
    );
    let row = |name: &str, rate: f64, fan: Option<f64>, plain: Option<f64>| {
        println!(
            "{:<52} {:>12.0} {:>14} {:>9}",
            name,
            rate,
            fan.map(|f| format!("{:.0}", rate * f)).unwrap_or_default(),
            plain
                .map(|p| format!("{:.2}", rate / p))
                .unwrap_or_default()
        );
    };
    row(
        "single-row INSERT, plain table (no trigger)",
        plain_single,
        None,
        None,
    );
    row(
        "single-row INSERT, outbound.events + fan-out",
        events_single,
        Some(fanned_single),
        Some(plain_single),
    );
    row(
        "  ... with an idle worker (NOTIFY every statement)",
        notify_single,
        Some(fanned_single),
        Some(plain_single),
    );
    row(
        &format!("{batch}-row INSERT, plain table (no trigger)"),
        plain_batch,
        None,
        None,
    );
    row(
        &format!("{batch}-row INSERT, outbound.events + fan-out"),
        events_batch,
        Some(fanned_batch),
        Some(plain_batch),
    );
    println!();
    println!(
        "fan-out: 10 destinations, {fanned_batch:.1} matched per event (expected 3); \
         trigger cost = plain/events: single-row {:.2}x, batched {:.2}x",
        plain_single / events_single,
        plain_batch / events_batch
    );
    drop(setup);
    bench.db.close();
    Ok(())
}

async fn deliveries_per_event(client: &tokio_postgres::Client) -> anyhow::Result<f64> {
    let row = client.query_one(sql::DELIVERIES_PER_EVENT, &[]).await?;
    let ratio: f64 = row.get(0);
    client.batch_execute(sql::EMPTY).await?;
    Ok(ratio)
}
