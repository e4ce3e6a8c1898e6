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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub id: String,
    /// The id had been accepted before; nothing new will be delivered.
    pub duplicate: bool,
    /// Destinations the event was fanned out to (empty for a duplicate).
    pub destination_ids: Vec<String>,
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
    Ok(Published {
        id: row.get(0),
        duplicate: row.get(1),
        destination_ids: row.get(2),
    })
}
