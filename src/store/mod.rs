//! The only code that speaks SQL. One function per named query in
//! `sql/queries/<area>/<verb>.sql`; functions take any client (pooled
//! connection or transaction) and return domain types; SQLSTATEs become
//! [`StoreError`] variants here and nowhere else.

pub mod deliveries;
pub mod destinations;
pub mod error;
pub mod events;
pub mod logs;
pub mod maintenance;
pub mod metrics;
pub mod migrate;
pub mod pool;
pub mod publisher;
pub mod queries;
pub mod tenants;
pub mod workers;

pub use deadpool_postgres::GenericClient;
pub use error::StoreError;
pub use pool::{connect_pool, connect_worker_pool, Pool};
