//! The delivery queue: claim, record, hold, release, manual retry.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{for_group, id, queries, GenericClient, StoreError};
use crate::destinations::kind::DestinationKind;
use crate::domain::delivery_policy::DeliveryPolicy;
use crate::domain::ids::{DestinationId, DestinationKey, EventId, TenantId};

mod record;

pub use record::{
    record, record_destination_outcomes, AttemptRecord, DestinationCount, DestinationOutcome,
    Thresholds,
};

/// One claim of one delivery: what recording its outcome is checked
/// against (only the latest claim may record).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClaimKey {
    pub tenant_id: TenantId,
    pub event_id: EventId,
    pub destination_id: DestinationId,
    pub claims: i32,
}

/// A delivery claimed by a worker, with what it needs to send it.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub event_id: EventId,
    pub destination_id: DestinationId,
    pub tenant_id: TenantId,
    pub event_time: DateTime<Utc>,
    /// The claim this worker holds; recording requires it to be the latest.
    pub claims: i32,
    /// Attempts recorded before this one.
    pub attempts: i32,
    /// Automatic retries allowed (the event's eligible_for_retry).
    pub retry: bool,
    pub manual: bool,
    /// In a lane of an ordered destination (V26): a last failure may block it.
    pub ordered: bool,
    /// The attempt number the delivery had reached when a replay queued
    /// it again (V28), 0 otherwise: its retries are counted from there.
    pub retry_base: i32,
    /// None when the event is gone (expired by retention).
    pub event: Option<ClaimedEvent>,
    /// None when the destination was deleted. Shared by the deliveries of
    /// one claim that go to the same destination.
    pub destination: Option<Arc<ClaimedDestination>>,
}

#[derive(Debug, Clone)]
pub struct ClaimedEvent {
    pub topic: String,
    pub metadata: serde_json::Value,
    /// The data exactly as published.
    pub data: String,
}

#[derive(Debug, Clone)]
pub struct ClaimedDestination {
    pub kind: DestinationKind,
    pub config: serde_json::Value,
    pub credentials: serde_json::Value,
    pub delivery_metadata: Option<serde_json::Value>,
    pub disabled: bool,
    /// Set while the destination's circuit is (or was last) open. The claim
    /// gives nothing of a destination whose circuit is open, so a claimed
    /// delivery with this set (and past) is the half-open circuit's probe.
    pub circuit_open_until: Option<DateTime<Utc>>,
    /// Its own retries and timeout, over the deployment's.
    pub policy: DeliveryPolicy,
}

/// How much of a claim each destination may take (see `claim.sql`).
#[derive(Debug, Clone, Default)]
pub struct ClaimLimits {
    /// The most deliveries the worker may hold for a destination it has
    /// no figures for.
    pub default_cap: i32,
    /// Per destination the worker knows: how many it holds, and may hold.
    pub destinations: Vec<DestinationKey>,
    pub held: Vec<i32>,
    pub caps: Vec<i32>,
    /// Unanswered attempts in a row that open a circuit (0 = no breaker).
    pub circuit_threshold: i32,
}

impl Claimed {
    /// The number of the attempt about to be made (1-based).
    pub fn attempt_number(&self) -> i32 {
        self.attempts + 1
    }

    /// The number of the attempt about to be made as the retry schedule
    /// counts it: after a replay (`retry_base`), its first attempt is 1
    /// again, so that it gets the destination's retries afresh.
    pub fn retry_number(&self) -> i32 {
        self.attempt_number() - self.retry_base
    }

    /// Its destination's key.
    pub fn destination_key(&self) -> DestinationKey {
        DestinationKey::new(&self.tenant_id, &self.destination_id)
    }

    pub fn key(&self) -> ClaimKey {
        ClaimKey {
            tenant_id: self.tenant_id.clone(),
            event_id: self.event_id.clone(),
            destination_id: self.destination_id.clone(),
            claims: self.claims,
        }
    }
}

