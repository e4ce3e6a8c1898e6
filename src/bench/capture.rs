//! `outbound bench capture`: what capturing a table (`outbound.capture()`,
//! docs/capturing.md) adds to the application's own insert.
//!
//! One run, one Postgres, one application table (`public.bench_orders`: a
//! key, its tenant, a few columns, an index), emptied between phases:
//!
//! - plain: the table with no trigger;
//! - capture: the same with `outbound.capture('public.bench_orders',
//!   'order.created')`, the statement-level trigger;
//! - row-level: the same through a FOR EACH ROW trigger doing what the
//!   generated function does, to show why inserts are captured per
//!   statement;
//! - by hand: the row and its event written by the application itself in
//!   one statement (`WITH o AS (INSERT … RETURNING *) INSERT INTO
//!   outbound.events …`), what capturing saves it writing.
//!
//! Each with single-row and multi-row inserts: rows/s from `--connections`
//! connections (each statement its own transaction), then the latency of
//! the INSERT statement alone from one connection, each in a transaction
//! committed after the timing (per row: a statement's time over its rows).
//! 10 destinations of the tenant, of which 3 match each event, as in
//! `bench fanout`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;

use super::sql;
use super::support::{connect, machine_summary, percentile, BenchDb};
use crate::config::Settings;

#[derive(Debug, Args)]
pub struct CaptureArgs {
    /// Seconds measured per phase.
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
    /// Concurrent connections inserting in the throughput phases.
    #[arg(long, default_value_t = 16)]
    pub connections: usize,
    /// Rows per statement in the multi-row phases.
    #[arg(long, default_value_t = 50)]
    pub batch: usize,
    /// Approximate size of each row's `note` column, in bytes.
    #[arg(long, default_value_t = 1024)]
    pub note_bytes: usize,
}

/// What a phase inserts through: a trigger set-up and its statements.
#[derive(Clone, Copy)]
struct Way {
    name: &'static str,
    /// Run before the phase, after `capture_off` (None: no trigger).
    setup: Option<&'static str>,
    one: &'static str,
    batch: &'static str,
}

const WAYS: [Way; 4] = [
    Way {
        name: "plain table (no trigger)",
        setup: None,
        one: sql::CAPTURE_INSERT_ONE,
        batch: sql::CAPTURE_INSERT_BATCH,
    },
    Way {
        name: "captured: outbound.capture()",
        setup: Some(sql::CAPTURE_ON),
        one: sql::CAPTURE_INSERT_ONE,
        batch: sql::CAPTURE_INSERT_BATCH,
    },
    Way {
        name: "captured by a row-level trigger (not adopted)",
        setup: Some(sql::CAPTURE_ROW_LEVEL_ON),
        one: sql::CAPTURE_INSERT_ONE,
        batch: sql::CAPTURE_INSERT_BATCH,
    },
    Way {
        name: "by hand: INSERT … RETURNING into events",
        setup: None,
        one: sql::CAPTURE_BY_HAND_ONE,
        batch: sql::CAPTURE_BY_HAND_BATCH,
    },
];

/// One phase's figures.
struct Figures {
    rows_per_s: f64,
    /// Per-statement latency from one connection, sorted, in ms.
    latency_ms: Vec<f64>,
    deliveries_per_row: f64,
}

