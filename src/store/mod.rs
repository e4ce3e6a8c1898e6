//! The only code that speaks SQL. One function per named query in
//! `sql/queries/<area>/<verb>.sql`; functions take any client (pooled
//! connection or transaction) and return domain types; SQLSTATEs become
//! [`StoreError`] variants here and nowhere else.

pub mod citus;
pub mod deliveries;
pub mod destinations;
pub mod error;
pub mod events;
pub mod held;
pub mod logs;
pub mod maintenance;
pub mod metrics;
pub mod migrate;
pub mod operator_events;
pub mod pool;
pub mod publisher;
pub mod queries;
pub mod queue_stats;
pub mod tenants;
pub mod wakeups;
pub mod workers;

pub use deadpool_postgres::GenericClient;
pub use error::StoreError;
pub use pool::{connect_pool, connect_worker_pool, Pool};

/// Reads an id column as its typed id. Ids are checked when they come in
/// and by the schema, so a refusal here means a row written around both.
pub(crate) fn id<T>(row: &tokio_postgres::Row, column: &str) -> Result<T, StoreError>
where
    T: TryFrom<String, Error = crate::domain::ids::IdError>,
{
    Ok(T::try_from(row.try_get::<_, String>(column)?)?)
}

/// Reads a text[] column of ids.
pub(crate) fn ids<T>(row: &tokio_postgres::Row, column: &str) -> Result<Vec<T>, StoreError>
where
    T: TryFrom<String, Error = crate::domain::ids::IdError>,
{
    row.try_get::<_, Vec<String>>(column)?
        .into_iter()
        .map(|s| T::try_from(s).map_err(StoreError::from))
        .collect()
}

/// What runs a statement for one Citus shard group (`group`: its tenants at
/// hand) or, with None, on a single node: the statement's text (routed on
/// Citus, see `queries::routed`) and the tenant filter to bind (null on a
/// single node).
pub(crate) fn for_group<'a>(
    sql: &'static str,
    group: Option<&'a [crate::domain::ids::TenantId]>,
) -> (&'static str, Option<Vec<&'a str>>) {
    match group {
        Some(tenants) => (queries::routed(sql), Some(strs(tenants))),
        None => (sql, None),
    }
}

/// Ids (or kinds) as the `text[]` a statement takes.
pub(crate) fn strs<T: AsRef<str>>(ids: &[T]) -> Vec<&str> {
    ids.iter().map(AsRef::as_ref).collect()
}
