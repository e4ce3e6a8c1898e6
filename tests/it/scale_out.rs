//! Scale-out: one `outbound serve` and two `outbound worker` processes on
//! one database share the queue, and a worker killed with SIGKILL mid-flow
//! costs nothing but duplicates of what it had in flight.

use std::collections::{HashMap, HashSet};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;
use tokio::process::{Child, Command};

use crate::helpers::db::TestDb;
use crate::helpers::eventually;
use crate::helpers::factory::{tenant, webhook};
use crate::helpers::receiver::{Reply, TestReceiver};
use crate::serve::start_serve;

const BIN: &str = env!("CARGO_BIN_EXE_outbound");
const EVENTS: usize = 3000;

/// Settings every process shares: a short lease (longer than the timeout,
/// as required) so the killed worker's deliveries come back within the
/// test, and a per-destination cap above what the three processes can hold
/// in flight, so the cap is not what spreads (or limits) the work.
const SHARED_ENV: &[(&str, &str)] = &[
    ("DESTINATIONS_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8"),
    ("AES_ENCRYPTION_SECRET", "test-aes-secret"),
    ("DELIVERY_TIMEOUT_SECONDS", "2"),
    ("DELIVERY_LEASE_SECONDS", "4"),
    ("DELIVERY_CONCURRENCY", "32"),
    ("DELIVERY_DESTINATION_CONCURRENCY", "200"),
];

fn start_worker(db: &TestDb) -> Child {
    Command::new(BIN)
        .arg("worker")
        .env("DATABASE_URL", &db.url)
        .envs(SHARED_ENV.iter().copied())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn outbound worker")
}

/// The worker id a process registered under (the id its leases carry).
async fn worker_id(c: &deadpool_postgres::Object, child: &Child) -> String {
    let pid = i32::try_from(child.id().expect("running")).unwrap();
    eventually(Duration::from_secs(20), || async {
        c.query_opt("SELECT id FROM outbound.workers WHERE pid = $1", &[&pid])
            .await
            .unwrap()
            .map(|r| r.get::<_, String>(0))
    })
    .await
    .expect("the process registers its worker within 20 s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_and_serve_share_the_queue_and_a_killed_worker_only_duplicates_its_leases() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let rx = TestReceiver::start().await;
    // A short wait per delivery keeps several of each process's sends in
    // flight at once, as a real receiver would.
    rx.set_default(Reply::Delay(Duration::from_millis(3), 200));
    let acme = tenant(&c, "acme").await;
    webhook(&c, &acme, "d", &["*"], &rx.url("/"), json!({"secret": "s"})).await;

    let (_serve, addr) = start_serve(&db, SHARED_ENV).await;
    let mut doomed = start_worker(&db);
    let survivor = start_worker(&db);
    let doomed_id = worker_id(&c, &doomed).await;
    let survivor_id = worker_id(&c, &survivor).await;

    // Who holds leases, sampled throughout: a lease is only ever taken by
    // the process that claimed the delivery, so an id seen here did work.
    let owners: Arc<Mutex<HashSet<String>>> = Arc::default();
    let sampling = {
        let owners = owners.clone();
        let c = db.client().await;
        tokio::spawn(async move {
            loop {
                let rows = c
                    .query(
                        "SELECT DISTINCT lease_owner FROM outbound.deliveries WHERE lease_owner IS NOT NULL",
                        &[],
                    )
                    .await
                    .unwrap();
                owners
                    .lock()
                    .unwrap()
                    .extend(rows.iter().map(|r| r.get::<_, String>(0)));
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };

    // Publish through serve's API, 16 at a time.
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let publishing: Vec<_> = (0..16)
        .map(|_| {
            let (client, next, addr) = (client.clone(), next.clone(), addr.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= EVENTS {
                        return;
                    }
                    let body = json!({
                        "id": format!("e{i}"), "tenant_id": "acme", "topic": "t", "data": {"n": i}
                    });
                    let req = hyper::Request::post(format!("http://{addr}/api/v1/publish"))
                        .header("authorization", "Bearer test-api-key")
                        .header("content-type", "application/json")
                        .body(Full::new(Bytes::from(body.to_string())))
                        .unwrap();
                    let resp = client.request(req).await.expect("publish");
                    let status = resp.status();
                    assert!(status.is_success(), "publish answered {status}");
                    // Read to the end, so the connection is reused.
                    resp.into_body().collect().await.expect("publish answer");
                }
            })
        })
        .collect();

    // Mid-flow: a quarter delivered, the doomed worker holding leases.
    rx.wait_for(EVENTS / 4, Duration::from_secs(20)).await;
    eventually(Duration::from_secs(10), || async {
        owners.lock().unwrap().contains(&doomed_id).then_some(())
    })
    .await
    .expect("the doomed worker takes part before it dies");
    doomed.start_kill().unwrap(); // SIGKILL
    doomed.wait().await.unwrap();
    // What it had in flight: its leases outlive it (until they expire), and
    // nothing else of its can come back. It sent each at most once and did
    // not record the answer, so these, and only these, may arrive twice.
    let in_flight: HashSet<String> = c
        .query(
            "SELECT event_id FROM outbound.deliveries WHERE lease_owner = $1",
            &[&doomed_id],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();

    for task in publishing {
        task.await.unwrap();
    }
    // The survivors take the killed worker's deliveries once its leases
    // expire (4 s), and drain the queue.
    eventually(Duration::from_secs(25), || async {
        let left: i64 = c
            .query_one("SELECT count(*) FROM outbound.deliveries", &[])
            .await
            .unwrap()
            .get(0);
        (left == 0).then_some(())
    })
    .await
    .expect("the queue drains within 25 s");
    sampling.abort();

    let mut arrivals: HashMap<String, usize> = HashMap::new();
    for r in rx.requests() {
        let id = r.header("x-outpost-event-id").expect("event id header");
        *arrivals.entry(id.to_string()).or_default() += 1;
    }
    let expected: HashSet<String> = (0..EVENTS).map(|i| format!("e{i}")).collect();
    let arrived: HashSet<String> = arrivals.keys().cloned().collect();
    assert_eq!(arrived, expected, "every event arrives");
    let duplicated: HashSet<String> = arrivals
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| id.clone())
        .collect();
    assert!(
        arrivals.values().all(|n| *n <= 2),
        "nothing arrives more than twice"
    );
    assert!(
        duplicated.is_subset(&in_flight),
        "only the killed worker's in-flight deliveries arrive twice: {:?} not among its {} leases",
        duplicated.difference(&in_flight).collect::<Vec<_>>(),
        in_flight.len()
    );
    assert_eq!(rx.count(), EVENTS + duplicated.len());
    let succeeded: i64 = c
        .query_one(
            "SELECT count(DISTINCT event_id) FROM outbound.attempts WHERE status = 'success'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(succeeded, EVENTS as i64, "every delivery is logged as sent");

    let owners = owners.lock().unwrap().clone();
    assert!(
        owners.contains(&doomed_id) && owners.contains(&survivor_id),
        "both workers held leases: {owners:?} (workers {doomed_id}, {survivor_id})"
    );
    eprintln!(
        "scale-out: {EVENTS} events, {} processes held leases, killed worker had {} in flight, {} arrived twice",
        owners.len(),
        in_flight.len(),
        duplicated.len()
    );
}
