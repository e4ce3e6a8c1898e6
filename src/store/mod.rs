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
pub mod replays;
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

/// How a statement runs: for one Citus shard group (`group`: its tenants
/// at hand), its text routed (`queries::routed`) with the tenants as its
/// last parameter; with None, on a single node, the text as it is, without
/// that parameter.
pub(crate) fn for_group<'a>(
    sql: &'static str,
    group: Option<&'a [crate::domain::ids::TenantId]>,
) -> Routing<'a> {
    match group {
        Some(tenants) => Routing {
            sql: queries::routed(sql),
            tenants: Some(strs(tenants)),
        },
        None => Routing { sql, tenants: None },
    }
}

pub(crate) struct Routing<'a> {
    pub(crate) sql: &'static str,
    tenants: Option<Vec<&'a str>>,
}

impl Routing<'_> {
    /// `params`, then the group's tenants where the statement is routed.
    pub(crate) fn params<'b>(
        &'b self,
        params: &[&'b (dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Vec<&'b (dyn tokio_postgres::types::ToSql + Sync)> {
        let mut all = params.to_vec();
        if let Some(tenants) = &self.tenants {
            all.push(tenants);
        }
        all
    }
}

/// Ids (or kinds) as the `text[]` a statement takes.
pub(crate) fn strs<T: AsRef<str>>(ids: &[T]) -> Vec<&str> {
    ids.iter().map(AsRef::as_ref).collect()
}
