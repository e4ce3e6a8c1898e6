//! `outbound bench delivery`: end-to-end delivery throughput and latency.
//!
//! One run, against one Postgres, with a worker in a child process
//! (`outbound worker`, as in production) and a receiver on loopback:
//!
//! - raw: single-row and 50-row INSERTs into a plain table of the same
//!   shape as `outbound.events`, for the ratios;
//! - A: one event per transaction from several connections, 1 destination
//!   → delivered webhooks/s, and ÷ raw single-row rows/s;
//! - B: 50-event INSERT statements, 10 destinations of which 3 match →
//!   delivered webhooks/s, and ÷ raw 50-row rows/s; worker RSS;
//! - C: publish→receive latency percentiles at a fixed offered load of half
//!   of A's rate.
//!
//! With `--workers 1,2,4` it measures scale-out instead (see `scale.rs`).
//! With `--operator-events TOPICS` the worker also emits those operator
//! events (e.g. `attempt.success,attempt.failed`, one per attempt) to a
//! second receiver on loopback, as a deployment with a sink would.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;

use super::harness::{drain, measure_delivered, rss_kb, spawn_worker, start_receiver, Receiver};
use super::sql;
use super::support::{connect, machine_summary, payload, percentile, timed, BenchDb};
use crate::config::Settings;

#[derive(Debug, Args)]
pub struct DeliveryArgs {
    /// Seconds measured per phase.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Publishing connections.
    #[arg(long, default_value_t = 16)]
    pub connections: usize,
    /// In-flight sends of the worker process (DELIVERY_CONCURRENCY).
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Seconds of the fixed-rate latency phase.
    #[arg(long, default_value_t = 10)]
    pub latency_seconds: u64,
    /// Instead of the phases above: delivered webhooks/s with this many
    /// worker processes, one row per count (e.g. `--workers 1,2,4`).
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u16).range(1..=64))]
    pub workers: Vec<u16>,
    /// The worker's OPERATOR_EVENTS_TOPICS, sent signed to a sink on
    /// loopback that answers 200 (e.g. `attempt.success,attempt.failed`);
    /// unset: none, as by default.
    #[arg(long, default_value = "", value_parser = crate::domain::setting::operator_topics)]
    pub operator_events: crate::domain::operator_event::OperatorTopics,
    /// A jq program every destination's body goes through
    /// (delivery_policy.transform.body), e.g. `{event: .id, user: .data}`;
    /// unset: none, as by default.
    #[arg(long)]
    pub transform: Option<String>,
}

