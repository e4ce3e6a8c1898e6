//! Rows the tests need, made through the store like the service makes them.

use outbound::destinations::kind::DestinationKind;
use outbound::domain::filter::Filter;
use outbound::domain::ids::{DestinationId, TenantId};
use outbound::store::{self, destinations::NewDestination};
use serde_json::{json, Value};

pub async fn tenant(client: &deadpool_postgres::Object, id: &str) -> TenantId {
    let id = TenantId::parse(id).expect("tenant id");
    store::tenants::upsert(client, &id, None)
        .await
        .expect("create tenant");
    id
}

/// A webhook destination. `filter` is parsed and compiled like the API does.
pub async fn destination(
    client: &deadpool_postgres::Object,
    tenant: &TenantId,
    id: &str,
    topics: &[&str],
    filter: Option<Value>,
) -> DestinationId {
    let id = DestinationId::parse(id).expect("destination id");
    let filter = filter.map(|f| Filter::parse(&f).expect("valid filter"));
    store::destinations::insert(
        client,
        &NewDestination {
            id: id.clone(),
            tenant_id: tenant.clone(),
            kind: DestinationKind::Webhook,
            topics: topics.iter().map(|t| t.to_string()).collect(),
            filter,
            config: json!({"url": "http://127.0.0.1:9/hook"}),
            credentials: json!({}),
            delivery_metadata: None,
            metadata: None,
            disabled_at: None,
            policy: Default::default(),
        },
    )
    .await
    .expect("create destination");
    id
}

/// The single count a query answers (`SELECT count(*) …`).
pub async fn count(client: &deadpool_postgres::Object, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.expect("count").get(0)
}

/// Destination ids that have a queued delivery for `event_id`, sorted.
pub async fn deliveries_of(client: &deadpool_postgres::Object, event_id: &str) -> Vec<String> {
    client
        .query(
            "SELECT destination_id FROM outbound.deliveries WHERE event_id = $1 ORDER BY 1",
            &[&event_id],
        )
        .await
        .expect("deliveries")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// A webhook destination sending to `url`, signed with `secret`.
pub async fn webhook(
    client: &deadpool_postgres::Object,
    tenant: &TenantId,
    id: &str,
    topics: &[&str],
    url: &str,
    credentials: Value,
) -> DestinationId {
    let id = DestinationId::parse(id).expect("destination id");
    store::destinations::insert(
        client,
        &NewDestination {
            id: id.clone(),
            tenant_id: tenant.clone(),
            kind: DestinationKind::Webhook,
            topics: topics.iter().map(|t| t.to_string()).collect(),
            filter: None,
            config: json!({ "url": url }),
            credentials,
            delivery_metadata: None,
            metadata: None,
            disabled_at: None,
            policy: Default::default(),
        },
    )
    .await
    .expect("create webhook destination");
    id
}

/// (attempt_number, status, code, manual) of a delivery's attempts, in order.
pub async fn attempts_of(
    client: &deadpool_postgres::Object,
    event_id: &str,
    destination_id: &str,
) -> Vec<(i32, String, String, bool)> {
    client
        .query(
            "SELECT attempt_number, status::text, code, manual FROM outbound.attempts
             WHERE event_id = $1 AND destination_id = $2 ORDER BY attempt_number",
            &[&event_id, &destination_id],
        )
        .await
        .expect("attempts")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
}
