//! Wake-ups: a connection that `LISTEN`s on the channel the fan-out trigger
//! notifies, turned into [`Notify`] wake-ups for a worker.
//!
//! It is a connection of its own, not a pooled one: a LISTEN lasts as long
//! as its session, and notifications arrive on the connection's message
//! stream, which this task drives itself.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_postgres::{AsyncMessage, NoTls};
use tokio_util::sync::CancellationToken;

use super::queries;

/// Keeps a connection LISTENing and turns notifications into wake-ups,
/// reconnecting after a failure. After every (re)connect it wakes the
/// worker once: notifications sent while disconnected are lost, and the
/// worker must look at the queue itself.
pub async fn listen(url: String, wake: Arc<Notify>, cancel: CancellationToken) {
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
                    notified.notify_one();
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
            wake.notify_one();
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
