//! The event and attempt log: pages and single records.

use chrono::{DateTime, Utc};

use super::{id, ids, queries, strs, GenericClient, StoreError};
use crate::destinations::kind::DestinationKind;
use crate::domain::ids::{DestinationId, EventId, TenantId};

/// Time bounds of a list (`time[gte|lte|gt|lt]`).
#[derive(Debug, Clone, Default)]
pub struct TimeRange {
    pub gte: Option<DateTime<Utc>>,
    pub lte: Option<DateTime<Utc>>,
    pub gt: Option<DateTime<Utc>>,
    pub lt: Option<DateTime<Utc>>,
}

/// A position in a list ordered by (time, id).
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub time: DateTime<Utc>,
    pub id: String,
}

#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub tenants: Option<Vec<TenantId>>,
    pub ids: Option<Vec<EventId>>,
    pub topics: Option<Vec<String>>,
    pub destinations: Option<Vec<DestinationId>>,
    pub time: TimeRange,
}

#[derive(Debug, Clone)]
pub struct EventRow {
    pub id: EventId,
    pub tenant_id: TenantId,
    pub topic: String,
    pub time: DateTime<Utc>,
    pub metadata: serde_json::Value,
    pub data: String,
    pub eligible_for_retry: bool,
    pub matched_destination_ids: Vec<DestinationId>,
}

fn event_row(r: &tokio_postgres::Row) -> Result<EventRow, StoreError> {
    Ok(EventRow {
        id: id(r, "id")?,
        tenant_id: id(r, "tenant_id")?,
        topic: r.try_get("topic")?,
        time: r.try_get("time")?,
        metadata: r.try_get("metadata")?,
        data: r.try_get("data")?,
        eligible_for_retry: r.try_get("eligible_for_retry")?,
        matched_destination_ids: ids(r, "matched_destination_ids")?,
    })
}

pub async fn list_events(
    client: &impl GenericClient,
    f: &EventFilter,
    descending: bool,
    after: Option<&Key>,
    limit: i64,
) -> Result<Vec<EventRow>, StoreError> {
    let sql = if descending {
        queries::EVENTS_LIST_DESC
    } else {
        queries::EVENTS_LIST_ASC
    };
    let stmt = client.prepare_cached(sql).await?;
    let (tenants, tenant) = one_tenant(&f.tenants);
    let event_ids = f.ids.as_deref().map(strs);
    let destinations = f.destinations.as_deref().map(strs);
    let rows = client
        .query(
            &stmt,
            &[
                &tenants,
                &event_ids,
                &f.topics,
                &destinations,
                &f.time.gte,
                &f.time.lte,
                &f.time.gt,
                &f.time.lt,
                &after.map(|k| k.time),
                &after.map(|k| k.id.as_str()),
                &limit,
                &tenant,
            ],
        )
        .await?;
    rows.iter().map(event_row).collect()
}

pub async fn get_event(
    client: &impl GenericClient,
    event_id: &EventId,
    tenants: Option<&[TenantId]>,
) -> Result<EventRow, StoreError> {
    let stmt = client.prepare_cached(queries::EVENTS_GET).await?;
    let tenants: Option<Vec<&str>> = tenants.map(strs);
    let row = client
        .query_opt(&stmt, &[&event_id.as_str(), &tenants])
        .await?
        .ok_or(StoreError::NotFound("event"))?;
    event_row(&row)
}

#[derive(Debug, Clone, Default)]
pub struct AttemptFilter {
    pub tenants: Option<Vec<TenantId>>,
    pub event_ids: Option<Vec<EventId>>,
    pub destination_ids: Option<Vec<DestinationId>>,
    pub destination_types: Option<Vec<DestinationKind>>,
    pub status: Option<String>,
    pub topics: Option<Vec<String>>,
    pub time: TimeRange,
}

