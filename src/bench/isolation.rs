//! `outbound bench isolation`: does one tenant's bad endpoint delay another
//! tenant's webhooks?
//!
//! Two tenants, one webhook destination each, one `outbound worker`
//! process (DELIVERY_CONCURRENCY send slots). Tenant "noisy" receives
//! `--noisy-rate` events/s at an endpoint that is slow but healthy (200
//! after `--slow-ms`) in the first scenario and never answers (every
//! request runs into DELIVERY_TIMEOUT_SECONDS) in the second; tenant
//! "quiet" receives `--quiet-rate` events/s at a fast endpoint. Events are
//! published by SQL insert, as an application would. Prints the quiet
//! tenant's publish→receive latency percentiles, how many of its events
//! had arrived 3 s after publishing stopped, and what the noisy endpoint
//! got. Auto-disable is off, so the figures are those of the time before
//! it would trip.
//!
//! `--worker-bin` runs another build's worker (an older release, for a
//! before/after in the same run); the scratch database is then migrated by
//! that build.

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

use super::sql;
use super::support::{connect, machine_summary, BenchDb};
use crate::config::Settings;

#[derive(Debug, Args)]
pub struct IsolationArgs {
    /// Seconds of publishing per scenario.
    #[arg(long, default_value_t = 15)]
    pub seconds: u64,
    /// Events per second to the noisy tenant.
    #[arg(long, default_value_t = 100)]
    pub noisy_rate: u64,
    /// Events per second to the quiet tenant.
    #[arg(long, default_value_t = 10)]
    pub quiet_rate: u64,
    /// How long the slow endpoint takes to answer 200, ms.
    #[arg(long, default_value_t = 1500)]
    pub slow_ms: u64,
    /// The worker's send slots (DELIVERY_CONCURRENCY).
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// The `outbound` binary whose worker is measured (default: this one).
    #[arg(long)]
    pub worker_bin: Option<PathBuf>,
}

/// How the noisy endpoint answers.
#[derive(Debug, Clone, Copy)]
enum Noisy {
    Slow(Duration),
    Hang,
}

#[derive(Default)]
struct Endpoint {
    received: AtomicU64,
    arrivals: Mutex<HashMap<String, Instant>>,
}

async fn start_endpoint(ep: Arc<Endpoint>, noisy: Option<Noisy>) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let ep = ep.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    let ep = ep.clone();
                    async move {
                        match noisy {
                            Some(Noisy::Slow(d)) => tokio::time::sleep(d).await,
                            Some(Noisy::Hang) => std::future::pending::<()>().await,
                            None => {}
                        }
                        ep.received.fetch_add(1, Ordering::Relaxed);
                        if let Some(id) = req.headers().get("x-outpost-event-id") {
                            let id = String::from_utf8_lossy(id.as_bytes()).into_owned();
                            if let Ok(mut a) = ep.arrivals.lock() {
                                a.entry(id).or_insert_with(Instant::now);
                            }
                        }
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok(format!("http://{addr}/hook"))
}

pub async fn run(settings: Settings, args: IsolationArgs) -> anyhow::Result<()> {
    let worker_bin = match &args.worker_bin {
        Some(bin) => bin.clone(),
        None => std::env::current_exe()?,
    };
    println!(
        "outbound bench isolation: {}, worker {}, DELIVERY_CONCURRENCY={}, noisy {}/s, quiet {}/s, {} s per scenario",
        machine_summary(),
        worker_bin.display(),
        args.concurrency,
        args.noisy_rate,
        args.quiet_rate,
        args.seconds
    );
    let scenarios = [
        (
            format!("noisy endpoint slow ({} ms, 200)", args.slow_ms),
            Noisy::Slow(Duration::from_millis(args.slow_ms)),
        ),
        (
            "noisy endpoint never answers (5 s timeouts)".to_string(),
            Noisy::Hang,
        ),
    ];
    println!(
        "{:<44} {:>8} {:>8} {:>8} {:>8} {:>14} {:>14}",
        "scenario", "p50 ms", "p90 ms", "p99 ms", "max ms", "quiet by +3 s", "noisy got"
    );
    for (name, noisy) in scenarios {
        scenario(&settings, &args, &worker_bin, &name, noisy).await?;
    }
    Ok(())
}

