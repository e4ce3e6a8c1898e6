//! `outbound bench citus`: the same work on one PostgreSQL (DATABASE_URL)
//! and on a Citus cluster (`--nodes`), in one run, side by side.
//!
//! The work is spread over `--tenants` tenants (each with one webhook
//! destination), as an application spreads it, so that on Citus it lands
//! on every worker node:
//!
//! - A: one event per transaction from 16 connections, tenants in turn →
//!   delivered webhooks/s;
//! - B: 50 events of one tenant per statement from 4 connections →
//!   delivered webhooks/s;
//! - C: publish→receive latency of SQL publishes at a fixed rate (half of
//!   the same setup's A), which on Citus includes the workers' polling;
//! - D: the same at 5 events/s, an idle service: on Citus, what a SQL
//!   publish waits for the workers' idle poll.
//!
//! `--nodes` lists the admin URLs of the coordinator, then of each worker
//! node (`postgres://user@host:port/postgres`); the bench creates the
//! database `outbound_bench` on each, adds the worker nodes, migrates and
//! distributes it (`outbound migrate --citus`), and drops nothing after.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::delivery::{latency, Latency};
use super::harness::{drain, measure_delivered, spawn_worker, start_receiver, Receiver};
use super::sql;
use super::support::{connect, machine_summary, payload, timed, BenchDb};
use crate::config::Settings;

#[derive(Debug, Args)]
pub struct CitusArgs {
    /// Admin URLs of the coordinator then of each worker node.
    #[arg(long, value_delimiter = ',', required = true)]
    pub nodes: Vec<String>,
    /// Tenants the events are spread over.
    #[arg(long, default_value_t = 16)]
    pub tenants: u32,
    /// Seconds measured per phase.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// In-flight sends of the worker process (DELIVERY_CONCURRENCY).
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
}

const BENCH_DB: &str = "outbound_bench";
/// D's rate: an idle service, each event alone.
const IDLE_RATE: f64 = 5.0;

struct Figures {
    a: f64,
    b: f64,
    c: Latency,
    c_rate: f64,
    idle: Latency,
}

pub async fn run(settings: Settings, args: CitusArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.nodes.len() >= 2,
        "--nodes needs the coordinator and at least one worker node"
    );
    let tenants: Vec<String> = (1..=args.tenants).map(|g| format!("bench-{g}")).collect();
    println!(
        "outbound bench citus: {}, {} tenants, {} s per phase, 1 KiB events, one worker \
         process with DELIVERY_CONCURRENCY={}; Citus: a coordinator and {} worker node(s)",
        machine_summary(),
        tenants.len(),
        args.seconds,
        args.concurrency,
        args.nodes.len() - 1
    );
    let rx = Arc::new(Receiver::default());
    let hook = start_receiver(rx.clone()).await?;

    let single = BenchDb::create(&settings).await?;
    let one = figures(&single.url, &rx, &hook, &tenants, &args).await?;
    single.db.close();

    let citus_url = create_citus_database(&args.nodes).await?;
    let many = figures(&citus_url, &rx, &hook, &tenants, &args).await?;

    println!();
    println!(
        "{:<52} {:>14} {:>14} {:>8}",
        "phase", "one node", "Citus", "ratio"
    );
    let row = |name: &str, one: f64, many: f64| {
        println!("{name:<52} {one:>14.0} {many:>14.0} {:>8.2}", many / one);
    };
    row("A: 1 event/tx, delivered webhooks/s", one.a, many.a);
    row("B: 50 events/tx, delivered webhooks/s", one.b, many.b);
    for (name, f) in [("one node", &one), ("Citus", &many)] {
        for (phase, rate, l) in [("C", f.c_rate, &f.c), ("D", IDLE_RATE, &f.idle)] {
            println!(
                "{phase} ({name}): at {rate:.0} events/s: p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, \
                 max {:.1} ms ({} of {} received)",
                l.p50, l.p95, l.p99, l.max, l.received, l.sent
            );
        }
    }
    Ok(())
}