pub async fn run(settings: Settings, args: DeliveryArgs) -> anyhow::Result<()> {
    let bench = BenchDb::create(&settings).await?;
    let url = bench.url.clone();
    let setup = connect(&url).await?;
    setup.batch_execute(sql::SETUP).await?;
    setup.batch_execute(sql::SETUP_PLAIN).await?;
    let rx = Arc::new(Receiver::default());
    let hook = start_receiver(rx.clone()).await?;
    setup.execute(sql::POINT_AT, &[&hook]).await?;
    if let Some(program) = &args.transform {
        setup.execute(sql::TRANSFORM_ALL, &[program]).await?;
        println!("every destination transforms its body with: {program}");
    }
    let secs = Duration::from_secs(args.seconds);
    let warmup = Duration::from_secs(2);
    let conns = args.connections;

    if !args.workers.is_empty() {
        println!(
            "outbound bench delivery --workers: {}, PostgreSQL {}, {} s per row, 1 KiB events, \
             50 per INSERT, 3 of 10 destinations match, DELIVERY_CONCURRENCY={} per worker",
            machine_summary(),
            bench.server_version,
            args.seconds,
            args.concurrency
        );
        let counts: Vec<usize> = args.workers.iter().map(|&n| usize::from(n)).collect();
        let rows =
            super::scale::rows(&url, &setup, &rx, &counts, args.concurrency, secs, warmup).await?;
        println!();
        println!(
            "{:<10} {:>22} {:>22}",
            "workers", "delivered webhooks/s", "events published/s"
        );
        for (n, delivered, published) in rows {
            println!("{n:<10} {delivered:>22.0} {published:>22.0}");
        }
        drop(setup);
        bench.db.close();
        return Ok(());
    }

    // A: one destination only (d_topic); the others are moved aside for now.
    setup.batch_execute(sql::ONLY_D_TOPIC).await?;
    println!(
        "outbound bench delivery: {}, PostgreSQL {}, {} publishing connections, {} s per phase, \
         1 KiB events, worker DELIVERY_CONCURRENCY={}",
        machine_summary(),
        bench.server_version,
        conns,
        args.seconds,
        args.concurrency
    );

    // Publishers. With `gate`, each waits while the backlog is too long.
    let single = |statement: &'static str, gate: Option<(Arc<Receiver>, u64)>| {
        move |client: Arc<deadpool_postgres::Object>, i: u64| {
            let gate = gate.clone();
            async move {
                if let Some((rx, fan)) = &gate {
                    rx.wait_for_room().await;
                    rx.expected.fetch_add(*fan, Ordering::Relaxed);
                }
                let stmt = client.prepare_cached(statement).await?;
                client.execute(&stmt, &[&payload("a", i, 1024)]).await?;
                anyhow::Ok(1)
            }
        }
    };
    let batched = |statement: &'static str, gate: Option<(Arc<Receiver>, u64)>| {
        move |client: Arc<deadpool_postgres::Object>, i: u64| {
            let gate = gate.clone();
            async move {
                if let Some((rx, fan)) = &gate {
                    rx.wait_for_room().await;
                    rx.expected.fetch_add(50 * fan, Ordering::Relaxed);
                }
                let stmt = client.prepare_cached(statement).await?;
                let rows: Vec<String> = (0..50u64)
                    .map(|k| payload("a", i * 1000 + k, 1024))
                    .collect();
                client.execute(&stmt, &[&rows]).await?;
                anyhow::Ok(50)
            }
        }
    };

    // Raw rates of this Postgres, no outbound involved.
    let raw_single = timed(
        &url,
        conns,
        warmup,
        secs,
        single(sql::INSERT_ONE_PLAIN, None),
    )
    .await?;
    let raw_batch = timed(
        &url,
        conns,
        warmup,
        secs,
        batched(sql::INSERT_BATCH_PLAIN, None),
    )
    .await?;
    // The control table has served; dropped, so that autovacuum (which the
    // inserts above trigger) does not run during the phases below.
    setup.batch_execute(sql::DROP_PLAIN).await?;

    // The worker, as its own process; with operator events, and their sink.
    let ops = Arc::new(Receiver::default());
    let ops_env: Vec<(&str, String)> = match args.operator_events.any() {
        false => Vec::new(),
        true => vec![
            (
                "OPERATOR_EVENTS_TOPICS",
                args.operator_events.names().join(","),
            ),
            (
                "OPERATOR_EVENTS_HTTP_URL",
                start_receiver(ops.clone()).await?,
            ),
            ("OPERATOR_EVENTS_HTTP_SIGNING_SECRET", "bench".to_owned()),
        ],
    };
    let ops_env: Vec<(&str, &str)> = ops_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut worker = spawn_worker(&url, args.concurrency, &ops_env)?;
    let worker_pid = worker.id().unwrap_or(0);

    // A: publish flat out, measure what the receiver gets.
    let a = measure_delivered(&rx, secs, warmup, || {
        timed(
            &url,
            conns,
            warmup,
            secs + Duration::from_secs(1),
            single(sql::INSERT_ONE, Some((rx.clone(), 1))),
        )
    })
    .await?;
    drain(&setup, &rx).await?;

    // B: 50-event statements, 10 destinations, 3 match.
    setup.batch_execute(sql::ALL_TEN).await?;
    let rss_peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let rss_peak = rss_peak.clone();
        tokio::spawn(async move {
            loop {
                if let Some(kb) = rss_kb(worker_pid) {
                    rss_peak.fetch_max(kb, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let b_conns = conns.clamp(1, 4);
    let ops_b = (ops.received.load(Ordering::Relaxed), Instant::now());
    let b = measure_delivered(&rx, secs, warmup, || {
        timed(
            &url,
            b_conns,
            warmup,
            secs + Duration::from_secs(1),
            batched(sql::INSERT_BATCH, Some((rx.clone(), 3))),
        )
    })
    .await?;
    sampler.abort();
    let ops_b =
        (ops.received.load(Ordering::Relaxed) - ops_b.0) as f64 / ops_b.1.elapsed().as_secs_f64();
    drain(&setup, &rx).await?;

    // C: fixed offered load, half of A's delivered rate, 1 destination.
    setup.batch_execute(sql::ONLY_D_TOPIC).await?;
    let rate = (a.delivered / 2.0).max(10.0);
    let lat = latency(
        &url,
        &rx,
        rate,
        Duration::from_secs(args.latency_seconds),
        &[],
    )
    .await?;

    let outbox: i64 = setup.query_one(sql::OUTBOX_LENGTH, &[]).await?.get(0);
    let _ = worker.start_kill();
    let _ = worker.wait().await;

    println!();
    println!("{:<58} {:>12} {:>10}", "phase", "per second", "ratio");
    println!(
        "{:<58} {:>12.0}",
        "raw single-row INSERT (plain table), rows", raw_single
    );
    println!(
        "{:<58} {:>12.0}",
        "raw 50-row INSERT (plain table), rows", raw_batch
    );
    println!(
        "{:<58} {:>12.0} {:>10.2}",
        "A: 1 event/tx, 1 destination: delivered webhooks",
        a.delivered,
        a.delivered / raw_single
    );
    println!(
        "{:<58} {:>12.0}",
        "   (events published meanwhile)", a.published
    );
    println!(
        "{:<58} {:>12.0} {:>10.2}",
        "B: 50 events/tx, 3 of 10 destinations: delivered webhooks",
        b.delivered,
        b.delivered / raw_batch
    );
    println!(
        "{:<58} {:>12.0}",
        "   (events published meanwhile)", b.published
    );
    println!(
        "C: latency at {:.0} events/s offered: p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} of {} received)",
        rate, lat.p50, lat.p95, lat.p99, lat.max, lat.received, lat.sent
    );
    println!(
        "worker RSS under B: peak {:.1} MiB",
        rss_peak.load(Ordering::Relaxed) as f64 / 1024.0
    );
    if args.operator_events.any() {
        println!(
            "operator events ({}): {:.0}/s at the sink during B, {} in all, {} left in the outbox",
            args.operator_events.names().join(","),
            ops_b,
            ops.received.load(Ordering::Relaxed),
            outbox
        );
    }
    drop(setup);
    bench.db.close();
    Ok(())
}

pub(super) struct Latency {
    pub(super) p50: f64,
    pub(super) p95: f64,
    pub(super) p99: f64,
    pub(super) max: f64,
    pub(super) sent: usize,
    pub(super) received: usize,
}

/// Publishes one event per tick at `rate`/s (each on its own pooled
/// connection, so a slow insert never delays the schedule) and measures
/// from just before the INSERT to arrival at the receiver. The events are
/// the bench tenant's, or with `tenants` each one the next tenant's.
pub(super) async fn latency(
    url: &str,
    rx: &Arc<Receiver>,
    rate: f64,
    span: Duration,
    tenants: &[String],
) -> anyhow::Result<Latency> {
    let pool = crate::store::connect_pool(url, 16)?;
    rx.arrivals.lock().map(|mut a| a.clear()).ok();
    rx.track.store(true, Ordering::Relaxed);
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let end = Instant::now() + span;
    let mut seq = 0u64;
    let mut tasks = tokio::task::JoinSet::new();
    while Instant::now() < end {
        tick.tick().await;
        seq += 1;
        let id = format!("lat-{seq}");
        let (pool, sent) = (pool.clone(), sent.clone());
        let tenant = (!tenants.is_empty()).then(|| tenants[seq as usize % tenants.len()].clone());
        tasks.spawn(async move {
            let client = pool.get().await?;
            let data = payload("a", seq, 1024);
            let stmt = match tenant {
                None => client.prepare_cached(sql::INSERT_WITH_ID).await?,
                Some(_) => client.prepare_cached(sql::TENANT_INSERT_WITH_ID).await?,
            };
            if let Ok(mut s) = sent.lock() {
                s.insert(id.clone(), Instant::now());
            }
            match &tenant {
                None => client.execute(&stmt, &[&id, &data]).await?,
                Some(t) => client.execute(&stmt, &[&id, t, &data]).await?,
            };
            anyhow::Ok(())
        });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    tokio::time::sleep(Duration::from_secs(2)).await;
    rx.track.store(false, Ordering::Relaxed);

    let sent = sent.lock().map(|s| s.clone()).unwrap_or_default();
    let arrivals = rx.arrivals.lock().map(|a| a.clone()).unwrap_or_default();
    let mut ms: Vec<f64> = sent
        .iter()
        .filter_map(|(id, t0)| {
            arrivals
                .get(id)
                .map(|t1| t1.duration_since(*t0).as_secs_f64() * 1000.0)
        })
        .collect();
    ms.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| percentile(&ms, p);
    Ok(Latency {
        p50: pct(0.50),
        p95: pct(0.95),
        p99: pct(0.99),
        max: ms.last().copied().unwrap_or(f64::NAN),
        sent: sent.len(),
        received: ms.len(),
    })
}
