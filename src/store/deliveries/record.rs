//! Recording outcomes: the attempts of a batch in one statement, then what
//! they mean for their destinations (failure streaks, circuits, disabling).

use chrono::{DateTime, Utc};

use super::ClaimKey;
use crate::domain::attempt_code::AttemptCode;
use crate::domain::ids::{DestinationId, DestinationKey, EventId, TenantId};
use crate::store::{for_group, id, queries, GenericClient, StoreError};

/// The outcome of one attempt, ready to record.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub event_id: EventId,
    pub destination_id: DestinationId,
    pub claims: i32,
    pub tenant_id: TenantId,
    pub event_time: DateTime<Utc>,
    pub attempt_number: i32,
    pub manual: bool,
    pub success: bool,
    /// Some: retry then; None: the delivery is finished.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Finished by a last failure, but kept: it blocks its lane of an
    /// ordered destination until a person retries or skips it.
    pub blocked: bool,
    pub code: AttemptCode,
    pub response_status: Option<i32>,
    pub response_headers: Option<String>,
    pub response_body: Option<String>,
    pub duration_ms: i32,
    pub attempted_at: DateTime<Utc>,
}

impl AttemptRecord {
    pub fn key(&self) -> ClaimKey {
        ClaimKey {
            tenant_id: self.tenant_id.clone(),
            event_id: self.event_id.clone(),
            destination_id: self.destination_id.clone(),
            claims: self.claims,
        }
    }

    /// Its destination's key.
    pub fn destination(&self) -> DestinationKey {
        DestinationKey::new(&self.tenant_id, &self.destination_id)
    }

    /// When the outcome was known: the attempt's start plus its duration.
    pub fn known_at(&self) -> DateTime<Utc> {
        self.attempted_at + chrono::Duration::milliseconds(i64::from(self.duration_ms))
    }
}

/// Records a batch of outcomes in one statement; returns the keys accepted
/// (outcomes from a lease that was lost are dropped).
pub async fn record(
    client: &impl GenericClient,
    batch: &[&AttemptRecord],
    group: Option<&[TenantId]>,
) -> Result<Vec<(TenantId, EventId, DestinationId)>, StoreError> {
    let route = for_group(queries::DELIVERIES_RECORD, group);
    let stmt = client.prepare_cached(route.sql).await?;
    let col = |f: fn(&AttemptRecord) -> &str| batch.iter().map(|a| f(a)).collect::<Vec<&str>>();
    let event_ids = col(|a| a.event_id.as_str());
    let destination_ids = col(|a| a.destination_id.as_str());
    let tenant_ids = col(|a| a.tenant_id.as_str());
    let codes: Vec<String> = batch.iter().map(|a| a.code.as_string()).collect();
    let statuses = col(|a| if a.success { "success" } else { "failed" });
    let claims: Vec<i32> = batch.iter().map(|a| a.claims).collect();
    let event_times: Vec<DateTime<Utc>> = batch.iter().map(|a| a.event_time).collect();
    let numbers: Vec<i32> = batch.iter().map(|a| a.attempt_number).collect();
    let manual: Vec<bool> = batch.iter().map(|a| a.manual).collect();
    let next: Vec<Option<DateTime<Utc>>> = batch.iter().map(|a| a.next_attempt_at).collect();
    let statuses_http: Vec<Option<i32>> = batch.iter().map(|a| a.response_status).collect();
    let headers: Vec<Option<&str>> = batch
        .iter()
        .map(|a| a.response_headers.as_deref())
        .collect();
    let bodies: Vec<Option<&str>> = batch.iter().map(|a| a.response_body.as_deref()).collect();
    let durations: Vec<i32> = batch.iter().map(|a| a.duration_ms).collect();
    let times: Vec<DateTime<Utc>> = batch.iter().map(|a| a.attempted_at).collect();
    let blocked: Vec<bool> = batch.iter().map(|a| a.blocked).collect();
    let rows = client
        .query(
            &stmt,
            &route.params(&[
                &event_ids,
                &destination_ids,
                &claims,
                &tenant_ids,
                &event_times,
                &numbers,
                &manual,
                &statuses,
                &next,
                &codes,
                &statuses_http,
                &headers,
                &bodies,
                &durations,
                &times,
                &blocked,
            ]),
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                id(r, "tenant_id")?,
                id(r, "event_id")?,
                id(r, "destination_id")?,
            ))
        })
        .collect()
}

impl DestinationCount {
    /// Its destination's key.
    pub fn key(&self) -> DestinationKey {
        DestinationKey::new(&self.tenant_id, &self.id)
    }
}

