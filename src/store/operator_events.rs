//! The operator-event outbox: inserted in the transaction of the change
//! that causes each event, claimed and leased by the workers' operator-event
//! sender, deleted once delivered (see V11).

use chrono::{DateTime, Utc};

use super::deliveries::AttemptRecord;
use super::{queries, GenericClient, StoreError};
use crate::domain::ids::{DestinationId, EventId, TenantId};

/// One alert to insert: the destination, the attempt that caused it, and
/// what to add to `data`.
#[derive(Debug, Clone)]
pub struct NewAlert {
    pub topic: &'static str,
    pub tenant_id: TenantId,
    pub destination_id: DestinationId,
    pub event_id: EventId,
    pub attempt_number: i32,
    pub extra: serde_json::Value,
}

/// Inserts consecutive-failure and disabled alerts (payloads built from
/// the tables by `alert.sql`).
pub async fn insert_alerts(
    client: &impl GenericClient,
    alerts: &[NewAlert],
    now: Option<DateTime<Utc>>,
    group: Option<&[TenantId]>,
) -> Result<u64, StoreError> {
    let now = now.unwrap_or_else(Utc::now);
    let route = super::for_group(queries::OPERATOR_EVENTS_ALERT, group);
    let stmt = client.prepare_cached(route.sql).await?;
    let topics: Vec<&str> = alerts.iter().map(|a| a.topic).collect();
    let destinations: Vec<&str> = alerts.iter().map(|a| a.destination_id.as_str()).collect();
    let events: Vec<&str> = alerts.iter().map(|a| a.event_id.as_str()).collect();
    let numbers: Vec<i32> = alerts.iter().map(|a| a.attempt_number).collect();
    let extra: Vec<&serde_json::Value> = alerts.iter().map(|a| &a.extra).collect();
    let tenants: Vec<&str> = alerts.iter().map(|a| a.tenant_id.as_str()).collect();
    Ok(client
        .execute(
            &stmt,
            &route.params(&[
                &topics,
                &destinations,
                &events,
                &numbers,
                &extra,
                &now,
                &tenants,
            ]),
        )
        .await?)
}

/// Inserts `alert.attempt.exhausted_retries` for those of the given
/// (tenant, destination, event, attempt) whose destination had none within
/// the window.
pub async fn insert_exhausted(
    client: &impl GenericClient,
    last_attempts: &[(&TenantId, &DestinationId, &EventId, i32)],
    window_ms: i64,
    now: Option<DateTime<Utc>>,
    group: Option<&[TenantId]>,
) -> Result<u64, StoreError> {
    let now = now.unwrap_or_else(Utc::now);
    let route = super::for_group(queries::OPERATOR_EVENTS_EXHAUSTED_RETRIES, group);
    let stmt = client.prepare_cached(route.sql).await?;
    let tenants: Vec<&str> = last_attempts.iter().map(|a| a.0.as_str()).collect();
    let destinations: Vec<&str> = last_attempts.iter().map(|a| a.1.as_str()).collect();
    let events: Vec<&str> = last_attempts.iter().map(|a| a.2.as_str()).collect();
    let numbers: Vec<i32> = last_attempts.iter().map(|a| a.3).collect();
    Ok(client
        .execute(
            &stmt,
            &route.params(&[&destinations, &events, &numbers, &window_ms, &now, &tenants]),
        )
        .await?)
}

/// Inserts attempt.success / attempt.failed for these recorded attempts,
/// one each, their payloads built from the tables by `attempts.sql`.
pub async fn insert_attempts(
    client: &impl GenericClient,
    attempts: &[&AttemptRecord],
    now: Option<DateTime<Utc>>,
    group: Option<&[TenantId]>,
) -> Result<u64, StoreError> {
    let now = now.unwrap_or_else(Utc::now);
    let route = super::for_group(queries::OPERATOR_EVENTS_ATTEMPTS, group);
    let stmt = client.prepare_cached(route.sql).await?;
    let tenants: Vec<&str> = attempts.iter().map(|a| a.tenant_id.as_str()).collect();
    let events: Vec<&str> = attempts.iter().map(|a| a.event_id.as_str()).collect();
    let destinations: Vec<&str> = attempts.iter().map(|a| a.destination_id.as_str()).collect();
    let numbers: Vec<i32> = attempts.iter().map(|a| a.attempt_number).collect();
    let times: Vec<DateTime<Utc>> = attempts.iter().map(|a| a.attempted_at).collect();
    let event_times: Vec<DateTime<Utc>> = attempts.iter().map(|a| a.event_time).collect();
    Ok(client
        .execute(
            &stmt,
            &route.params(&[
                &tenants,
                &events,
                &destinations,
                &numbers,
                &times,
                &event_times,
                &now,
            ]),
        )
        .await?)
}

