//! The HTTP server: hyper's HTTP/1.1 connections, driven under the limits
//! an endpoint on a network needs, which `axum::serve` does not set:
//!
//! - **A header-read timeout** (`API_HEADER_READ_TIMEOUT_SECONDS`): a
//!   connection that does not finish sending a request's headers in time
//!   (including an idle keep-alive connection) is closed. Without it a
//!   client that never finishes its headers holds a connection forever,
//!   without even authenticating, and enough of them exhaust the process's
//!   file descriptors.
//! - **A cap on connections** (`API_MAX_CONNECTIONS`): past it, new
//!   connections wait in the kernel's accept queue until one closes, instead
//!   of the process running out of descriptors and failing everything,
//!   `/healthz` included.
//! - **Graceful shutdown**: on cancel, stop accepting, let requests in
//!   flight finish (up to a bound), close idle connections.
//!
//! The body-read timeout and the refusal of an over-long declared
//! `Content-Length` (413, before reading) are per request, in the router
//! (`api::extract`, `api::router`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// How long requests in flight may take to finish after shutdown starts.
const DRAIN: Duration = Duration::from_secs(10);

/// The connection-level limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub max_connections: usize,
}

/// Serves `router` on `listener` until `cancel` fires.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    cancel: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    loop {
        // A free slot first: while all are taken, connections queue in the
        // kernel rather than each costing a descriptor here.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            _ = cancel.cancelled() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    accept_failed(&err).await;
                    continue;
                }
            },
            _ = cancel.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                log_connection_error(peer, &err);
            }
            drop(slot);
        });
    }
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still running after {DRAIN:?}; closing their connections");
    }
}

/// An accept that failed: out of descriptors (another part of the process
/// holds them), or a connection reset before it was accepted. Waiting a
/// moment keeps a persistent error from spinning.
async fn accept_failed(err: &std::io::Error) {
    tracing::warn!(error = %err, "accepting a connection failed");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// A client that went away, was too slow or spoke nonsense is its own
/// business: debug level only.
fn log_connection_error(peer: SocketAddr, err: &hyper::Error) {
    tracing::debug!(%peer, error = %err, "connection ended with an error");
}
