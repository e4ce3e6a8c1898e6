//! Schema migrations (refinery, `sql/migrations/`), applied under an advisory
//! lock so that several processes starting at once migrate exactly once.

use tokio_postgres::NoTls;

use super::StoreError;

mod embedded {
    refinery::embed_migrations!("sql/migrations");
}

/// Arbitrary constant shared by every outbound process: "outbound migrate".
const MIGRATION_LOCK: i64 = 0x6f75_7462_6d69_6772;

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("migration failed: {0}")]
    Refinery(#[from] refinery::Error),
}

impl From<tokio_postgres::Error> for MigrateError {
    fn from(e: tokio_postgres::Error) -> Self {
        MigrateError::Store(e.into())
    }
}

/// Applies pending migrations; returns the names of those applied.
pub async fn migrate(url: &str) -> Result<Vec<String>, MigrateError> {
    let (mut client, connection) = tokio_postgres::connect(url, NoTls).await?;
    let conn = tokio::spawn(connection);
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    // refinery keeps its history table in our schema, which must exist first.
    client
        .batch_execute("CREATE SCHEMA IF NOT EXISTS outbound")
        .await?;
    // On Citus, a migration that (re)creates the fan-out trigger on the
    // distributed events table needs this, for this session only.
    if client
        .query_opt(super::queries::CITUS_INSTALLED, &[])
        .await?
        .is_some()
    {
        client
            .batch_execute("SET citus.enable_unsafe_triggers = on")
            .await?;
    }
    let report = embedded::migrations::runner()
        .set_migration_table_name("outbound.refinery_schema_history")
        .run_async(&mut client)
        .await;
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await?;
    drop(client);
    let _ = conn.await;
    Ok(report?
        .applied_migrations()
        .iter()
        .map(|m| m.to_string())
        .collect())
}

/// A digest of every migration's name and text: the test harness names its
/// template database after it, so a changed schema gets a fresh template.
pub fn schema_fingerprint() -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for m in embedded::migrations::runner().get_migrations() {
        hash.update(m.to_string().as_bytes());
        hash.update(m.checksum().to_le_bytes());
    }
    hex::encode(&hash.finalize()[..8])
}
