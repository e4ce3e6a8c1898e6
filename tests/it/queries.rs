//! Every named query prepares against the migrated schema.

use outbound::store::queries;

use crate::helpers::db::TestDb;
use crate::helpers::factory::{destination, tenant};

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

/// The worker's statements are planned once and cached, usually while the
/// queue's statistics say it is (nearly) empty. Its sessions must still
/// never plan a scan of the whole queue or of an events partition: the
/// claim's plan is checked here with fresh statistics of an empty queue and
/// 6,000 deliveries actually waiting.
#[tokio::test]
async fn worker_claim_plan_stays_on_indexes_whatever_the_statistics() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let acme = tenant(&c, "acme").await;
    for d in ["d1", "d2", "d3"] {
        destination(&c, &acme, d, &["*"], None).await;
    }
    c.batch_execute("ANALYZE outbound.deliveries; ANALYZE outbound.events")
        .await
        .unwrap();
    c.batch_execute(
        "INSERT INTO outbound.events (tenant_id, topic, data)
         SELECT 'acme', 'bulk', json_build_object('n', g) FROM generate_series(1, 2000) g",
    )
    .await
    .unwrap();

    let pool = outbound::store::connect_worker_pool(&db.url, 1).unwrap();
    let w = pool.get().await.unwrap();
    // Worker writes may be lost in a crash (they are redone), so they do
    // not wait for the WAL flush.
    let sync: String = w
        .query_one("SHOW synchronous_commit", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(sync, "off");
    w.batch_execute(&format!(
        "SET plan_cache_mode = force_generic_plan; PREPARE claim AS {}",
        queries::DELIVERIES_CLAIM
    ))
    .await
    .unwrap();
    let plan: String = w
        .query(
            "EXPLAIN (ANALYZE, COSTS OFF) EXECUTE claim(NULL, 50, 'w1', 30000)",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0) + "\n")
        .collect();
    assert!(
        !plan.contains("Seq Scan"),
        "the claim scans a table:\n{plan}"
    );
    assert!(plan.contains("Tid Scan on deliveries"), "{plan}");
    assert!(plan.contains("rows=50 loops=1"), "50 rows claimed:\n{plan}");
}