async fn scenario(
    settings: &Settings,
    args: &IsolationArgs,
    worker_bin: &PathBuf,
    name: &str,
    noisy: Noisy,
) -> anyhow::Result<()> {
    let bench = if args.worker_bin.is_some() {
        let bench = BenchDb::create_empty(settings).await?;
        let status = tokio::process::Command::new(worker_bin)
            .arg("migrate")
            .env("DATABASE_URL", &bench.url)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .status()
            .await?;
        anyhow::ensure!(status.success(), "{} migrate failed", worker_bin.display());
        bench
    } else {
        BenchDb::create(settings).await?
    };
    let db = connect(&bench.url).await?;
    let (noisy_ep, quiet_ep) = (Arc::new(Endpoint::default()), Arc::new(Endpoint::default()));
    let noisy_url = start_endpoint(noisy_ep.clone(), Some(noisy)).await?;
    let quiet_url = start_endpoint(quiet_ep.clone(), None).await?;
    db.execute(sql::ISOLATION_SETUP, &[&noisy_url, &quiet_url])
        .await?;

    let mut worker = tokio::process::Command::new(worker_bin)
        .arg("worker")
        .env("DATABASE_URL", &bench.url)
        .env("AES_ENCRYPTION_SECRET", "bench")
        .env("DELIVERY_CONCURRENCY", args.concurrency.to_string())
        .env("DESTINATIONS_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8")
        .env("ALERT_CONSECUTIVE_FAILURE_COUNT", "0")
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Publish both streams on one schedule, each event its own insert.
    let insert = db.prepare(sql::ISOLATION_PUBLISH).await?;
    let tick = Duration::from_millis(10);
    let per_tick = |rate: u64, n: u64| (rate * (n + 1) * 10 / 1000) - (rate * n * 10 / 1000);
    let mut quiet_sent: Vec<(String, Instant)> = Vec::new();
    let mut noisy_sent = 0u64;
    let start = tokio::time::Instant::now();
    let ticks = args.seconds * 100;
    for n in 0..ticks {
        tokio::time::sleep_until(start + tick * u32::try_from(n).unwrap_or(u32::MAX)).await;
        for _ in 0..per_tick(args.noisy_rate, n) {
            noisy_sent += 1;
            let id = format!("noisy-{noisy_sent}");
            db.execute(&insert, &[&id, &"noisy"]).await?;
        }
        for _ in 0..per_tick(args.quiet_rate, n) {
            let id = format!("quiet-{}", quiet_sent.len());
            db.execute(&insert, &[&id, &"quiet"]).await?;
            quiet_sent.push((id, Instant::now()));
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let arrivals = quiet_ep
        .arrivals
        .lock()
        .map(|a| a.clone())
        .unwrap_or_default();
    // An event that never arrived counts as infinitely late.
    let mut ms: Vec<f64> = quiet_sent
        .iter()
        .map(|(id, t0)| {
            arrivals.get(id).map_or(f64::INFINITY, |t1| {
                t1.saturating_duration_since(*t0).as_secs_f64() * 1000.0
            })
        })
        .collect();
    let arrived = arrivals.len();
    ms.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| super::support::percentile(&ms, p);
    let noisy_got = noisy_ep.received.load(Ordering::Relaxed);
    println!(
        "{:<44} {:>8.0} {:>8.0} {:>8.0} {:>8.0} {:>14} {:>14}",
        name,
        pct(0.5),
        pct(0.9),
        pct(0.99),
        ms.last().copied().unwrap_or(f64::NAN),
        format!("{}/{}", arrived, quiet_sent.len()),
        match noisy {
            Noisy::Slow(_) => format!("{noisy_got}/{noisy_sent}"),
            Noisy::Hang => "(no answers)".to_string(),
        }
    );
    let _ = worker.start_kill();
    let _ = worker.wait().await;
    Ok(())
}
