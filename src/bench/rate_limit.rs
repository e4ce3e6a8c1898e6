//! `outbound bench rate-limit`: how closely a destination's rate limit
//! (`delivery_policy.rate_limit`) holds with 1, 2 and 4 `outbound worker`
//! processes sharing the queue.
//!
//! Each row: one destination limited to `--rate` a second, a backlog far
//! larger than a row can deliver (so the limit, not the publisher, sets the
//! pace), N fresh worker processes, and the receiver's count over
//! `--seconds` after a warm-up that spends the first bucket.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;

use super::harness::{spawn_worker, start_receiver, Receiver};
use super::sql;
use super::support::{connect, machine_summary, payload, BenchDb};
use crate::config::Settings;

#[derive(Debug, Args)]
pub struct RateLimitArgs {
    /// The destination's limit, deliveries per second.
    #[arg(long, default_value_t = 100)]
    pub rate: u32,
    /// Seconds measured per row.
    #[arg(long, default_value_t = 60)]
    pub seconds: u64,
    /// Worker processes, one row each.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
    pub workers: Vec<usize>,
}

pub async fn run(settings: Settings, args: RateLimitArgs) -> anyhow::Result<()> {
    let bench = BenchDb::create(&settings).await?;
    let url = bench.url.clone();
    let setup = connect(&url).await?;
    setup.batch_execute(sql::SETUP).await?;
    let rx = Arc::new(Receiver::default());
    let hook = start_receiver(rx.clone()).await?;
    setup.execute(sql::POINT_AT, &[&hook]).await?;
    setup.batch_execute(sql::ONLY_D_TOPIC).await?;
    println!(
        "outbound bench rate-limit: {}, PostgreSQL {}, one destination limited to {}/s \
         (a burst of one second's worth), {} s per row after a 3 s warm-up",
        machine_summary(),
        bench.server_version,
        args.rate,
        args.seconds
    );
    println!();
    println!(
        "{:<10} {:>14} {:>10} {:>12}",
        "workers", "delivered/s", "limit", "off by"
    );
    let warmup = Duration::from_secs(3);
    let backlog = u64::from(args.rate) * (args.seconds + warmup.as_secs() + 10);
    let insert = setup.prepare(sql::INSERT_BATCH).await?;
    for &n in &args.workers {
        setup.batch_execute(sql::EMPTY).await?;
        setup
            .execute(sql::RATE_LIMIT, &[&i32::try_from(args.rate)?])
            .await?;
        let mut seq = 0;
        while seq < backlog {
            let rows: Vec<String> = (seq..(seq + 500).min(backlog))
                .map(|k| payload("a", k, 256))
                .collect();
            seq += rows.len() as u64;
            setup.execute(&insert, &[&rows]).await?;
        }
        let mut workers = Vec::with_capacity(n);
        for _ in 0..n {
            workers.push(spawn_worker(&url, 64, &[])?);
        }
        tokio::time::sleep(warmup).await;
        let (from, started) = (rx.received.load(Ordering::Relaxed), Instant::now());
        tokio::time::sleep(Duration::from_secs(args.seconds)).await;
        let delivered =
            (rx.received.load(Ordering::Relaxed) - from) as f64 / started.elapsed().as_secs_f64();
        let off = 100.0 * (delivered - f64::from(args.rate)) / f64::from(args.rate);
        println!("{n:<10} {delivered:>14.2} {:>10} {off:>+11.2}%", args.rate);
        for mut w in workers {
            let _ = w.start_kill();
            let _ = w.wait().await;
        }
    }
    drop(setup);
    bench.db.close();
    Ok(())
}
