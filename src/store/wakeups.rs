//! Wake-ups: a connection that `LISTEN`s on the channel the fan-out trigger
//! notifies, turned into [`Wakeup`] signals for a worker.
//!
//! It is a connection of its own, not a pooled one: a LISTEN lasts as long
//! as its session, and notifications arrive on the connection's message
//! stream, which this task drives itself.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_postgres::{AsyncMessage, NoTls};
use tokio_util::sync::CancellationToken;

use super::queries;

/// Wakes a worker's claim loop: a [`Notify`] that also remembers when the
/// first signal since the loop last looked arrived, so that the time from
/// a wake-up to its claim can be measured (`telemetry::Stage::Claim`).
#[derive(Debug, Default)]
pub struct Wakeup {
    notify: Notify,
    first: Mutex<Option<Instant>>,
}

impl Wakeup {
    /// Something may be due: wake the loop (or its next wait).
    pub fn signal(&self) {
        self.first
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert_with(Instant::now);
        self.notify.notify_one();
    }

    /// Waits for a signal.
    pub async fn notified(&self) {
        self.notify.notified().await
    }

    /// When the first signal since the last call arrived, if one did.
    pub fn take_first(&self) -> Option<Instant> {
        self.first.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// Keeps a connection LISTENing and turns notifications into wake-ups,
/// reconnecting after a failure. After every (re)connect it wakes the
/// worker once: notifications sent while disconnected are lost, and the
/// worker must look at the queue itself.
pub async fn listen(url: String, wake: Arc<Wakeup>, cancel: CancellationToken) {
    let mut backoff = Duration::from_millis(200);
    loop {
        let connected = async {
            let mut config: tokio_postgres::Config = url.parse()?;
            config.connect_timeout(Duration::from_secs(5));
            config.connect(NoTls).await
        };
        let (client, mut conn) = tokio::select! {
            r = connected => match r {
                Ok(pair) => pair,
                Err(err) => {
                    tracing::debug!(error = %err, "LISTEN connection failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = cancel.cancelled() => return,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            },
            _ = cancel.cancelled() => return,
        };
        // Drive the connection ourselves to see its notifications.
        let notified = wake.clone();
        let driver = async move {
            while let Some(Ok(msg)) = std::future::poll_fn(|cx| conn.poll_message(cx)).await {
                if let AsyncMessage::Notification(_) = msg {
                    notified.signal();
                }
            }
        };
        tokio::pin!(driver);
        let subscribed = tokio::select! {
            r = client.batch_execute(queries::WORKERS_LISTEN) => r.is_ok(),
            _ = &mut driver => false,
            _ = cancel.cancelled() => return,
        };
        if subscribed {
            backoff = Duration::from_millis(200);
            wake.signal();
            tokio::select! {
                _ = &mut driver => tracing::debug!("LISTEN connection closed; reconnecting"),
                _ = cancel.cancelled() => return,
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = cancel.cancelled() => return,
        }
    }
}
