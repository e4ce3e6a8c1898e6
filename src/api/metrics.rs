//! `GET /metrics/events` and `/metrics/attempts`: counts over time buckets,
//! grouped by the dimensions asked for, with Outpost's measures.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

use super::auth::Principal;
use super::error::ApiError;
use super::extract::Db;
use super::query::QueryMap;
use super::AppState;
use crate::domain::ids::{DestinationId, TenantId};
use crate::store::metrics::{self, AttemptMetricFilter, Buckets};

const ROW_LIMIT: i64 = 100_000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/metrics/events", get(events))
        .route("/metrics/attempts", get(attempts))
}

struct Common {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    granularity: Option<String>,
    buckets: Buckets,
    measures: Vec<String>,
    dimensions: Vec<String>,
    tenants: Option<Vec<TenantId>>,
}

fn parse_granularity(g: &str) -> Result<Buckets, ApiError> {
    let bad =
        || ApiError::bad_request("granularity must look like 1h: a number then s, m, h, d, w or M");
    let unit = g.chars().last().ok_or_else(bad)?;
    let n: u64 = g[..g.len() - unit.len_utf8()].parse().map_err(|_| bad())?;
    let (max, secs) = match unit {
        's' => (60, 1),
        'm' => (60, 60),
        'h' => (24, 3600),
        'd' => (31, 86_400),
        'w' => (4, 604_800),
        'M' if n == 1 => return Ok(Buckets::Month),
        'M' => {
            return Err(ApiError::bad_request(
                "monthly granularity supports 1M only",
            ))
        }
        _ => return Err(bad()),
    };
    if n == 0 || n > max {
        return Err(bad());
    }
    Ok(Buckets::Every(Duration::from_secs(n * secs)))
}

fn common(
    principal: &Principal,
    q: &QueryMap,
    allowed_measures: &[&str],
    allowed_dimensions: &[&str],
) -> Result<Common, ApiError> {
    let time = |k: &str| -> Result<DateTime<Utc>, ApiError> {
        let v = q
            .one(&format!("time[{k}]"))
            .ok_or_else(|| ApiError::bad_request(format!("time[{k}] is required")))?;
        DateTime::parse_from_rfc3339(v)
            .map(|t| t.to_utc())
            .map_err(|_| ApiError::bad_request(format!("time[{k}] must be an RFC 3339 date-time")))
    };
    let (start, end) = (time("start")?, time("end")?);
    if end <= start {
        return Err(ApiError::bad_request("time[end] must be after time[start]"));
    }
    let granularity = q.one("granularity").map(String::from);
    let buckets = granularity
        .as_deref()
        .map(parse_granularity)
        .transpose()?
        .unwrap_or(Buckets::None);
    let measures = q.list("measures").unwrap_or_default();
    if measures.is_empty() {
        return Err(ApiError::bad_request("at least one measure is required"));
    }
    for m in &measures {
        if !allowed_measures.contains(&m.as_str()) {
            return Err(ApiError::bad_request(format!("unknown measure {m:?}")));
        }
    }
    let dimensions = q.list("dimensions").unwrap_or_default();
    for d in &dimensions {
        if !allowed_dimensions.contains(&d.as_str()) {
            return Err(ApiError::bad_request(format!("unknown dimension {d:?}")));
        }
    }
    let tenant_filter: Option<Vec<TenantId>> = q.parsed("filters[tenant_id]");
    let tenants = match principal {
        Principal::Admin => tenant_filter,
        Principal::Tenant(t) => {
            if tenant_filter.is_some() || dimensions.iter().any(|d| d == "tenant_id") {
                return Err(ApiError::forbidden());
            }
            Some(vec![t.clone()])
        }
    };
    Ok(Common {
        start,
        end,
        granularity,
        buckets,
        measures,
        dimensions,
        tenants,
    })
}

/// Seconds each bucket spans (for rates).
fn bucket_seconds(c: &Common, bucket: Option<DateTime<Utc>>) -> f64 {
    match (c.buckets, bucket) {
        (Buckets::Every(d), _) => d.as_secs_f64(),
        (Buckets::Month, Some(b)) => {
            let next = b.checked_add_months(chrono::Months::new(1)).unwrap_or(b);
            (next - b).num_seconds().max(1) as f64
        }
        _ => (c.end - c.start).num_seconds().max(1) as f64,
    }
}

fn respond(c: &Common, data: Vec<Value>, started: Instant, truncated: bool) -> Json<Value> {
    let rows = data.len();
    Json(json!({
        "data": data,
        "metadata": {
            "granularity": c.granularity,
            "query_time_ms": started.elapsed().as_millis() as u64,
            "row_count": rows,
            "row_limit": ROW_LIMIT,
            "truncated": truncated,
        }
    }))
}

fn bucket_json(b: Option<DateTime<Utc>>) -> Value {
    b.map(|t| Value::String(t.to_rfc3339_opts(SecondsFormat::Secs, true)))
        .unwrap_or(Value::Null)
}

