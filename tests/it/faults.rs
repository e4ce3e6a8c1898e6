//! Faults: a worker killed mid-send, and Postgres restarting under load.

use std::process::Stdio;
use std::time::Duration;

use chrono::Utc;
use outbound::embedded_pg::{ClusterOptions, PrivateCluster};
use serde_json::json;
use tokio::process::Command;

use crate::helpers::app::worker;
use crate::helpers::db::{connect, TestDb};
use crate::helpers::eventually;
use crate::helpers::factory::{tenant, webhook};
use crate::helpers::receiver::{Reply, TestReceiver};
use crate::serve::http_get;

const BIN: &str = env!("CARGO_BIN_EXE_outbound");

#[tokio::test]
async fn a_worker_killed_mid_send_loses_nothing() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let rx = TestReceiver::start().await;
    rx.set_default(Reply::Hang);
    let acme = tenant(&c, "acme").await;
    webhook(&c, &acme, "d", &["*"], &rx.url("/"), json!({"secret": "s"})).await;
    c.execute(
        "INSERT INTO outbound.events (id, tenant_id, topic, data) SELECT 'e' || g, 'acme', 't', '{}' FROM generate_series(1, 20) g",
        &[],
    )
    .await
    .unwrap();

    let mut child = Command::new(BIN)
        .arg("worker")
        .env("DATABASE_URL", &db.url)
        .env("DESTINATIONS_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8")
        .env("DELIVERY_TIMEOUT_SECONDS", "60")
        .env("AES_ENCRYPTION_SECRET", "test-aes-secret")
        .env("DELIVERY_LEASE_SECONDS", "90")
        // All 20 held open at once: above the per-destination cap's default.
        .env("DELIVERY_DESTINATION_CONCURRENCY", "32")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Every delivery is now claimed by the child and held open by the receiver.
    rx.wait_for(20, Duration::from_secs(30)).await;
    let leased: i64 = c
        .query_one(
            "SELECT count(*) FROM outbound.deliveries WHERE state = 'leased'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(leased, 20);
    child.start_kill().unwrap(); // SIGKILL
    child.wait().await.unwrap();

    // Another worker, once the leases have expired (time passed in).
    rx.set_default(Reply::Status(200));
    let w = worker(&db, |s| s.delivery.destination_concurrency = 32).await;
    let after_expiry = Utc::now() + chrono::Duration::seconds(91);
    assert_eq!(
        w.run_once(Utc::now()).await.unwrap().accepted,
        0,
        "leases still held"
    );
    assert_eq!(w.run_once(after_expiry).await.unwrap().accepted, 20);

    let delivered: i64 = c
        .query_one(
            "SELECT count(DISTINCT event_id) FROM outbound.attempts WHERE status = 'success'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(delivered, 20, "every event delivered after the crash");
    let queued: i64 = c
        .query_one("SELECT count(*) FROM outbound.deliveries", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(queued, 0);
}

/// A cluster of its own, removed when the test ends.
struct OwnCluster {
    cluster: PrivateCluster,
    dir: std::path::PathBuf,
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = self.cluster.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn workers_and_api_ride_out_a_postgres_restart() {
    let dir = std::env::temp_dir().join(format!("outbound-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let opts = ClusterOptions::for_tests();
    let own = OwnCluster {
        cluster: PrivateCluster::start(&dir, &opts).expect("own cluster"),
        dir: dir.clone(),
    };
    let url = own.cluster.url();
    outbound::store::migrate::migrate(&url).await.unwrap();
    let rx = TestReceiver::start().await;
    rx.set_default(Reply::Delay(Duration::from_millis(20), 200));
    {
        let c = connect(&url).await;
        c.batch_execute("INSERT INTO outbound.tenants (id) VALUES ('acme')")
            .await
            .unwrap();
        c.execute(
            "INSERT INTO outbound.destinations (id, tenant_id, type, topics, config, credentials)
             VALUES ('d', 'acme', 'webhook', '{*}', $1, '{\"secret\":\"s\"}')",
            &[&json!({"url": rx.url("/")})],
        )
        .await
        .unwrap();
    }
    let mut child = Command::new(BIN)
        .arg("serve")
        .env("DATABASE_URL", &url)
        .env("API_PORT", "0")
        .env("API_KEY", "test-api-key")
        .env("API_JWT_SECRET", "test-jwt-secret")
        .env("AES_ENCRYPTION_SECRET", "test-aes-secret")
        .env("DESTINATIONS_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8")
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let addr = crate::serve::read_address(&mut child).await;
    assert_eq!(http_get(&addr, "/healthz").await.0, 200);

    let publish = |from: i32, to: i32| {
        let url = url.clone();
        async move {
            let c = connect(&url).await;
            c.execute(
                "INSERT INTO outbound.events (id, tenant_id, topic, data)
                 SELECT 'e' || g, 'acme', 't', '{}' FROM generate_series($1::int, $2::int) g",
                &[&from, &to],
            )
            .await
            .unwrap();
        }
    };
    // Accepted before the restart, some still being delivered when it hits.
    publish(1, 200).await;
    rx.wait_for(1, Duration::from_secs(10)).await;
    own.cluster.restart().unwrap();
    publish(201, 300).await;

    // Down: /healthz answers 503 promptly instead of hanging.
    own.cluster.stop().unwrap();
    let started = std::time::Instant::now();
    let (status, _) = http_get(&addr, "/healthz").await;
    assert_eq!(status, 503);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered in {:?}",
        started.elapsed()
    );

    // Back (same port): everything recovers by itself.
    let restarted = PrivateCluster::start(&dir, &opts).unwrap();
    assert_eq!(restarted.url(), url);
    let healthy = eventually(Duration::from_secs(20), || {
        let addr = addr.clone();
        async move { (http_get(&addr, "/healthz").await.0 == 200).then_some(()) }
    })
    .await;
    assert!(healthy.is_some(), "/healthz back to 200 within seconds");
    publish(301, 400).await;

    let c = connect(&url).await;
    let all = eventually(Duration::from_secs(60), || {
        let c = &c;
        async move {
            let n: i64 = c
                .query_one(
                    "SELECT count(DISTINCT event_id) FROM outbound.attempts WHERE status = 'success'",
                    &[],
                )
                .await
                .ok()?
                .get(0);
            (n == 400).then_some(n)
        }
    })
    .await;
    assert_eq!(
        all,
        Some(400),
        "every event accepted before and after was delivered"
    );
    let mut ids: Vec<String> = rx
        .requests()
        .iter()
        .filter_map(|r| r.header("x-outpost-event-id").map(String::from))
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 400);

    child.start_kill().unwrap();
    let _ = child.wait().await;
}
