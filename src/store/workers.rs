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

/// Declares the worker idle, then asks whether anything is due, in one
/// round trip: the two statements are sent together on one connection,
/// each its own transaction, so the question is answered with a snapshot
/// taken after the flag committed. A publisher that committed before it
/// is seen here; one that read the flag after it notifies.
///
/// With `ask_ordered`, the same round trip also asks whether ordered
/// delivery is in use (`deliveries/ordered_in_use.sql`), so that a claim
/// seldom has to ask it on the way to its deliveries.
pub async fn idle_then_any_due(
    client: &impl GenericClient,
    id: &str,
    hostname: &str,
    pid: i32,
    ask_ordered: bool,
) -> Result<(bool, Option<bool>), StoreError> {
    let upsert = client.prepare_cached(queries::WORKERS_UPSERT).await?;
    let due = client.prepare_cached(queries::DELIVERIES_ANY_DUE).await?;
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] = [&id, &true, &hostname, &pid];
    let ordered = async {
        match ask_ordered {
            true => super::deliveries::ordered_in_use(client).await.map(Some),
            false => Ok(None),
        }
    };
    let (set, due, ordered) = tokio::join!(
        client.execute(&upsert, &params),
        client.query_one(&due, &[]),
        ordered,
    );
    set?;
    Ok((due?.get(0), ordered?))
}

/// Whether anything is due (see `deliveries/any_due.sql`), and with
/// `ask_ordered` whether ordered delivery is in use, in one round trip.
pub async fn any_due(
    client: &impl GenericClient,
    ask_ordered: bool,
) -> Result<(bool, Option<bool>), StoreError> {
    let due = client.prepare_cached(queries::DELIVERIES_ANY_DUE).await?;
    let ordered = async {
        match ask_ordered {
            true => super::deliveries::ordered_in_use(client).await.map(Some),
            false => Ok(None),
        }
    };
    let (due, ordered) = tokio::join!(client.query_one(&due, &[]), ordered);
    Ok((due?.get(0), ordered?))
}

pub async fn deregister(client: &impl GenericClient, id: &str) -> Result<(), StoreError> {
    client.execute(queries::WORKERS_DEREGISTER, &[&id]).await?;
    Ok(())
}