#[derive(Debug, Clone)]
pub struct AttemptRow {
    pub id: i64,
    pub tenant_id: TenantId,
    pub event_id: EventId,
    pub destination_id: DestinationId,
    pub attempt_number: i32,
    pub manual: bool,
    pub status: String,
    pub code: String,
    pub response_status: Option<i32>,
    pub response_headers: Option<String>,
    pub response_body: Option<String>,
    pub duration_ms: i32,
    pub time: DateTime<Utc>,
    /// None when the event has expired.
    pub event: Option<EventRow>,
}

fn attempt_row(r: &tokio_postgres::Row) -> Result<AttemptRow, StoreError> {
    let tenant_id: TenantId = id(r, "tenant_id")?;
    let event_id: EventId = id(r, "event_id")?;
    let event = match r.try_get::<_, Option<String>>("topic")? {
        None => None,
        Some(topic) => Some(EventRow {
            id: event_id.clone(),
            tenant_id: tenant_id.clone(),
            topic,
            time: r.try_get("event_time")?,
            metadata: r.try_get("event_metadata")?,
            data: r.try_get("event_data")?,
            eligible_for_retry: r.try_get("eligible_for_retry")?,
            matched_destination_ids: Vec::new(),
        }),
    };
    Ok(AttemptRow {
        id: r.try_get("id")?,
        tenant_id,
        event_id,
        destination_id: id(r, "destination_id")?,
        attempt_number: r.try_get("attempt_number")?,
        manual: r.try_get("manual")?,
        status: r.try_get("status")?,
        code: r.try_get("code")?,
        response_status: r.try_get("response_status")?,
        response_headers: r.try_get("response_headers")?,
        response_body: r.try_get("response_body")?,
        duration_ms: r.try_get("duration_ms")?,
        time: r.try_get("time")?,
        event,
    })
}

pub async fn list_attempts(
    client: &impl GenericClient,
    f: &AttemptFilter,
    descending: bool,
    after: Option<&Key>,
    limit: i64,
) -> Result<Vec<AttemptRow>, StoreError> {
    let sql = if descending {
        queries::ATTEMPTS_LIST_DESC
    } else {
        queries::ATTEMPTS_LIST_ASC
    };
    let stmt = client.prepare_cached(sql).await?;
    let after_id: Option<i64> = match after {
        Some(k) => Some(k.id.parse().map_err(|_| StoreError::Invalid {
            message: "invalid cursor".into(),
        })?),
        None => None,
    };
    let (tenants, tenant) = one_tenant(&f.tenants);
    let event_ids = f.event_ids.as_deref().map(strs);
    let destination_ids = f.destination_ids.as_deref().map(strs);
    let kinds = f.destination_types.as_deref().map(strs);
    let rows = client
        .query(
            &stmt,
            &[
                &tenants,
                &event_ids,
                &destination_ids,
                &f.status,
                &f.topics,
                &f.time.gte,
                &f.time.lte,
                &f.time.gt,
                &f.time.lt,
                &after.map(|k| k.time),
                &after_id,
                &limit,
                &kinds,
                &tenant,
            ],
        )
        .await?;
    rows.iter().map(attempt_row).collect()
}

pub async fn get_attempt(client: &impl GenericClient, id: i64) -> Result<AttemptRow, StoreError> {
    let stmt = client.prepare_cached(queries::ATTEMPTS_GET).await?;
    let row = client
        .query_opt(&stmt, &[&id])
        .await?
        .ok_or(StoreError::NotFound("attempt"))?;
    attempt_row(&row)
}

/// The list queries' two tenant parameters: a single tenant is passed on its
/// own (compared with `=`, so its index walks in order), several as a list.
fn one_tenant(tenants: &Option<Vec<TenantId>>) -> (Option<Vec<&str>>, Option<&str>) {
    match tenants.as_deref() {
        Some([one]) => (None, Some(one.as_str())),
        other => (other.map(strs), None),
    }
}