pub async fn claim(
    client: &impl GenericClient,
    now: Option<DateTime<Utc>>,
    limit: i64,
    worker_id: &str,
    lease_ms: i64,
    limits: &ClaimLimits,
    tenants: Option<&[TenantId]>,
) -> Result<Vec<Claimed>, StoreError> {
    let route = for_group(queries::DELIVERIES_CLAIM, tenants);
    let stmt = client.prepare_cached(route.sql).await?;
    let known: Vec<&DestinationKey> = limits.destinations.iter().collect();
    let (known_tenants, known) = key_columns(&known);
    let rows = client
        .query(
            &stmt,
            &route.params(&[
                &now,
                &limit,
                &worker_id,
                &lease_ms,
                &limits.default_cap,
                &known,
                &limits.held,
                &limits.caps,
                &limits.circuit_threshold,
                &known_tenants,
            ]),
        )
        .await?;
    // A batch usually holds many deliveries to few destinations: decode each
    // destination once.
    let mut destinations: HashMap<DestinationKey, Arc<ClaimedDestination>> = HashMap::new();
    rows.iter()
        .map(|r| {
            let destination_id: DestinationId = id(r, "destination_id")?;
            let tenant_id: TenantId = id(r, "tenant_id")?;
            let key = DestinationKey::new(&tenant_id, &destination_id);
            let destination = match r.try_get::<_, bool>("destination_found")? {
                false => None,
                true => Some(match destinations.get(&key) {
                    Some(d) => d.clone(),
                    None => {
                        let d = Arc::new(ClaimedDestination {
                            kind: DestinationKind::parse(r.try_get("type")?)?,
                            config: r.try_get("config")?,
                            credentials: r.try_get("credentials")?,
                            delivery_metadata: r.try_get("delivery_metadata")?,
                            disabled: r
                                .try_get::<_, Option<DateTime<Utc>>>("disabled_at")?
                                .is_some(),
                            circuit_open_until: r.try_get("circuit_open_until")?,
                            policy: DeliveryPolicy::stored(
                                &r.try_get::<_, serde_json::Value>("delivery_policy")?,
                            ),
                        });
                        destinations.insert(key, d.clone());
                        d
                    }
                }),
            };
            let event = match r.try_get::<_, bool>("event_found")? {
                false => None,
                true => Some(ClaimedEvent {
                    topic: r.try_get("topic")?,
                    metadata: r.try_get("metadata")?,
                    data: r.try_get("data")?,
                }),
            };
            Ok(Claimed {
                event_id: id(r, "event_id")?,
                destination_id,
                tenant_id,
                event_time: r.try_get("event_time")?,
                claims: r.try_get("claims")?,
                attempts: r.try_get("attempts")?,
                retry: r.try_get("retry")?,
                manual: r.try_get("manual")?,
                ordered: r.try_get("ordered")?,
                retry_base: r.try_get("retry_base")?,
                event,
                destination,
            })
        })
        .collect()
}

/// The sequencing pass of ordered delivery (V26): moves on the next
/// delivery of every free lane, and up to `batch` newly published ones.
/// Returns how many it moved. One node only.
pub async fn sequence(client: &impl GenericClient, batch: i32) -> Result<i32, StoreError> {
    let stmt = client.prepare_cached(queries::DELIVERIES_SEQUENCE).await?;
    Ok(client.query_one(&stmt, &[&batch]).await?.try_get("moved")?)
}

/// Gives up a blocked delivery of an ordered destination, which lets its
/// lane go on. False when the delivery is not blocked (or not there).
pub async fn skip(
    client: &impl GenericClient,
    event_id: &EventId,
    destination_id: &DestinationId,
    tenant: &TenantId,
) -> Result<bool, StoreError> {
    let stmt = client.prepare_cached(queries::DELIVERIES_SKIP).await?;
    Ok(client
        .query_opt(
            &stmt,
            &[
                &event_id.as_str(),
                &destination_id.as_str(),
                &tenant.as_str(),
            ],
        )
        .await?
        .is_some())
}

/// A blocked delivery: it holds its lane until retried or skipped.
#[derive(Debug, Clone)]
pub struct Blocked {
    pub event_id: String,
    pub lane: String,
    pub attempts: i32,
    pub event_time: DateTime<Utc>,
    /// None when the event expired meanwhile.
    pub topic: Option<String>,
}

