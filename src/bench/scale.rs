//! `outbound bench delivery --workers 1,2,4`: delivered webhooks/s with 1, 2
//! and 4 `outbound worker` processes on one database — what starting more
//! worker processes buys on this machine.
//!
//! Each row: N fresh worker processes, 50-event INSERT statements flat out
//! (held back while the backlog exceeds [`super::harness::MAX_BACKLOG`]),
//! 3 of 10 destinations matching, the receiver's count over the window.
//! The per-destination cap is raised to what N workers can hold in flight,
//! so the cap (a fairness rule) is not what the row measures.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::harness::{drain, measure_delivered, spawn_worker, Receiver};
use super::sql;
use super::support::{payload, timed};

/// One row per worker count: (workers, delivered/s, events published/s).
pub(super) async fn rows(
    url: &str,
    setup: &tokio_postgres::Client,
    rx: &Arc<Receiver>,
    counts: &[usize],
    concurrency: usize,
    secs: Duration,
    warmup: Duration,
) -> anyhow::Result<Vec<(usize, f64, f64)>> {
    setup.batch_execute(sql::ALL_TEN).await?;
    let mut rows = Vec::new();
    for &n in counts {
        let cap = (concurrency * n).to_string();
        let mut workers = Vec::with_capacity(n);
        for _ in 0..n {
            workers.push(spawn_worker(
                url,
                concurrency,
                &[("DELIVERY_DESTINATION_CONCURRENCY", cap.as_str())],
            )?);
        }
        let gate = rx.clone();
        let publish = move |client: Arc<deadpool_postgres::Object>, i: u64| {
            let rx = gate.clone();
            async move {
                rx.wait_for_room().await;
                rx.expected.fetch_add(50 * 3, Ordering::Relaxed);
                let stmt = client.prepare_cached(sql::INSERT_BATCH).await?;
                let rows: Vec<String> = (0..50u64)
                    .map(|k| payload("a", i * 1000 + k, 1024))
                    .collect();
                client.execute(&stmt, &[&rows]).await?;
                anyhow::Ok(50)
            }
        };
        let t = measure_delivered(rx, secs, warmup, || {
            timed(url, 4, warmup, secs + Duration::from_secs(1), publish)
        })
        .await?;
        drain(setup, rx).await?;
        for mut w in workers {
            let _ = w.start_kill();
            let _ = w.wait().await;
        }
        rows.push((n, t.delivered, t.published));
    }
    Ok(rows)
}