pub async fn run(settings: Settings, args: CaptureArgs) -> anyhow::Result<()> {
    let bench = BenchDb::create(&settings).await?;
    let setup = connect(&bench.url).await?;
    setup.batch_execute(sql::CAPTURE_SETUP).await?;
    let secs = Duration::from_secs(args.seconds);

    println!(
        "outbound bench capture: {}, PostgreSQL {}, {} connections, {} s per phase, \
         {}-row statements, ~{} B rows",
        machine_summary(),
        bench.server_version,
        args.connections,
        args.seconds,
        args.batch,
        args.note_bytes
    );

    let mut single = Vec::new();
    let mut multi = Vec::new();
    for way in WAYS {
        for (rows, statement, out) in [
            (1, way.one, &mut single),
            (args.batch, way.batch, &mut multi),
        ] {
            let prepare = || async {
                setup.batch_execute(sql::CAPTURE_OFF).await?;
                if let Some(s) = way.setup {
                    setup.batch_execute(s).await?;
                }
                anyhow::Ok(())
            };
            prepare().await?;
            let (rows_per_s, _) = phase(
                &bench.url,
                false,
                args.connections,
                secs,
                statement,
                rows,
                args.note_bytes,
            )
            .await?;
            let deliveries_per_row = deliveries_per_row(&setup).await?;
            prepare().await?;
            let (_, latency_ms) =
                phase(&bench.url, true, 1, secs, statement, rows, args.note_bytes).await?;
            out.push(Figures {
                rows_per_s,
                latency_ms,
                deliveries_per_row,
            });
        }
    }
    setup.batch_execute(sql::CAPTURE_OFF).await?;

    for (title, rows, figures) in [
        ("single-row INSERT", 1, &single),
        (&*format!("{}-row INSERT", args.batch), args.batch, &multi),
    ] {
        println!();
        println!(
            "{:<48} {:>10} {:>9} {:>11} {:>20} {:>9}",
            title, "rows/s", "vs plain", "deliveries", "statement p50/p99", "per row"
        );
        let plain = figures[0].rows_per_s;
        for (way, f) in WAYS.iter().zip(figures.iter()) {
            let p50 = percentile(&f.latency_ms, 0.5);
            println!(
                "{:<48} {:>10.0} {:>9.2} {:>11.1} {:>9.3}/{:<7.3}ms {:>7.1}µs",
                way.name,
                f.rows_per_s,
                f.rows_per_s / plain,
                f.deliveries_per_row,
                p50,
                percentile(&f.latency_ms, 0.99),
                p50 * 1000.0 / rows as f64
            );
        }
        let (p, c) = (&figures[0], &figures[1]);
        println!(
            "capture adds {:.0} µs per row to the INSERT at the median, from one connection \
             ({:.3} → {:.3} ms a statement, before COMMIT), and takes the table to {:.2}× its \
             plain rows/s",
            (percentile(&c.latency_ms, 0.5) - percentile(&p.latency_ms, 0.5)) * 1000.0
                / rows as f64,
            percentile(&p.latency_ms, 0.5),
            percentile(&c.latency_ms, 0.5),
            c.rows_per_s / p.rows_per_s
        );
    }
    drop(setup);
    bench.db.close();
    Ok(())
}

/// Runs `statement` on `connections` connections for `secs` after a one
/// second warm-up; answers rows/s and each statement's latency (ms,
/// sorted) over the measured window. With `timing`, each statement runs in
/// a transaction of its own and its latency is the statement's alone,
/// without the COMMIT (whose WAL flush, the same with or without capture,
/// is milliseconds on a slow disk and would hide the difference).
async fn phase(
    url: &str,
    timing: bool,
    connections: usize,
    secs: Duration,
    statement: &'static str,
    rows: usize,
    note_bytes: usize,
) -> anyhow::Result<(f64, Vec<f64>)> {
    let counting = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let pool = crate::store::connect_pool(url, connections)?;
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..connections {
        let client = pool.get().await?;
        let (counting, stop, latencies) = (counting.clone(), stop.clone(), latencies.clone());
        tasks.spawn(async move {
            let stmt = client.prepare_cached(statement).await?;
            let mut mine = Vec::new();
            let mut i = (worker as u64) << 40;
            while !stop.load(Ordering::Relaxed) {
                let notes: Vec<String> = (0..rows as u64)
                    .map(|k| note(i * 1000 + k, note_bytes))
                    .collect();
                if timing {
                    client.batch_execute("BEGIN").await?;
                }
                let started = Instant::now();
                if rows == 1 {
                    client.execute(&stmt, &[&notes[0]]).await?;
                } else {
                    client.execute(&stmt, &[&notes]).await?;
                }
                let took = started.elapsed();
                if timing {
                    client.batch_execute("COMMIT").await?;
                }
                i += 1;
                if counting.load(Ordering::Relaxed) {
                    mine.push(took.as_secs_f64() * 1000.0);
                }
            }
            if let Ok(mut all) = latencies.lock() {
                all.extend(mine);
            }
            anyhow::Ok(())
        });
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    counting.store(true, Ordering::Relaxed);
    let start = Instant::now();
    tokio::time::sleep(secs).await;
    counting.store(false, Ordering::Relaxed);
    let elapsed = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    pool.close();
    let mut latency_ms = std::mem::take(
        &mut *latencies
            .lock()
            .map_err(|_| anyhow::anyhow!("a task panicked"))?,
    );
    latency_ms.sort_by(f64::total_cmp);
    let statements = latency_ms.len() as f64;
    Ok((statements * rows as f64 / elapsed.as_secs_f64(), latency_ms))
}

/// A row's note: its number and padding up to about `bytes`.
fn note(seq: u64, bytes: usize) -> String {
    let head = format!("order {seq} ");
    let pad = bytes.saturating_sub(head.len());
    format!("{head}{}", "x".repeat(pad))
}

async fn deliveries_per_row(client: &tokio_postgres::Client) -> anyhow::Result<f64> {
    let row = client
        .query_one(sql::CAPTURE_DELIVERIES_PER_ROW, &[])
        .await?;
    Ok(row.get(0))
}
