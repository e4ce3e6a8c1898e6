//! Replays (an extension to Outpost's API): re-queue the events of a time
//! range for one destination or every destination of a tenant they were
//! sent to, follow the replay's progress, cancel it.
//!
//! The work runs in the database, in steps the workers drive
//! (`delivery::replays`); these routes start, read and cancel it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Principal;
use super::error::{ApiError, Problems};
use super::extract::{Body, Db, TenantScope};
use super::query::QueryMap;
use super::tenants::ensure_tenant;
use super::AppState;
use crate::domain::ids::{DestinationId, ReplayId};
use crate::domain::replay::{NewReplay, Replay, ReplayState};
use crate::store::replays as store;

/// Replays a list answers when no `limit` is given, and at most.
const LIST_DEFAULT: i64 = 20;
const LIST_MOST: i64 = 100;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tenants/{tenant_id}/replays", get(list).post(create))
        .route("/tenants/{tenant_id}/replays/{replay_id}", get(show))
        .route(
            "/tenants/{tenant_id}/replays/{replay_id}/cancel",
            post(cancel),
        )
}

/// `POST /tenants/{tenant_id}/replays`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateReplay {
    start: Option<String>,
    end: Option<String>,
    destination_id: Option<String>,
    failed_only: Option<bool>,
    topics: Option<Vec<String>>,
}

impl CreateReplay {
    /// The replay asked for; 422 naming every bad field. What needs the
    /// database (the retention, the destination) is the database's check.
    fn check(self, state: &AppState, s: &TenantScope) -> Result<NewReplay, ApiError> {
        let mut problems = Problems::default();
        let time = |field: &str, v: &str, problems: &mut Problems| {
            DateTime::parse_from_rfc3339(v)
                .map(|t| t.to_utc())
                .map_err(|_| {
                    problems.push(format!(
                        "{field}: {v:?} is not an RFC 3339 date-time (e.g. 2026-12-07T00:00:00Z)"
                    ))
                })
                .ok()
        };
        let start = match &self.start {
            None => {
                problems.push("start: is required (the range's first event time)");
                None
            }
            Some(v) => time("start", v, &mut problems),
        };
        let end = self
            .end
            .as_deref()
            .and_then(|v| time("end", v, &mut problems));
        if let (Some(start), Some(end)) = (start, end) {
            if end <= start {
                problems.push("end: must be after start");
            }
        }
        let destination_id =
            self.destination_id
                .as_deref()
                .and_then(|v| match DestinationId::parse(v) {
                    Ok(id) => Some(id),
                    Err(e) => {
                        problems.push(format!("destination_id: {e}"));
                        None
                    }
                });
        let topics = match self.topics {
            None => None,
            Some(list) if list.is_empty() => {
                problems
                    .push("topics: list at least one topic, or leave topics out for every topic");
                None
            }
            Some(list) => match state.topics.check_subscription(&list) {
                Ok(topics) => Some(topics),
                Err(e) => {
                    problems.push(format!("topics: {e}"));
                    None
                }
            },
        };
        problems.check()?;
        let Some(start) = start else {
            return Err(ApiError::unprocessable("start: is required"));
        };
        Ok(NewReplay {
            tenant_id: s.tenant.clone(),
            destination_id,
            start,
            end,
            failed_only: self.failed_only.unwrap_or(true),
            topics,
            requested_by: match s.principal {
                Principal::Admin => "admin".into(),
                Principal::Tenant(_) => "tenant".into(),
            },
        })
    }
}

/// Starts a replay: 202 with it, running; the workers take it from there.
async fn create(
    State(state): State<AppState>,
    s: TenantScope,
    Db(db): Db,
    Body(body): Body<CreateReplay>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    ensure_tenant(&db, &s.tenant).await?;
    let new = body.check(&state, &s)?;
    let replay = store::create(&db, &new, None).await?;
    Ok((StatusCode::ACCEPTED, Json(render(&replay, Utc::now()))))
}

/// The tenant's replays, newest first (`limit`, default 20, at most 100).
async fn list(s: TenantScope, Db(db): Db, q: QueryMap) -> Result<Json<Value>, ApiError> {
    ensure_tenant(&db, &s.tenant).await?;
    let limit = match q.one("limit") {
        None => LIST_DEFAULT,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if (1..=LIST_MOST).contains(&n) => n,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "limit must be a number from 1 to {LIST_MOST}"
                )))
            }
        },
    };
    let now = Utc::now();
    let replays = store::list(&db, &s.tenant, limit).await?;
    Ok(Json(Value::Array(
        replays.iter().map(|r| render(r, now)).collect(),
    )))
}

/// One replay, with its progress.
async fn show(
    s: TenantScope,
    Db(db): Db,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let id = replay_id(id)?;
    let replay = store::get(&db, &s.tenant, &id).await?;
    Ok(Json(render(&replay, Utc::now())))
}

/// Cancels a running replay: it queues nothing more, and what it queued
/// and was not sent yet is taken back. Cancelling a cancelled replay
/// answers it again; a finished or failed one is a 409.
async fn cancel(
    s: TenantScope,
    Db(db): Db,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let id = replay_id(id)?;
    let replay = store::cancel(&db, &s.tenant, &id, None).await?;
    match replay.state {
        ReplayState::Running | ReplayState::Cancelled => Ok(Json(render(&replay, Utc::now()))),
        ended => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("replay {id} has already {}", ended.as_str()),
        )),
    }
}

/// A replay id from the path: one that cannot be an id is no replay.
fn replay_id(raw: String) -> Result<ReplayId, ApiError> {
    ReplayId::try_from(raw).map_err(|_| ApiError::not_found("replay"))
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A replay as the API shows it.
fn render(r: &Replay, now: DateTime<Utc>) -> Value {
    json!({
        "id": r.id,
        "tenant_id": r.tenant_id,
        "destination_id": r.destination_id,
        "start": time(r.start),
        "end": time(r.end),
        "failed_only": r.failed_only,
        "topics": r.topics,
        "state": r.state.as_str(),
        "error": r.error,
        "progress": (r.progress(now) * 1000.0).round() / 1000.0,
        "events_scanned": r.events_scanned,
        "deliveries_queued": r.deliveries_queued,
        "deliveries_held": r.deliveries_held,
        "deliveries_skipped": r.deliveries_skipped,
        "deliveries_cancelled": r.deliveries_cancelled,
        "deliveries_waiting": r.deliveries_waiting,
        "requested_by": r.requested_by,
        "created_at": time(r.created_at),
        "updated_at": time(r.updated_at),
        "finished_at": r.finished_at.map(time),
    })
}
