//! What the delivery benchmarks share: a counting receiver, the worker as
//! a process of its own, and measuring what arrives.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

use super::sql;

/// Publishers in A and B hold back while more than this many deliveries are
/// waiting: the figure is then the sustainable end-to-end rate, not how
/// fast a backlog can be piled up.
pub(super) const MAX_BACKLOG: u64 = 5_000;

/// Counts requests and notes when each event id arrived.
#[derive(Default)]
pub(super) struct Receiver {
    pub(super) received: AtomicU64,
    /// Deliveries published so far (events × matching destinations).
    pub(super) expected: AtomicU64,
    pub(super) track: AtomicBool,
    pub(super) arrivals: Mutex<HashMap<String, Instant>>,
}

impl Receiver {
    pub(super) async fn wait_for_room(&self) {
        while self.expected.load(Ordering::Relaxed)
            > self.received.load(Ordering::Relaxed) + MAX_BACKLOG
        {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

pub(super) async fn start_receiver(rx: Arc<Receiver>) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(receive(listener, rx));
    Ok(format!("http://{addr}/hook"))
}

/// The receiver on a thread and runtime of its own, so that the bench's
/// publishers never delay the arrival times it notes.
pub(super) fn start_receiver_apart(rx: Arc<Receiver>) -> anyhow::Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("bench-receiver".into())
        .spawn(move || {
            runtime.block_on(async move {
                if let Ok(listener) = tokio::net::TcpListener::from_std(listener) {
                    receive(listener, rx).await;
                }
            })
        })?;
    Ok(format!("http://{addr}/hook"))
}

/// Answers 200 to every request, noting arrivals (see [`Receiver`]).
async fn receive(listener: tokio::net::TcpListener, rx: Arc<Receiver>) {
    while let Ok((stream, _)) = listener.accept().await {
        let rx = rx.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req: Request<Incoming>| {
                let rx = rx.clone();
                async move {
                    rx.received.fetch_add(1, Ordering::Relaxed);
                    if rx.track.load(Ordering::Relaxed) {
                        if let Some(id) = req.headers().get("x-outpost-event-id") {
                            let id = String::from_utf8_lossy(id.as_bytes()).into_owned();
                            if let Ok(mut a) = rx.arrivals.lock() {
                                a.insert(id, Instant::now());
                            }
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
}

/// `outbound worker` as its own process, as in production.
pub(super) fn spawn_worker(
    url: &str,
    concurrency: usize,
    extra_env: &[(&str, &str)],
) -> anyhow::Result<tokio::process::Child> {
    Ok(tokio::process::Command::new(std::env::current_exe()?)
        .arg("worker")
        .env("DATABASE_URL", url)
        .env("DESTINATIONS_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8")
        .env("DELIVERY_CONCURRENCY", concurrency.to_string())
        .env("AES_ENCRYPTION_SECRET", "bench")
        .env("RUST_LOG", "warn")
        .envs(extra_env.iter().copied())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?)
}

/// The operator key of a bench's `outbound serve`.
pub(super) const API_KEY: &str = "bench-api-key";

/// `outbound serve` (API and worker in one process, as a user runs it) on
/// a free port; returns it with its base URL once it listens.
/// `bin` is the `outbound` binary to run (default: this one), so that a
/// bench can measure another build with the same harness.
pub(super) async fn spawn_serve(
    url: &str,
    bin: Option<&std::path::Path>,
) -> anyhow::Result<(tokio::process::Child, String)> {
    let bin = match bin {
        Some(bin) => bin.to_path_buf(),
        None => std::env::current_exe()?,
    };
    let mut serve = tokio::process::Command::new(bin)
        .arg("serve")
        .env("DATABASE_URL", url)
        .env("API_PORT", "0")
        .env("API_KEY", API_KEY)
        .env("API_JWT_SECRET", "bench")
        .env("AES_ENCRYPTION_SECRET", "bench")
        .env("DESTINATIONS_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = serve
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
    let addr = loop {
        match lines.next_line().await? {
            Some(l) => {
                if let Some(a) = l.strip_prefix("outbound: listening on ") {
                    break a.trim().to_string();
                }
            }
            None => anyhow::bail!("serve exited before listening"),
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((serve, addr))
}

pub(super) struct Throughput {
    pub(super) delivered: f64,
    pub(super) published: f64,
}

/// Runs `publish` (which measures its own rate over `secs` after `warmup`)
/// and counts what the receiver gets over the same window.
pub(super) async fn measure_delivered<F, Fut>(
    rx: &Receiver,
    secs: Duration,
    warmup: Duration,
    publish: F,
) -> anyhow::Result<Throughput>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<f64>>,
{
    let publishing = publish();
    tokio::pin!(publishing);
    let counted = async {
        tokio::time::sleep(warmup).await;
        let start = (rx.received.load(Ordering::Relaxed), Instant::now());
        tokio::time::sleep(secs).await;
        let n = rx.received.load(Ordering::Relaxed) - start.0;
        n as f64 / start.1.elapsed().as_secs_f64()
    };
    let (published, delivered) = tokio::join!(publishing, counted);
    Ok(Throughput {
        delivered,
        published: published?,
    })
}

/// Waits for the queue to empty, then clears events between phases.
pub(super) async fn drain(client: &tokio_postgres::Client, rx: &Receiver) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let n: i64 = client.query_one(sql::QUEUE_LENGTH, &[]).await?.get(0);
        if n == 0 || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    client.batch_execute(sql::EMPTY).await?;
    rx.expected
        .store(rx.received.load(Ordering::Relaxed), Ordering::Relaxed);
    Ok(())
}

pub(super) fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