/// A tenant's subscription as tenant.subscription.updated compares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub topics: Vec<String>,
    pub destinations_count: i32,
}

pub async fn subscription(
    client: &impl GenericClient,
    tenant: &TenantId,
) -> Result<Subscription, StoreError> {
    let stmt = client
        .prepare_cached(queries::OPERATOR_EVENTS_SUBSCRIPTION)
        .await?;
    let row = client.query_one(&stmt, &[&tenant.as_str()]).await?;
    Ok(Subscription {
        topics: row.try_get("topics")?,
        destinations_count: row.try_get("destinations_count")?,
    })
}

/// Inserts tenant.subscription.updated if the subscription is no longer
/// `before`; true when it did.
pub async fn insert_subscription_updated(
    client: &impl GenericClient,
    tenant: &TenantId,
    before: &Subscription,
    now: Option<DateTime<Utc>>,
) -> Result<bool, StoreError> {
    let now = now.unwrap_or_else(Utc::now);
    let stmt = client
        .prepare_cached(queries::OPERATOR_EVENTS_SUBSCRIPTION_UPDATED)
        .await?;
    let rows = client
        .query(
            &stmt,
            &[
                &tenant.as_str(),
                &before.topics,
                &before.destinations_count,
                &now,
            ],
        )
        .await?;
    Ok(!rows.is_empty())
}

/// An operator event claimed for sending.
#[derive(Debug, Clone)]
pub struct ClaimedOperatorEvent {
    pub id: String,
    pub topic: String,
    pub time: DateTime<Utc>,
    pub tenant_id: String,
    pub data: serde_json::Value,
    /// Tries so far, this one included.
    pub attempts: i32,
}

pub async fn claim(
    client: &impl GenericClient,
    now: Option<DateTime<Utc>>,
    limit: i64,
    worker_id: &str,
    lease_ms: i64,
    tenants: Option<&[TenantId]>,
) -> Result<Vec<ClaimedOperatorEvent>, StoreError> {
    let now = now.unwrap_or_else(Utc::now);
    let route = super::for_group(queries::OPERATOR_EVENTS_CLAIM, tenants);
    let stmt = client.prepare_cached(route.sql).await?;
    let rows = client
        .query(&stmt, &route.params(&[&now, &limit, &worker_id, &lease_ms]))
        .await?;
    rows.iter()
        .map(|r| {
            Ok(ClaimedOperatorEvent {
                id: r.try_get("id")?,
                topic: r.try_get("topic")?,
                time: r.try_get("time")?,
                tenant_id: r.try_get("tenant_id")?,
                data: r.try_get("data")?,
                attempts: r.try_get("attempts")?,
            })
        })
        .collect()
}

/// Deletes delivered (or abandoned) operator events this worker holds.
pub async fn delete(
    client: &impl GenericClient,
    events: &[ClaimedOperatorEvent],
    worker_id: &str,
) -> Result<u64, StoreError> {
    let stmt = client
        .prepare_cached(queries::OPERATOR_EVENTS_DELETE)
        .await?;
    let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
    let tenants: Vec<&str> = events.iter().map(|e| e.tenant_id.as_str()).collect();
    Ok(client.execute(&stmt, &[&ids, &worker_id, &tenants]).await?)
}

/// Puts an operator event back to wait until `next`.
pub async fn reschedule(
    client: &impl GenericClient,
    event: &ClaimedOperatorEvent,
    worker_id: &str,
    next: DateTime<Utc>,
    error: &str,
) -> Result<u64, StoreError> {
    let stmt = client
        .prepare_cached(queries::OPERATOR_EVENTS_RESCHEDULE)
        .await?;
    Ok(client
        .execute(
            &stmt,
            &[&event.id, &worker_id, &next, &error, &event.tenant_id],
        )
        .await?)
}
