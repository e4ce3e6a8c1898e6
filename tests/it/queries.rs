//! Every named query prepares against the migrated schema.

use outbound::store::queries;

use crate::helpers::db::TestDb;

#[tokio::test]
async fn every_named_query_prepares() {
    let db = TestDb::new().await;
    let c = db.client().await;
    assert!(!queries::ALL.is_empty());
    for (file, sql) in queries::ALL {
        if queries::NEEDS_EXTENSION.contains(file) {
            continue;
        }
        if let Err(e) = c.prepare(sql).await {
            panic!("sql/queries/{file} does not prepare: {e}");
        }
    }
}