/// A, B, C and D on one database. C's rate is half of its A: a load the
/// setup sustains, so that C shows latency, not a growing backlog.
async fn figures(
    url: &str,
    rx: &Arc<Receiver>,
    hook: &str,
    tenants: &[String],
    args: &CitusArgs,
) -> anyhow::Result<Figures> {
    let setup = connect(url).await?;
    let n = i32::try_from(tenants.len()).unwrap_or(i32::MAX);
    setup.execute(sql::TENANTS_SETUP, &[&n, &hook]).await?;
    let secs = Duration::from_secs(args.seconds);
    let warmup = Duration::from_secs(2);
    let mut worker = spawn_worker(url, args.concurrency, &[])?;
    let list = Arc::new(tenants.to_vec());

    let one_by_one = {
        let (rx, list) = (rx.clone(), list.clone());
        move |client: Arc<deadpool_postgres::Object>, i: u64| {
            let (rx, list) = (rx.clone(), list.clone());
            async move {
                rx.wait_for_room().await;
                rx.expected.fetch_add(1, Ordering::Relaxed);
                let tenant = &list[i as usize % list.len()];
                let stmt = client.prepare_cached(sql::TENANT_INSERT_ONE).await?;
                client
                    .execute(&stmt, &[tenant, &payload("a", i, 1024)])
                    .await?;
                anyhow::Ok(1)
            }
        }
    };
    let a = measure_delivered(rx, secs, warmup, || {
        timed(url, 16, warmup, secs + Duration::from_secs(1), one_by_one)
    })
    .await?;
    drain(&setup, rx).await?;

    let fifty = {
        let (rx, list) = (rx.clone(), list.clone());
        move |client: Arc<deadpool_postgres::Object>, i: u64| {
            let (rx, list) = (rx.clone(), list.clone());
            async move {
                rx.wait_for_room().await;
                rx.expected.fetch_add(50, Ordering::Relaxed);
                let tenant = &list[i as usize % list.len()];
                let rows: Vec<String> = (0..50u64)
                    .map(|k| payload("a", i * 1000 + k, 1024))
                    .collect();
                let stmt = client.prepare_cached(sql::TENANT_INSERT_BATCH).await?;
                client.execute(&stmt, &[tenant, &rows]).await?;
                anyhow::Ok(50)
            }
        }
    };
    let b = measure_delivered(rx, secs, warmup, || {
        timed(url, 4, warmup, secs + Duration::from_secs(1), fifty)
    })
    .await?;
    drain(&setup, rx).await?;

    let c_rate = (a.delivered / 2.0).max(10.0);
    let c = latency(url, rx, c_rate, secs, tenants).await?;
    drain(&setup, rx).await?;
    let idle = latency(url, rx, IDLE_RATE, secs, tenants).await?;
    let _ = worker.start_kill();
    let _ = worker.wait().await;
    drain(&setup, rx).await?;
    Ok(Figures {
        a: a.delivered,
        b: b.delivered,
        c,
        c_rate,
        idle,
    })
}

/// A fresh `outbound_bench` on every node, the worker nodes added, outbound
/// migrated and distributed; returns its URL on the coordinator.
async fn create_citus_database(nodes: &[String]) -> anyhow::Result<String> {
    for node in nodes {
        let admin = connect(node)
            .await
            .with_context(|| format!("node {node}"))?;
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)"))
            .await?;
        admin
            .batch_execute(&format!("CREATE DATABASE {BENCH_DB}"))
            .await?;
        let db = connect(&crate::store::pool::with_database(node, BENCH_DB)).await?;
        db.batch_execute("CREATE EXTENSION citus")
            .await
            .with_context(|| format!("CREATE EXTENSION citus on {node}"))?;
    }
    let url = crate::store::pool::with_database(&nodes[0], BENCH_DB);
    let coordinator = connect(&url).await?;
    let (host, port) = host_port(&nodes[0])?;
    coordinator
        .execute("SELECT citus_set_coordinator_host($1, $2)", &[&host, &port])
        .await?;
    for node in &nodes[1..] {
        let (host, port) = host_port(node)?;
        coordinator
            .execute("SELECT citus_add_node($1, $2)", &[&host, &port])
            .await
            .with_context(|| format!("citus_add_node for {node}"))?;
    }
    crate::store::migrate::migrate(&url).await?;
    let pool = crate::store::connect_pool(&url, 1)?;
    crate::store::citus::distribute(&pool.get().await?).await?;
    pool.close();
    Ok(url)
}

fn host_port(url: &str) -> anyhow::Result<(String, i32)> {
    let cfg: tokio_postgres::Config = url.parse()?;
    let host = match cfg.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        _ => anyhow::bail!("{url}: a TCP host is needed"),
    };
    let port = cfg.get_ports().first().copied().unwrap_or(5432);
    Ok((host, i32::from(port)))
}
