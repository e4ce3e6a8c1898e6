//! Publishing events.

use chrono::{DateTime, Utc};

use super::{queries, GenericClient, StoreError};
use crate::domain::ids::{DestinationId, EventId, TenantId};
use crate::domain::topic::Topic;

/// An event to publish. `data` is the JSON object's text exactly as the
/// publisher sent it: it becomes the webhook body byte for byte.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub tenant_id: TenantId,
    pub topic: Topic,
    pub data: String,
    pub id: Option<EventId>,
    pub metadata: Option<serde_json::Value>,
    pub time: Option<DateTime<Utc>>,
    pub eligible_for_retry: bool,
    pub destination_id: Option<DestinationId>,
}

impl NewEvent {
    pub fn new(tenant_id: TenantId, topic: Topic, data: impl Into<String>) -> NewEvent {
        NewEvent {
            tenant_id,
            topic,
            data: data.into(),
            id: None,
            metadata: None,
            time: None,
            eligible_for_retry: true,
            destination_id: None,
        }
    }
}

/// What a publish did; serialised, it is the API's publish answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Published {
    pub id: EventId,
    /// The id had been accepted before; nothing new will be delivered.
    pub duplicate: bool,
    /// Destinations the event was fanned out to (empty for a duplicate).
    pub destination_ids: Vec<DestinationId>,
}

fn published(r: &tokio_postgres::Row) -> Result<Published, StoreError> {
    Ok(Published {
        id: super::id(r, "event_id")?,
        duplicate: r.try_get("duplicate")?,
        destination_ids: super::ids(r, "destination_ids")?,
    })
}

pub async fn publish(
    client: &impl GenericClient,
    event: &NewEvent,
) -> Result<Published, StoreError> {
    let stmt = client.prepare_cached(queries::EVENTS_PUBLISH).await?;
    let row = client
        .query_one(
            &stmt,
            &[
                &event.tenant_id.as_str(),
                &event.topic.as_str(),
                &event.data,
                &event.id.as_ref().map(|i| i.as_str()),
                &event.metadata,
                &event.time,
                &event.eligible_for_retry,
                &event.destination_id.as_ref().map(|d| d.as_str()),
            ],
        )
        .await?;
    published(&row)
}

/// Publishes several events in one statement (`outbound.publish_batch()`),
/// answering each as [`publish`] would, in order. Any error fails the whole
/// batch: the caller then publishes the events one by one to get each
/// event's own outcome.
pub async fn publish_batch(
    client: &impl GenericClient,
    events: &[NewEvent],
) -> Result<Vec<Published>, StoreError> {
    let tenants: Vec<&str> = events.iter().map(|e| e.tenant_id.as_str()).collect();
    let topics: Vec<&str> = events.iter().map(|e| e.topic.as_str()).collect();
    let data: Vec<&str> = events.iter().map(|e| e.data.as_str()).collect();
    let ids: Vec<Option<&str>> = events
        .iter()
        .map(|e| e.id.as_ref().map(|i| i.as_str()))
        .collect();
    let metadata: Vec<Option<&serde_json::Value>> =
        events.iter().map(|e| e.metadata.as_ref()).collect();
    let times: Vec<Option<DateTime<Utc>>> = events.iter().map(|e| e.time).collect();
    let retry: Vec<bool> = events.iter().map(|e| e.eligible_for_retry).collect();
    let destinations: Vec<Option<&str>> = events
        .iter()
        .map(|e| e.destination_id.as_ref().map(|d| d.as_str()))
        .collect();
    let stmt = client.prepare_cached(queries::EVENTS_PUBLISH_BATCH).await?;
    let rows = client
        .query(
            &stmt,
            &[
                &tenants,
                &topics,
                &data,
                &ids,
                &metadata,
                &times,
                &retry,
                &destinations,
            ],
        )
        .await?;
    if rows.len() != events.len() {
        return Err(StoreError::Unavailable(format!(
            "publish_batch answered {} rows for {} events",
            rows.len(),
            events.len()
        )));
    }
    rows.iter().map(published).collect()
}
