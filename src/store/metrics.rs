//! Aggregates for the metrics endpoints (counts by bucket and dimension).

use chrono::{DateTime, Utc};

use super::{queries, strs, GenericClient, StoreError};
use crate::destinations::kind::DestinationKind;
use crate::domain::ids::{DestinationId, TenantId};

/// Time bucketing: fixed width, calendar months, or none.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Buckets {
    None,
    Every(std::time::Duration),
    Month,
}

#[derive(Debug, Clone, Default)]
pub struct AttemptMetricFilter {
    pub tenants: Option<Vec<TenantId>>,
    pub destination_ids: Option<Vec<DestinationId>>,
    pub destination_types: Option<Vec<DestinationKind>>,
    pub topics: Option<Vec<String>>,
    pub status: Option<String>,
    pub codes: Option<Vec<String>>,
    pub manual: Option<bool>,
    pub attempt_numbers: Option<Vec<i32>>,
}

/// One group of attempts. The dimension values are labels of the report
/// (grouped and echoed back), so they stay plain strings.
#[derive(Debug, Clone)]
pub struct AttemptCount {
    pub bucket: Option<DateTime<Utc>>,
    pub tenant_id: String,
    pub destination_id: String,
    pub destination_type: String,
    pub topic: String,
    pub status: String,
    pub code: String,
    pub manual: bool,
    pub attempt_number: i32,
    pub n: i64,
}

fn interval(b: Buckets) -> (Option<String>, bool) {
    match b {
        Buckets::None => (None, false),
        Buckets::Month => (None, true),
        Buckets::Every(d) => (Some(format!("{} seconds", d.as_secs())), false),
    }
}

pub async fn attempts(
    client: &impl GenericClient,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    buckets: Buckets,
    f: &AttemptMetricFilter,
    limit: i64,
) -> Result<Vec<AttemptCount>, StoreError> {
    let stmt = client.prepare_cached(queries::METRICS_ATTEMPTS).await?;
    let (width, monthly) = interval(buckets);
    let width = width.as_deref();
    let tenants = f.tenants.as_deref().map(strs);
    let destination_ids = f.destination_ids.as_deref().map(strs);
    let kinds = f.destination_types.as_deref().map(strs);
    let rows = client
        .query(
            &stmt,
            &[
                &start,
                &end,
                &width,
                &monthly,
                &tenants,
                &destination_ids,
                &kinds,
                &f.topics,
                &f.status,
                &f.codes,
                &f.manual,
                &f.attempt_numbers,
                &limit,
            ],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| AttemptCount {
            bucket: r.get(0),
            tenant_id: r.get(1),
            destination_id: r.get(2),
            destination_type: r.get(3),
            topic: r.get(4),
            status: r.get(5),
            code: r.get(6),
            manual: r.get(7),
            attempt_number: r.get(8),
            n: r.get(9),
        })
        .collect())
}

#[derive(Debug, Clone)]
pub struct EventCount {
    pub bucket: Option<DateTime<Utc>>,
    pub tenant_id: String,
    pub topic: String,
    pub destination_id: String,
    pub n: i64,
}

#[allow(clippy::too_many_arguments)]
pub async fn events(
    client: &impl GenericClient,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    buckets: Buckets,
    tenants: Option<&[TenantId]>,
    topics: Option<&[String]>,
    destination_ids: Option<&[DestinationId]>,
    by_destination: bool,
    limit: i64,
) -> Result<Vec<EventCount>, StoreError> {
    let stmt = client.prepare_cached(queries::METRICS_EVENTS).await?;
    let (width, monthly) = interval(buckets);
    let width = width.as_deref();
    let tenants = tenants.map(strs);
    let destination_ids = destination_ids.map(strs);
    let rows = client
        .query(
            &stmt,
            &[
                &start,
                &end,
                &width,
                &monthly,
                &tenants,
                &topics,
                &destination_ids,
                &by_destination,
                &limit,
            ],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| EventCount {
            bucket: r.get(0),
            tenant_id: r.get(1),
            topic: r.get(2),
            destination_id: r.get(3),
            n: r.get(4),
        })
        .collect())
}