/// A destination's blocked deliveries, first in line first (at most 100).
pub async fn blocked(
    client: &impl GenericClient,
    tenant: &TenantId,
    destination_id: &DestinationId,
) -> Result<Vec<Blocked>, StoreError> {
    let stmt = client.prepare_cached(queries::DELIVERIES_BLOCKED).await?;
    client
        .query(&stmt, &[&tenant.as_str(), &destination_id.as_str()])
        .await?
        .iter()
        .map(|r| {
            Ok(Blocked {
                event_id: r.try_get("event_id")?,
                lane: r.try_get("lane")?,
                attempts: r.try_get("attempts")?,
                event_time: r.try_get("event_time")?,
                topic: r.try_get("topic")?,
            })
        })
        .collect()
}

/// Whether any destination orders its deliveries, or ordered deliveries
/// are on their way: then a worker sequences before it claims.
pub async fn ordered_in_use(client: &impl GenericClient) -> Result<bool, StoreError> {
    let stmt = client
        .prepare_cached(queries::DELIVERIES_ORDERED_IN_USE)
        .await?;
    Ok(client.query_one(&stmt, &[]).await?.try_get("in_use")?)
}

/// Holds the pending deliveries of those of `destination_ids` that are disabled.
pub async fn hold(
    client: &impl GenericClient,
    destinations: &[&DestinationKey],
    group: Option<&[TenantId]>,
) -> Result<u64, StoreError> {
    let route = for_group(queries::DELIVERIES_HOLD, group);
    let stmt = client.prepare_cached(route.sql).await?;
    let (tenants, ids) = key_columns(destinations);
    Ok(client
        .execute(&stmt, &route.params(&[&ids, &tenants]))
        .await?)
}

/// The tenant and destination id columns of `keys`, for a statement that
/// takes them as parallel arrays.
pub(crate) fn key_columns<'a>(keys: &[&'a DestinationKey]) -> (Vec<&'a str>, Vec<&'a str>) {
    keys.iter()
        .map(|k| (k.tenant_id.as_str(), k.destination_id.as_str()))
        .unzip()
}

/// Puts claimed deliveries of disabled destinations back to wait, unsent.
pub async fn hold_claimed(
    client: &impl GenericClient,
    keys: &[ClaimKey],
    group: Option<&[TenantId]>,
) -> Result<u64, StoreError> {
    claimed_statement(client, queries::DELIVERIES_HOLD_CLAIMED, keys, group).await
}

/// Removes claimed deliveries that can never be sent (event expired or
/// destination deleted).
pub async fn drop_claimed(
    client: &impl GenericClient,
    keys: &[ClaimKey],
    group: Option<&[TenantId]>,
) -> Result<u64, StoreError> {
    claimed_statement(client, queries::DELIVERIES_DROP_CLAIMED, keys, group).await
}

async fn claimed_statement(
    client: &impl GenericClient,
    sql: &'static str,
    keys: &[ClaimKey],
    group: Option<&[TenantId]>,
) -> Result<u64, StoreError> {
    let route = for_group(sql, group);
    let stmt = client.prepare_cached(route.sql).await?;
    let event_ids: Vec<&str> = keys.iter().map(|k| k.event_id.as_str()).collect();
    let destination_ids: Vec<&str> = keys.iter().map(|k| k.destination_id.as_str()).collect();
    let claims: Vec<i32> = keys.iter().map(|k| k.claims).collect();
    let tenant_ids: Vec<&str> = keys.iter().map(|k| k.tenant_id.as_str()).collect();
    Ok(client
        .execute(
            &stmt,
            &route.params(&[&event_ids, &destination_ids, &claims, &tenant_ids]),
        )
        .await?)
}

/// Makes deliveries wait for their destination's circuit to close: each
/// is due again at its `until`, unsent claims and just-recorded failures
/// alike (only the latest claim of each moves).
pub async fn postpone(
    client: &impl GenericClient,
    deliveries: &[(ClaimKey, DateTime<Utc>)],
    group: Option<&[TenantId]>,
) -> Result<u64, StoreError> {
    let route = for_group(queries::DELIVERIES_POSTPONE, group);
    let stmt = client.prepare_cached(route.sql).await?;
    let event_ids: Vec<&str> = deliveries
        .iter()
        .map(|(k, _)| k.event_id.as_str())
        .collect();
    let destination_ids: Vec<&str> = deliveries
        .iter()
        .map(|(k, _)| k.destination_id.as_str())
        .collect();
    let claims: Vec<i32> = deliveries.iter().map(|(k, _)| k.claims).collect();
    let until: Vec<DateTime<Utc>> = deliveries.iter().map(|(_, u)| *u).collect();
    let tenant_ids: Vec<&str> = deliveries
        .iter()
        .map(|(k, _)| k.tenant_id.as_str())
        .collect();
    Ok(client
        .execute(
            &stmt,
            &route.params(&[&event_ids, &destination_ids, &claims, &until, &tenant_ids]),
        )
        .await?)
}

