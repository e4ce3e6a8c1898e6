//! Shared bench plumbing: a fresh database, connections, timed loops.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio_postgres::{Client, NoTls};

use crate::app::Database;
use crate::config::Settings;

/// A freshly created and migrated database for one bench run.
pub struct BenchDb {
    pub db: Database,
    pub url: String,
    pub server_version: String,
}

const BENCH_DB: &str = "outbound_bench";

impl BenchDb {
    pub async fn create(settings: &Settings) -> anyhow::Result<BenchDb> {
        let bench = Self::create_empty(settings).await?;
        crate::store::migrate::migrate(&bench.url).await?;
        Ok(bench)
    }

    /// A fresh database without the schema (for another build to migrate).
    pub async fn create_empty(settings: &Settings) -> anyhow::Result<BenchDb> {
        let db = Database::open(settings)?;
        let admin = connect(&db.url).await?;
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)"))
            .await?;
        admin
            .batch_execute(&format!("CREATE DATABASE {BENCH_DB}"))
            .await?;
        let server_version: String = admin.query_one("SHOW server_version", &[]).await?.get(0);
        let url = crate::store::pool::with_database(&db.url, BENCH_DB);
        Ok(BenchDb {
            db,
            url,
            server_version,
        })
    }
}

pub async fn connect(url: &str) -> anyhow::Result<Client> {
    let (client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .with_context(|| "connecting to the bench database".to_string())?;
    tokio::spawn(conn);
    Ok(client)
}

/// Runs `work` on `connections` clients concurrently for `duration` (after
/// a short warm-up) and returns units of work per second. `work` returns how
/// many units one call did.
pub async fn timed<F, Fut>(
    url: &str,
    connections: usize,
    warmup: Duration,
    duration: Duration,
    work: F,
) -> anyhow::Result<f64>
where
    F: Fn(Arc<deadpool_postgres::Object>, u64) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = anyhow::Result<u64>> + Send,
{
    let counting = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    let pool = crate::store::connect_pool(url, connections)?;
    for worker in 0..connections {
        let client = Arc::new(pool.get().await?);
        let (counting, stop, done, work) =
            (counting.clone(), stop.clone(), done.clone(), work.clone());
        tasks.spawn(async move {
            let mut i = (worker as u64) << 40;
            while !stop.load(Ordering::Relaxed) {
                let n = work(client.clone(), i).await?;
                i += 1;
                if counting.load(Ordering::Relaxed) {
                    done.fetch_add(n, Ordering::Relaxed);
                }
            }
            anyhow::Ok(())
        });
    }
    tokio::time::sleep(warmup).await;
    counting.store(true, Ordering::Relaxed);
    let start = Instant::now();
    tokio::time::sleep(duration).await;
    counting.store(false, Ordering::Relaxed);
    let elapsed = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64())
}

/// The `p` quantile (0..=1) of `sorted` by nearest rank; NaN when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// A JSON object of about `bytes` bytes, with a `kind` field filters can use.
pub fn payload(kind: &str, seq: u64, bytes: usize) -> String {
    let head = format!(
        r#"{{"kind":"{kind}","seq":{seq},"user":{{"id":"usr_{seq}","email":"u{seq}@example.com"}},"padding":""#
    );
    let pad = bytes.saturating_sub(head.len() + 2);
    format!("{head}{}\"}}", "x".repeat(pad))
}

pub fn machine_summary() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0 / 1024.0)
        .unwrap_or(0.0);
    format!("{cores} cores, {mem_gib:.0} GiB")
}