async fn events(principal: Principal, Db(db): Db, q: QueryMap) -> Result<Json<Value>, ApiError> {
    let started = Instant::now();
    let c = common(
        &principal,
        &q,
        &["count", "rate"],
        &["tenant_id", "topic", "destination_id"],
    )?;
    let by_destination = c.dimensions.iter().any(|d| d == "destination_id");
    let destination_ids: Option<Vec<DestinationId>> = q.parsed("filters[destination_id]");
    let rows = metrics::events(
        &db,
        c.start,
        c.end,
        c.buckets,
        c.tenants.as_deref(),
        q.list("filters[topic]").as_deref(),
        destination_ids.as_deref(),
        by_destination,
        ROW_LIMIT + 1,
    )
    .await?;
    let truncated = rows.len() as i64 > ROW_LIMIT;
    let mut groups: BTreeMap<(Option<DateTime<Utc>>, Vec<String>), i64> = BTreeMap::new();
    for r in rows.iter().take(ROW_LIMIT as usize) {
        let key: Vec<String> = c
            .dimensions
            .iter()
            .map(|d| match d.as_str() {
                "tenant_id" => r.tenant_id.clone(),
                "topic" => r.topic.clone(),
                _ => r.destination_id.clone(),
            })
            .collect();
        *groups.entry((r.bucket, key)).or_default() += r.n;
    }
    let data = groups
        .into_iter()
        .map(|((bucket, key), n)| {
            let dims: Map<String, Value> = c
                .dimensions
                .iter()
                .cloned()
                .zip(key.into_iter().map(Value::String))
                .collect();
            let mut m = Map::new();
            for measure in &c.measures {
                let v = match measure.as_str() {
                    "count" => json!(n),
                    _ => json!(n as f64 / bucket_seconds(&c, bucket)),
                };
                m.insert(measure.clone(), v);
            }
            json!({ "time_bucket": bucket_json(bucket), "dimensions": dims, "metrics": m })
        })
        .collect();
    Ok(respond(&c, data, started, truncated))
}

#[derive(Default)]
struct Tally {
    count: i64,
    success: i64,
    first: i64,
    retries: i64,
    manual: i64,
    attempt_sum: i64,
}

async fn attempts(principal: Principal, Db(db): Db, q: QueryMap) -> Result<Json<Value>, ApiError> {
    let started = Instant::now();
    let c = common(
        &principal,
        &q,
        &[
            "count",
            "successful_count",
            "failed_count",
            "error_rate",
            "first_attempt_count",
            "retry_count",
            "manual_retry_count",
            "avg_attempt_number",
            "rate",
            "successful_rate",
            "failed_rate",
        ],
        &[
            "tenant_id",
            "destination_id",
            "destination_type",
            "topic",
            "status",
            "code",
            "manual",
            "attempt_number",
        ],
    )?;
    let manual = match q.one("filters[manual]") {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => {
            return Err(ApiError::bad_request(
                "filters[manual] must be true or false",
            ))
        }
    };
    let attempt_numbers = match q.list("filters[attempt_number]") {
        None => None,
        Some(l) => Some(
            l.iter()
                .map(|n| n.parse::<i32>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| ApiError::bad_request("filters[attempt_number] must be integers"))?,
        ),
    };
    let filter = AttemptMetricFilter {
        tenants: c.tenants.clone(),
        destination_ids: q.parsed("filters[destination_id]"),
        destination_types: q.parsed("filters[destination_type]"),
        topics: q.list("filters[topic]"),
        status: q.one("filters[status]").map(String::from),
        codes: q.list("filters[code]"),
        manual,
        attempt_numbers,
    };
    let rows = metrics::attempts(&db, c.start, c.end, c.buckets, &filter, ROW_LIMIT + 1).await?;
    let truncated = rows.len() as i64 > ROW_LIMIT;
    let mut groups: BTreeMap<(Option<DateTime<Utc>>, Vec<String>), Tally> = BTreeMap::new();
    for r in rows.iter().take(ROW_LIMIT as usize) {
        let key: Vec<String> = c
            .dimensions
            .iter()
            .map(|d| match d.as_str() {
                "tenant_id" => r.tenant_id.clone(),
                "destination_id" => r.destination_id.clone(),
                "destination_type" => r.destination_type.clone(),
                "topic" => r.topic.clone(),
                "status" => r.status.clone(),
                "code" => r.code.clone(),
                "manual" => r.manual.to_string(),
                _ => r.attempt_number.to_string(),
            })
            .collect();
        let t = groups.entry((r.bucket, key)).or_default();
        t.count += r.n;
        if r.status == "success" {
            t.success += r.n;
        }
        if r.attempt_number == 1 {
            t.first += r.n;
        }
        if r.manual {
            t.manual += r.n;
        } else if r.attempt_number > 1 {
            t.retries += r.n;
        }
        t.attempt_sum += r.n * i64::from(r.attempt_number);
    }
    let data = groups
        .into_iter()
        .map(|((bucket, key), t)| {
            let dims: Map<String, Value> = c
                .dimensions
                .iter()
                .cloned()
                .zip(key.into_iter().map(Value::String))
                .collect();
            let secs = bucket_seconds(&c, bucket);
            let failed = t.count - t.success;
            let ratio = |a: i64| {
                if t.count == 0 {
                    0.0
                } else {
                    a as f64 / t.count as f64
                }
            };
            let mut m = Map::new();
            for measure in &c.measures {
                let v = match measure.as_str() {
                    "count" => json!(t.count),
                    "successful_count" => json!(t.success),
                    "failed_count" => json!(failed),
                    "error_rate" => json!(ratio(failed)),
                    "first_attempt_count" => json!(t.first),
                    "retry_count" => json!(t.retries),
                    "manual_retry_count" => json!(t.manual),
                    "avg_attempt_number" => json!(ratio(t.attempt_sum)),
                    "rate" => json!(t.count as f64 / secs),
                    "successful_rate" => json!(t.success as f64 / secs),
                    _ => json!(failed as f64 / secs),
                };
                m.insert(measure.clone(), v);
            }
            json!({ "time_bucket": bucket_json(bucket), "dimensions": dims, "metrics": m })
        })
        .collect();
    Ok(respond(&c, data, started, truncated))
}
