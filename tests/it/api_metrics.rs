//! Metrics over real HTTP.

use serde_json::json;

use crate::helpers::app::TestApp;
use crate::helpers::db::TestDb;
use crate::helpers::factory::tenant;

#[tokio::test]
async fn attempt_and_event_metrics_by_bucket_and_dimension() {
    let db = TestDb::new().await;
    let api = TestApp::start(&db).await;
    let c = db.client().await;
    tenant(&c, "acme").await;
    tenant(&c, "other").await;
    c.batch_execute(
        "INSERT INTO outbound.destinations (id, tenant_id, type, topics) VALUES ('d1', 'acme', 'webhook', '{*}');
         INSERT INTO outbound.events (id, tenant_id, topic, data, time) VALUES
           ('e1', 'acme', 'a', '{}', date_trunc('hour', now()) - interval '90 minutes'),
           ('e2', 'acme', 'b', '{}', date_trunc('hour', now()) - interval '30 minutes'),
           ('e3', 'other', 'a', '{}', date_trunc('hour', now()) - interval '30 minutes');
         INSERT INTO outbound.attempts (tenant_id, event_id, event_time, destination_id, attempt_number, manual, status, code, duration_ms, time)
         SELECT tenant_id, id, time, 'd1', n, n = 3, CASE WHEN n = 3 THEN 'success' ELSE 'failed' END::outbound.attempt_status,
                CASE WHEN n = 3 THEN '200' ELSE '500' END, 5, time + n * interval '1 second'
         FROM outbound.events, generate_series(1, 3) n WHERE tenant_id = 'acme';",
    )
    .await
    .unwrap();
    let start = (chrono::Utc::now() - chrono::Duration::hours(3)).format("%Y-%m-%dT%H:00:00Z");
    let end = (chrono::Utc::now() + chrono::Duration::hours(1)).format("%Y-%m-%dT%H:00:00Z");
    let range = format!("time[start]={start}&time[end]={end}");

    let (s, m) = api
        .admin(
            "GET",
            &format!("/api/v1/metrics/attempts?{range}&measures=count&measures=error_rate&measures=manual_retry_count&dimensions=status&filters[tenant_id]=acme"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{m}");
    let by_status: std::collections::HashMap<String, serde_json::Value> = m["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["dimensions"]["status"].as_str().unwrap().to_string(),
                p["metrics"].clone(),
            )
        })
        .collect();
    assert_eq!(by_status["failed"]["count"], 4);
    assert_eq!(by_status["success"]["count"], 2);
    assert_eq!(by_status["success"]["manual_retry_count"], 2);
    assert_eq!(by_status["failed"]["error_rate"], 1.0);
    assert_eq!(m["metadata"]["truncated"], false);

    let (_, m) = api
        .admin(
            "GET",
            &format!("/api/v1/metrics/attempts?{range}&measures=count&granularity=1h"),
            None,
        )
        .await;
    let counts: Vec<i64> = m["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["metrics"]["count"].as_i64().unwrap())
        .collect();
    assert_eq!(counts, [3, 3], "two hourly buckets: {m}");
    assert!(m["data"][0]["time_bucket"]
        .as_str()
        .unwrap()
        .ends_with(":00:00Z"));

    let (s, m) = api
        .admin(
            "GET",
            &format!("/api/v1/metrics/events?{range}&measures=count&dimensions=topic"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{m}");
    let by_topic: std::collections::HashMap<String, i64> = m["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["dimensions"]["topic"].as_str().unwrap().to_string(),
                p["metrics"]["count"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(by_topic["a"], 2);
    assert_eq!(by_topic["b"], 1);

    // A tenant sees only its own; tenant filters and dimensions are admin-only.
    let (_, tok) = api.admin("GET", "/api/v1/tenants/other/token", None).await;
    let token = tok["token"].as_str().unwrap();
    let (s, m) = api
        .as_token(
            token,
            "GET",
            &format!("/api/v1/metrics/events?{range}&measures=count"),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(m["data"][0]["metrics"]["count"], 1);
    let (s, _) = api
        .as_token(
            token,
            "GET",
            &format!("/api/v1/metrics/events?{range}&measures=count&filters[tenant_id]=acme"),
            None,
        )
        .await;
    assert_eq!(s, 403);
    assert_eq!(
        api.admin("GET", "/api/v1/metrics/events?measures=count", None)
            .await
            .0,
        400
    );
    assert_eq!(
        api.admin("GET", &format!("/api/v1/metrics/events?{range}"), None)
            .await
            .0,
        400
    );
    assert_eq!(
        api.admin(
            "GET",
            &format!("/api/v1/metrics/events?{range}&measures=count&granularity=7y"),
            None
        )
        .await
        .0,
        400
    );
    assert_eq!(
        api.admin(
            "GET",
            &format!("/api/v1/metrics/attempts?{range}&measures=bogus"),
            None
        )
        .await
        .0,
        400
    );
    let _ = json!(null);
}
