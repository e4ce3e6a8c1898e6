//! Who runs maintenance: pg_cron where the extension is installed (`outbound
//! migrate` registers the job, the service's own scheduler stands down),
//! the built-in scheduler elsewhere, one process at a time.

use std::time::Duration;

use outbound::store;

use crate::helpers::cron_cluster::{CronCluster, CRON_DATABASE};
use crate::helpers::db::{connect, TestDb};

const BIN: &str = env!("CARGO_BIN_EXE_outbound");

/// Runs `outbound migrate` on `url`; answers its stdout.
async fn migrate(url: &str) -> String {
    let out = tokio::process::Command::new(BIN)
        .arg("migrate")
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("run outbound migrate");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "outbound migrate failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test]
async fn with_pg_cron_migrate_schedules_maintenance_and_the_built_in_scheduler_stands_down() {
    assert!(
        CronCluster::available(),
        "pg_cron not found (no /usr/share/postgresql/*/extension/pg_cron.control): \
         run ./test.sh, which installs it, or apt-get install postgresql-NN-cron \
         (NN: the PostgreSQL major version, e.g. 15)"
    );
    let cluster = tokio::task::spawn_blocking(CronCluster::start)
        .await
        .unwrap();
    let admin = connect(&cluster.url_for("postgres")).await;
    admin
        .batch_execute(&format!("CREATE DATABASE {CRON_DATABASE}"))
        .await
        .unwrap();
    admin
        .batch_execute("CREATE DATABASE outbound_plain")
        .await
        .unwrap();
    // What an operator does once, as a superuser, in cron.database_name.
    let cron_url = cluster.url_for(CRON_DATABASE);
    connect(&cron_url)
        .await
        .batch_execute("CREATE EXTENSION pg_cron")
        .await
        .unwrap();

    let said = migrate(&cron_url).await;
    assert!(
        said.contains("maintenance scheduled with pg_cron"),
        "{said}"
    );
    // Again, as on every upgrade: the job is updated, not duplicated.
    migrate(&cron_url).await;
    let c = connect(&cron_url).await;
    let jobs: Vec<(String, String, String, String, bool)> = c
        .query(
            "SELECT jobname, schedule, command, database, active FROM cron.job",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect();
    assert_eq!(
        jobs,
        [(
            "outbound-maintain".to_string(),
            "*/10 * * * *".to_string(),
            "SELECT outbound.maintain()".to_string(),
            CRON_DATABASE.to_string(),
            true
        )]
    );
    // The command pg_cron will run works in that database.
    let ran: String = c
        .query_one("SELECT outbound.maintain()::text", &[])
        .await
        .unwrap()
        .get(0);
    assert!(ran.contains(r#""ran": true"#), "{ran}");

    // `serve` asks the same question at start-up and stands down.
    let pool = store::connect_pool(&cron_url, 2).unwrap();
    assert!(
        outbound::app::built_in_maintainer(&pool).await.is_none(),
        "pg_cron runs maintenance: no built-in scheduler"
    );
    pool.close();

    // The same cluster, a database without the extension: the built-in one runs.
    let plain_url = cluster.url_for("outbound_plain");
    let said = migrate(&plain_url).await;
    assert!(said.contains("no pg_cron here"), "{said}");
    let pool = store::connect_pool(&plain_url, 2).unwrap();
    assert!(outbound::app::built_in_maintainer(&pool).await.is_some());
    pool.close();
    drop(c);
    drop(admin);
}

#[tokio::test]
async fn without_pg_cron_one_built_in_scheduler_at_a_time_does_the_work() {
    let db = TestDb::new().await;
    let first = outbound::app::built_in_maintainer(&db.pool)
        .await
        .expect("no pg_cron in the test cluster: the built-in scheduler runs");
    // A second process (its own pool), starting at the same time.
    let other_pool = store::connect_pool(&db.url, 2).unwrap();
    let second = outbound::app::built_in_maintainer(&other_pool)
        .await
        .expect("every process has one");

    // Hold the first run inside its work: it has taken the function's
    // advisory lock and waits for a table this transaction holds.
    let mut holder = db.connect().await;
    let tx = holder.transaction().await.unwrap();
    tx.batch_execute("LOCK TABLE outbound.workers IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let running = tokio::spawn(async move { first.run_once(None).await });
    let watcher = db.client().await;
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let waiting: i64 = watcher
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity
                     WHERE datname = current_database() AND pid <> pg_backend_pid()
                       AND wait_event_type = 'Lock'
                       AND query LIKE '%maintain%'",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            if waiting == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the first run reaches its work within 10 s");

    let meanwhile = second.run_once(None).await.unwrap();
    assert_eq!(
        meanwhile["ran"], false,
        "the second process stands aside while the first works: {meanwhile}"
    );

    tx.commit().await.unwrap();
    let done = running.await.unwrap().unwrap();
    assert_eq!(done["ran"], true, "{done}");
    // With nobody else working, the second one's next run does the work.
    let next = second.run_once(None).await.unwrap();
    assert_eq!(next["ran"], true, "{next}");
    other_pool.close();
}
