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
    // Destinations that have nothing queued: the claim must not read them.
    let other = tenant(&c, "other").await;
    for i in 0..40 {
        destination(&c, &other, &format!("idle{i}"), &["never.published"], None).await;
    }
    // One of them rate-limited: its bucket is read (and locked) by key too.
    c.batch_execute(
        "UPDATE outbound.destinations SET delivery_policy = '{\"rate_limit\": {\"per_second\": 1000}}' \
         WHERE id = 'd1'; ANALYZE outbound.destinations",
    )
    .await
    .unwrap();
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
            "EXPLAIN (ANALYZE, COSTS OFF) EXECUTE claim(NULL, 50, 'w1', 30000, 100, '{}', '{}', '{}', 5, '{}')",
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
    // Destinations are looked up one by one, never scanned as a whole.
    for line in plan.lines().filter(|l| l.contains("on destinations")) {
        let rows: u32 = line
            .split("rows=")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        assert!(
            rows <= 3,
            "the claim reads destinations it has no rows for:\n{plan}"
        );
    }
    assert!(plan.contains("rows=50 loops=1"), "50 rows claimed:\n{plan}");
}

/// A page of events or attempts walks an index in the page's order and
/// stops at the limit: for one tenant (its own index) and for the operator
/// across all tenants (the time index). It never reads a tenant's whole
/// history to sort it.
#[tokio::test]
async fn list_pages_walk_an_index_in_order() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let big = tenant(&c, "big").await;
    tenant(&c, "small").await;
    destination(&c, &big, "d1", &["*"], None).await;
    c.batch_execute(
        "INSERT INTO outbound.events (tenant_id, topic, data)
         SELECT CASE WHEN g % 10 = 0 THEN 'small' ELSE 'big' END, 'bulk', '{}'
         FROM generate_series(1, 4000) g;
         INSERT INTO outbound.attempts (tenant_id, event_id, event_time, destination_id,
                                        attempt_number, status, code, duration_ms)
         SELECT e.tenant_id, e.id, e.time, 'd1', 1, 'success', '200', 1 FROM outbound.events e;
         ANALYZE outbound.events; ANALYZE outbound.attempts;",
    )
    .await
    .unwrap();

    let plan = |sql: String| {
        let c = &c;
        async move {
            c.query(&sql, &[])
                .await
                .unwrap()
                .iter()
                .map(|r| r.get::<_, String>(0) + "\n")
                .collect::<String>()
        }
    };
    let none = "NULL";
    for (query, params) in [
        (
            queries::EVENTS_LIST_DESC,
            [none; 10].join(",") + ",50,'small'",
        ),
        (
            queries::EVENTS_LIST_ASC,
            [none; 10].join(",") + ",50,'small'",
        ),
        (queries::EVENTS_LIST_DESC, [none; 10].join(",") + ",50,NULL"),
        (
            queries::ATTEMPTS_LIST_DESC,
            [none; 11].join(",") + ",50,NULL,'small'",
        ),
        (
            queries::ATTEMPTS_LIST_ASC,
            [none; 11].join(",") + ",50,NULL,'small'",
        ),
        (
            queries::ATTEMPTS_LIST_DESC,
            [none; 11].join(",") + ",50,NULL,NULL",
        ),
    ] {
        // Custom plans (the first executions of a cached statement) and
        // the generic plan it may settle on must both walk an index.
        for mode in ["force_custom_plan", "force_generic_plan"] {
            c.batch_execute(&format!(
                "DEALLOCATE ALL; SET plan_cache_mode = {mode}; PREPARE q AS {query}"
            ))
            .await
            .unwrap();
            let p = plan(format!("EXPLAIN (ANALYZE, COSTS OFF) EXECUTE q({params})")).await;
            assert!(p.contains("Merge Append"), "{mode} {params}:\n{p}");
            assert!(!p.contains("heapsort"), "{mode} sorts the rows:\n{p}");
            // Empty partitions may be scanned (or pruned); a populated one never.
            for line in p.lines().filter(|l| l.contains("Seq Scan")) {
                assert!(
                    line.contains("never executed") || line.contains(" rows=0 "),
                    "{mode} scans a partition:\n{p}"
                );
            }
        }
    }
}