/// Per-destination result of a recorded batch.
#[derive(Debug, Clone)]
pub struct DestinationCount {
    pub id: DestinationId,
    pub tenant_id: TenantId,
    pub consecutive_failures: i32,
    /// The count this batch started from (0 after a success in it).
    pub previous_failures: i32,
    pub disabled: bool,
    pub newly_disabled: bool,
    /// This batch opened the destination's circuit, until then.
    pub circuit_opened: bool,
    /// This batch closed it: the destination answers again.
    pub circuit_closed: bool,
    pub circuit_open_until: Option<DateTime<Utc>>,
    pub circuit_failures: i32,
}

/// What one recorded batch says about one destination, in the order the
/// outcomes were known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationOutcome {
    pub tenant_id: TenantId,
    pub id: DestinationId,
    /// A success was in the batch; `failures` counts those after the last.
    pub reset: bool,
    /// Failures counted toward the streak: one per `failure_spacing_ms` at
    /// most (failures known closer together were in flight together).
    pub failures: i32,
    /// When the first and the last counted failure were known.
    pub first_failure_at: Option<DateTime<Utc>>,
    pub last_failure_at: Option<DateTime<Utc>>,
    /// An attempt got an answer; `unanswered` counts those after the last.
    pub answered: bool,
    pub unanswered: i32,
}

/// When destinations are disabled, and when their circuits open.
#[derive(Debug, Clone, Copy, Default)]
pub struct Thresholds {
    /// Consecutive failures that disable a destination (0 = never)...
    pub disable_after: i32,
    /// ... once its failure streak has lasted this long, too.
    pub disable_min_failing_ms: i64,
    /// Failures known within this of the last counted one count as one.
    pub failure_spacing_ms: i64,
    /// Unanswered attempts in a row that open its circuit (0 = never).
    pub circuit_after: i32,
    /// How long the circuit first stays open.
    pub circuit_cooldown_ms: i64,
    /// The operator events the recorder raises (see `delivery::operator_events`).
    pub alerts: crate::domain::operator_event::Alerts,
}

/// Updates consecutive-failure counts (and auto-disables) and the circuit
/// breakers for a batch, as described in the query.
pub async fn record_destination_outcomes(
    client: &impl GenericClient,
    changes: &[DestinationOutcome],
    thresholds: Thresholds,
    now: Option<DateTime<Utc>>,
    group: Option<&[TenantId]>,
) -> Result<Vec<DestinationCount>, StoreError> {
    let now = now.unwrap_or_else(Utc::now);
    let route = for_group(queries::DESTINATIONS_RECORD_OUTCOMES, group);
    let stmt = client.prepare_cached(route.sql).await?;
    let ids: Vec<&str> = changes.iter().map(|c| c.id.as_str()).collect();
    let resets: Vec<bool> = changes.iter().map(|c| c.reset).collect();
    let failures: Vec<i32> = changes.iter().map(|c| c.failures).collect();
    let answered: Vec<bool> = changes.iter().map(|c| c.answered).collect();
    let unanswered: Vec<i32> = changes.iter().map(|c| c.unanswered).collect();
    let first: Vec<Option<DateTime<Utc>>> = changes.iter().map(|c| c.first_failure_at).collect();
    let last: Vec<Option<DateTime<Utc>>> = changes.iter().map(|c| c.last_failure_at).collect();
    let tenants: Vec<&str> = changes.iter().map(|c| c.tenant_id.as_str()).collect();
    let rows = client
        .query(
            &stmt,
            &route.params(&[
                &ids,
                &resets,
                &failures,
                &thresholds.disable_after,
                &now,
                &answered,
                &unanswered,
                &thresholds.circuit_after,
                &thresholds.circuit_cooldown_ms,
                &first,
                &last,
                &thresholds.failure_spacing_ms,
                &thresholds.disable_min_failing_ms,
                &tenants,
            ]),
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(DestinationCount {
                id: id(r, "id")?,
                tenant_id: id(r, "tenant_id")?,
                consecutive_failures: r.try_get("consecutive_failures")?,
                previous_failures: r.try_get("previous_failures")?,
                disabled: r.try_get("disabled")?,
                newly_disabled: r.try_get("newly_disabled")?,
                circuit_opened: r.try_get("circuit_opened")?,
                circuit_closed: r.try_get("circuit_closed")?,
                circuit_open_until: r.try_get("circuit_open_until")?,
                circuit_failures: r.try_get("circuit_failures")?,
            })
        })
        .collect()
}