/// Destinations that answer again after an outage: what waits to be
/// retried for them is due now.
pub async fn circuit_closed(
    client: &impl GenericClient,
    destinations: &[&DestinationKey],
    now: Option<DateTime<Utc>>,
    group: Option<&[TenantId]>,
) -> Result<u64, StoreError> {
    let now = now.unwrap_or_else(Utc::now);
    let route = for_group(queries::DELIVERIES_CIRCUIT_CLOSED, group);
    let stmt = client.prepare_cached(route.sql).await?;
    let (tenants, ids) = key_columns(destinations);
    Ok(client
        .execute(&stmt, &route.params(&[&ids, &now, &tenants]))
        .await?)
}

/// Gives back every lease a worker holds; returns how many.
pub async fn release(client: &impl GenericClient, worker_id: &str) -> Result<u64, StoreError> {
    let stmt = client.prepare_cached(queries::DELIVERIES_RELEASE).await?;
    Ok(client.execute(&stmt, &[&worker_id]).await?)
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RetryError {
    #[error("destination not found")]
    DestinationNotFound,
    #[error("destination is disabled; enable it before retrying")]
    DestinationDisabled,
    #[error("destination no longer matches the event (topic or filter)")]
    NoLongerMatches,
    #[error("no attempt of this event to this destination to retry")]
    NoPriorAttempt,
    #[error("event not found (it may have expired)")]
    EventNotFound,
}

/// Schedules a manual retry now: the next attempt is numbered last + 1 and
/// flagged manual, replacing any pending automatic retry. Returns the
/// attempt number to be made, or None when a send is already in flight.
/// `tenant` is the event's tenant: the destination must be one of its.
pub async fn retry_now(
    client: &impl GenericClient,
    event_id: &EventId,
    destination_id: &DestinationId,
    tenant: &TenantId,
    now: Option<DateTime<Utc>>,
) -> Result<Result<Option<i32>, RetryError>, StoreError> {
    let now = now.unwrap_or_else(Utc::now);
    let (event_id, destination_id, tenant) =
        (event_id.as_str(), destination_id.as_str(), tenant.as_str());
    let stmt = client
        .prepare_cached(queries::DESTINATIONS_GET_FOR_RETRY)
        .await?;
    let Some(dest) = client.query_opt(&stmt, &[&destination_id, &tenant]).await? else {
        return Ok(Err(RetryError::DestinationNotFound));
    };
    if dest.get::<_, Option<DateTime<Utc>>>(1).is_some() {
        return Ok(Err(RetryError::DestinationDisabled));
    }
    let stmt = client
        .prepare_cached(queries::DESTINATIONS_MATCHES_EVENT)
        .await?;
    match client
        .query_opt(&stmt, &[&destination_id, &event_id, &tenant])
        .await?
    {
        None => return Ok(Err(RetryError::EventNotFound)),
        Some(row) if !row.get::<_, bool>(0) => return Ok(Err(RetryError::NoLongerMatches)),
        Some(_) => {}
    }
    let stmt = client.prepare_cached(queries::ATTEMPTS_LAST_NUMBER).await?;
    let last: Option<i32> = client
        .query_one(&stmt, &[&event_id, &destination_id, &tenant])
        .await?
        .get(0);
    let Some(last) = last else {
        return Ok(Err(RetryError::NoPriorAttempt));
    };
    let stmt = client.prepare_cached(queries::DELIVERIES_RETRY_NOW).await?;
    let rows = client
        .query(&stmt, &[&event_id, &destination_id, &last, &now, &tenant])
        .await?;
    if rows.is_empty() {
        // Either in flight (leased) or the event is gone.
        let in_flight = client
            .query_opt(
                queries::DELIVERIES_IS_LEASED,
                &[&event_id, &destination_id, &tenant],
            )
            .await?
            .is_some();
        return Ok(if in_flight {
            Ok(None)
        } else {
            Err(RetryError::EventNotFound)
        });
    }
    Ok(Ok(Some(rows[0].get(0))))
}
