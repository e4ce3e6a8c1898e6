//! outbound on Citus: distributing its tables (`outbound migrate --citus`)
//! and what a worker needs to claim there, shard group by shard group.
//!
//! Every distributed table is co-located with `outbound.tenants`, so all of
//! one tenant's rows live in one shard group, on one node. A statement
//! restricted to the tenants of one group (`tenant_id = ANY ($tenants)`) is
//! routed whole to that node and runs there as it would on one PostgreSQL,
//! `FOR UPDATE SKIP LOCKED` included; one that is not is refused by Citus.

use super::{ids, queries, GenericClient, StoreError};
use crate::domain::ids::TenantId;

/// How each table is placed on Citus: the anchor first, then the tables
/// co-located with it (foreign keys need their target distributed first).
const DISTRIBUTION: &[(&str, Placement)] = &[
    ("outbound.tenants", Placement::Anchor),
    ("outbound.settings", Placement::Reference),
    ("outbound.destinations", Placement::ByTenant),
    ("outbound.events", Placement::ByTenant),
    ("outbound.event_ids", Placement::ByTenant),
    ("outbound.deliveries", Placement::ByTenant),
    ("outbound.attempts", Placement::ByTenant),
    ("outbound.operator_events", Placement::ByTenant),
    ("outbound.operator_alert_windows", Placement::ByTenant),
    ("outbound.replays", Placement::ByTenant),
    // Ordered delivery is refused on Citus; its table is placed like the
    // others so every statement on outbound's tables may name it.
    ("outbound.lanes", Placement::ByTenant),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placement {
    /// Distributed by its id: the tenant every other table is co-located with.
    Anchor,
    /// Distributed by tenant_id, co-located with outbound.tenants.
    ByTenant,
    /// A copy on every node.
    Reference,
}

/// What an application runs to co-locate one of its own tables with
/// outbound's (here for a table `orders` with a `tenant_id` column).
pub const COLOCATE_HINT: &str =
    "SELECT create_distributed_table('orders', 'tenant_id', colocate_with => 'outbound.tenants');";

#[derive(Debug, thiserror::Error)]
pub enum CitusError {
    #[error(
        "the citus extension is not installed in this database: run CREATE EXTENSION citus \
         on the coordinator and on every worker node, add the worker nodes \
         (SELECT citus_add_node(host, port)), then run `outbound migrate --citus` again"
    )]
    NotInstalled,
    #[error(
        "this is not the Citus coordinator: run `outbound migrate --citus` with DATABASE_URL \
         pointing at the coordinator"
    )]
    NotCoordinator,
    #[error("{0}")]
    Store(#[from] StoreError),
}

impl From<tokio_postgres::Error> for CitusError {
    fn from(e: tokio_postgres::Error) -> Self {
        CitusError::Store(e.into())
    }
}

/// What `distribute` did.
#[derive(Debug, Default)]
pub struct Distributed {
    /// Tables placed now (empty when everything already was).
    pub placed: Vec<String>,
}

/// Distributes outbound's tables (see DISTRIBUTION), turns the fan-out's
/// NOTIFY off (on Citus the trigger runs on the worker node that holds the
/// tenant, where a NOTIFY would make any transaction that writes on two
/// nodes fail at COMMIT; workers poll instead) and switches the fan-out to
/// its per-tenant path (`settings.distributed`, V18). Idempotent: a table already
/// placed is left alone. The client's session gets
/// `citus.enable_unsafe_triggers` for the fan-out trigger's table only.
pub async fn distribute(client: &impl GenericClient) -> Result<Distributed, CitusError> {
    check(client).await?;
    let placed: Vec<String> = client
        .query(queries::CITUS_DISTRIBUTED, &[])
        .await?
        .iter()
        .map(|r| r.try_get::<_, String>("relation"))
        .collect::<Result<_, _>>()?;
    // First the fan-out's switch (it works either way on one node, and
    // only its per-tenant path on Citus). Creating a distributed table's
    // shards in the same transaction as its foreign keys' targets needs one
    // connection per node.
    client
        .batch_execute(
            "UPDATE outbound.settings SET notify = false, distributed = true
                 WHERE notify OR NOT distributed;
             SET citus.multi_shard_modify_mode = 'sequential';
             SET citus.enable_unsafe_triggers = on;",
        )
        .await?;
    let mut done = Distributed::default();
    for (table, placement) in DISTRIBUTION {
        if placed.iter().any(|p| p == table) {
            continue;
        }
        match placement {
            Placement::Anchor => {
                client
                    .execute(
                        "SELECT create_distributed_table($1::text::regclass, 'id')",
                        &[table],
                    )
                    .await?
            }
            Placement::ByTenant => {
                client
                    .execute(
                        "SELECT create_distributed_table($1::text::regclass, 'tenant_id', \
                         colocate_with => 'outbound.tenants')",
                        &[table],
                    )
                    .await?
            }
            Placement::Reference => {
                client
                    .execute(
                        "SELECT create_reference_table($1::text::regclass)",
                        &[table],
                    )
                    .await?
            }
        };
        done.placed.push(table.to_string());
    }
    client
        .batch_execute(
            "RESET citus.enable_unsafe_triggers;
             RESET citus.multi_shard_modify_mode;",
        )
        .await?;
    Ok(done)
}

