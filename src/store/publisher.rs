//! Gathers concurrent publishes into shared statements.
//!
//! Each publish through the API is one event, and an INSERT of one event
//! costs nearly as much as an INSERT of many: the fan-out trigger runs once
//! per statement and the commit waits for its WAL flush either way. So the
//! API hands its events to a [`Publisher`], which runs at most
//! [`IN_FLIGHT`] statements at once. A publish that finds a free slot goes
//! out alone, at once; publishes that arrive while every slot is busy wait
//! for the next free one and then go out together, as one
//! `outbound.publish_batch()` call. Nobody waits longer than one insert, and
//! under load the statements grow by themselves.
//!
//! A batch that Postgres refuses (an unknown tenant, a concurrent publish of
//! the same id) is retried one event at a time, so each caller gets its own
//! event's outcome and one bad event never fails the others. A batch whose
//! connection fails is not retried: it may have committed, and every caller
//! gets the error, as with a single publish.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Semaphore};

use super::events::{self, NewEvent, Published};
use super::{Pool, StoreError};

/// Statements in flight at once.
pub const IN_FLIGHT: usize = 4;
/// Most events in one statement.
pub const MAX_BATCH: usize = 100;

type Reply = oneshot::Sender<Result<Published, StoreError>>;

/// Cheap to clone; clones share the gathering task, which ends when the
/// last clone is dropped.
#[derive(Clone)]
pub struct Publisher {
    tx: mpsc::Sender<(NewEvent, Reply)>,
}

impl Publisher {
    /// Starts the gathering task (needs a Tokio runtime).
    pub fn new(pool: Pool) -> Publisher {
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(gather(pool, rx));
        Publisher { tx }
    }

    /// Publishes one event, sharing a statement with concurrent publishes.
    pub async fn publish(&self, event: NewEvent) -> Result<Published, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((event, reply))
            .await
            .map_err(|_| StoreError::Unavailable("the publisher has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the publish was abandoned".into()))?
    }
}

async fn gather(pool: Pool, mut rx: mpsc::Receiver<(NewEvent, Reply)>) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    while let Some(first) = rx.recv().await {
        // Waiting for a slot is what lets the next batch fill up.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let pool = pool.clone();
        tokio::spawn(async move {
            run(&pool, batch).await;
            drop(slot);
        });
    }
}

async fn run(pool: &Pool, batch: Vec<(NewEvent, Reply)>) {
    let (events, replies): (Vec<NewEvent>, Vec<Reply>) = batch.into_iter().unzip();
    let client = match pool.get().await {
        Ok(c) => c,
        Err(err) => {
            let message = StoreError::from(err).to_string();
            for reply in replies {
                let _ = reply.send(Err(StoreError::Unavailable(message.clone())));
            }
            return;
        }
    };
    if events.len() > 1 {
        match events::publish_batch(&client, &events).await {
            Ok(published) => {
                for (reply, p) in replies.into_iter().zip(published) {
                    let _ = reply.send(Ok(p));
                }
                return;
            }
            Err(StoreError::Unavailable(message)) => {
                // The connection failed: the batch may or may not have
                // committed, so publishing it again could publish twice.
                // Each caller gets the error, as a single publish would.
                for reply in replies {
                    let _ = reply.send(Err(StoreError::Unavailable(message.clone())));
                }
                return;
            }
            Err(err) => {
                // Postgres refused the statement, so nothing of it committed.
                tracing::debug!(error = %err, events = events.len(), "batch refused; publishing one by one");
            }
        }
    }
    for (event, reply) in events.iter().zip(replies) {
        let _ = reply.send(events::publish(&client, event).await);
    }
}
