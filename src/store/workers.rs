//! Worker registration: the idle flag publishers read, and the heartbeat.

use super::{queries, GenericClient, StoreError};

/// Registers the worker or updates its idle flag (and heartbeat).
pub async fn upsert(
    client: &impl GenericClient,
    id: &str,
    idle: bool,
    hostname: &str,
    pid: i32,
) -> Result<(), StoreError> {
    let stmt = client.prepare_cached(queries::WORKERS_UPSERT).await?;
    client
        .execute(&stmt, &[&id, &idle, &hostname, &pid])
        .await?;
    Ok(())
}

pub async fn deregister(client: &impl GenericClient, id: &str) -> Result<(), StoreError> {
    client.execute(queries::WORKERS_DEREGISTER, &[&id]).await?;
    Ok(())
}