/// Refuses unless this database is a Citus coordinator's (the citus
/// extension is installed, and this is the node that distributes).
pub async fn check(client: &impl GenericClient) -> Result<(), CitusError> {
    let Some(row) = client.query_opt(queries::CITUS_INSTALLED, &[]).await? else {
        return Err(CitusError::NotInstalled);
    };
    let old: bool = row.try_get("old_citus")?;
    if !old {
        let coordinator: bool = client
            .query_one("SELECT citus_is_coordinator()", &[])
            .await?
            .try_get(0)?;
        if !coordinator {
            return Err(CitusError::NotCoordinator);
        }
    }
    Ok(())
}

/// Whether outbound's queue is distributed here (`migrate --citus` ran).
pub async fn is_distributed(client: &impl GenericClient) -> Result<bool, StoreError> {
    if client
        .query_opt(queries::CITUS_INSTALLED, &[])
        .await?
        .is_none()
    {
        return Ok(false);
    }
    let rows = client.query(queries::CITUS_DISTRIBUTED, &[]).await?;
    for row in rows {
        if row.try_get::<_, String>("relation")? == "outbound.deliveries" {
            return Ok(true);
        }
    }
    Ok(false)
}

/// One shard group: its shard of outbound.tenants and the tenants in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardGroup {
    pub shard: i64,
    pub tenants: Vec<TenantId>,
}

/// Every shard group that holds a tenant, in shard order.
pub async fn shard_groups(client: &impl GenericClient) -> Result<Vec<ShardGroup>, StoreError> {
    let stmt = client.prepare_cached(queries::CITUS_SHARD_GROUPS).await?;
    client
        .query(&stmt, &[])
        .await?
        .iter()
        .map(|r| {
            Ok(ShardGroup {
                shard: r.try_get("shard")?,
                tenants: ids(r, "tenants")?,
            })
        })
        .collect()
}

/// The tenants with operator events due now, one list per shard group.
pub async fn operator_event_groups(
    client: &impl GenericClient,
) -> Result<Vec<Vec<TenantId>>, StoreError> {
    let stmt = client
        .prepare_cached(queries::CITUS_OPERATOR_EVENT_GROUPS)
        .await?;
    client
        .query(&stmt, &[])
        .await?
        .iter()
        .map(|r| ids(r, "tenants"))
        .collect()
}

/// Tenants with deliveries due now (at most 1,000).
pub async fn due_tenants(client: &impl GenericClient) -> Result<Vec<TenantId>, StoreError> {
    let stmt = client.prepare_cached(queries::CITUS_DUE_TENANTS).await?;
    client
        .query(&stmt, &[])
        .await?
        .iter()
        .map(|r| super::id(r, "tenant_id"))
        .collect()
}

/// The ids of the worker processes whose heartbeat is younger than `within_ms`.
pub async fn live_workers(
    client: &impl GenericClient,
    within_ms: i64,
) -> Result<Vec<String>, StoreError> {
    let stmt = client.prepare_cached(queries::CITUS_LIVE_WORKERS).await?;
    client
        .query(&stmt, &[&within_ms])
        .await?
        .iter()
        .map(|r| Ok(r.try_get("id")?))
        .collect()
}
