//! The event and attempt log: pages and single records.

use chrono::{DateTime, Utc};

use super::{queries, GenericClient, StoreError};

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
    pub tenants: Option<Vec<String>>,
    pub ids: Option<Vec<String>>,
    pub topics: Option<Vec<String>>,
    pub destinations: Option<Vec<String>>,
    pub time: TimeRange,
}

#[derive(Debug, Clone)]
pub struct EventRow {
    pub id: String,
    pub tenant_id: String,
    pub topic: String,
    pub time: DateTime<Utc>,
    pub metadata: serde_json::Value,
    pub data: String,
    pub eligible_for_retry: bool,
    pub matched_destination_ids: Vec<String>,
}

fn event_row(r: &tokio_postgres::Row) -> EventRow {
    EventRow {
        id: r.get("id"),
        tenant_id: r.get("tenant_id"),
        topic: r.get("topic"),
        time: r.get("time"),
        metadata: r.get("metadata"),
        data: r.get("data"),
        eligible_for_retry: r.get("eligible_for_retry"),
        matched_destination_ids: r.get("matched_destination_ids"),
    }
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
    let rows = client
        .query(
            &stmt,
            &[
                &tenants,
                &f.ids,
                &f.topics,
                &f.destinations,
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
    Ok(rows.iter().map(event_row).collect())
}

pub async fn get_event(client: &impl GenericClient, id: &str) -> Result<EventRow, StoreError> {
    let stmt = client.prepare_cached(queries::EVENTS_GET).await?;
    let row = client
        .query_opt(&stmt, &[&id])
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(event_row(&row))
}

#[derive(Debug, Clone, Default)]
pub struct AttemptFilter {
    pub tenants: Option<Vec<String>>,
    pub event_ids: Option<Vec<String>>,
    pub destination_ids: Option<Vec<String>>,
    pub destination_types: Option<Vec<String>>,
    pub status: Option<String>,
    pub topics: Option<Vec<String>>,
    pub time: TimeRange,
}

#[derive(Debug, Clone)]
pub struct AttemptRow {
    pub id: i64,
    pub tenant_id: String,
    pub event_id: String,
    pub destination_id: String,
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

fn attempt_row(r: &tokio_postgres::Row) -> AttemptRow {
    let topic: Option<String> = r.get("topic");
    AttemptRow {
        id: r.get("id"),
        tenant_id: r.get("tenant_id"),
        event_id: r.get("event_id"),
        destination_id: r.get("destination_id"),
        attempt_number: r.get("attempt_number"),
        manual: r.get("manual"),
        status: r.get("status"),
        code: r.get("code"),
        response_status: r.get("response_status"),
        response_headers: r.get("response_headers"),
        response_body: r.get("response_body"),
        duration_ms: r.get("duration_ms"),
        time: r.get("time"),
        event: topic.map(|topic| EventRow {
            id: r.get("event_id"),
            tenant_id: r.get("tenant_id"),
            topic,
            time: r.get("event_time"),
            metadata: r.get("event_metadata"),
            data: r.get("event_data"),
            eligible_for_retry: r.get("eligible_for_retry"),
            matched_destination_ids: Vec::new(),
        }),
    }
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
    let rows = client
        .query(
            &stmt,
            &[
                &tenants,
                &f.event_ids,
                &f.destination_ids,
                &f.status,
                &f.topics,
                &f.time.gte,
                &f.time.lte,
                &f.time.gt,
                &f.time.lt,
                &after.map(|k| k.time),
                &after_id,
                &limit,
                &f.destination_types,
                &tenant,
            ],
        )
        .await?;
    Ok(rows.iter().map(attempt_row).collect())
}

pub async fn get_attempt(client: &impl GenericClient, id: i64) -> Result<AttemptRow, StoreError> {
    let stmt = client.prepare_cached(queries::ATTEMPTS_GET).await?;
    let row = client
        .query_opt(&stmt, &[&id])
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(attempt_row(&row))
}

/// The list queries' two tenant parameters: a single tenant is passed on its
/// own (compared with `=`, so its index walks in order), several as a list.
fn one_tenant(tenants: &Option<Vec<String>>) -> (Option<&[String]>, Option<&str>) {
    match tenants.as_deref() {
        Some([one]) => (None, Some(one.as_str())),
        other => (other, None),
    }
}
