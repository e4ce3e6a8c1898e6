//! The database harness.
//!
//! One private cluster per test run (started here unless TEST_DATABASE_URL
//! is set), a template database migrated once — under an advisory lock, and
//! named after the schema's fingerprint so a changed migration gets a fresh
//! one — and a `CREATE DATABASE … TEMPLATE` per test, dropped when the test's
//! `TestDb` goes away.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use outbound::embedded_pg::{ClusterOptions, EmbeddedPgError, PrivateCluster};
use outbound::store::{self, Pool};
use tokio_postgres::NoTls;

pub struct Harness {
    /// URL of the maintenance database (`postgres`) of the test cluster.
    pub admin_url: String,
    template: String,
}

static HARNESS: OnceLock<Harness> = OnceLock::new();
static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Arbitrary lock id: "outbound test template".
const TEMPLATE_LOCK: i64 = 0x6f75_7474_6d70_6c00;

pub fn harness() -> &'static Harness {
    HARNESS.get_or_init(|| {
        // Set up on a thread of its own: tests run on their own runtimes and
        // this must not depend on (or block) any of them.
        std::thread::spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(set_up())
        })
        .join()
        // The set-up's own message (PostgreSQL not installed, say) is the test's.
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Folder of the run's private cluster.
pub fn test_cluster_dir() -> std::path::PathBuf {
    std::env::temp_dir().join("outbound-test-cluster")
}

async fn set_up() -> Harness {
    let admin_url = match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            // Several test processes may start at once: serialise on a lock file.
            let dir = test_cluster_dir();
            std::fs::create_dir_all(&dir).expect("test cluster folder");
            let lock =
                std::fs::File::create(std::env::temp_dir().join("outbound-test-cluster.lock"))
                    .expect("lock file");
            lock.lock().expect("locking the test cluster");
            let cluster = match PrivateCluster::start(&dir, &ClusterOptions::for_tests()) {
                Ok(cluster) => cluster,
                Err(EmbeddedPgError::BinariesNotFound) => panic!(
                    "PostgreSQL not found (initdb and pg_ctl, on PATH or in \
                     /usr/lib/postgresql/*/bin): run ./test.sh, which installs it, \
                     or apt-get install postgresql"
                ),
                Err(e) => panic!("starting the test cluster: {e}"),
            };
            drop(lock);
            cluster.url()
        }
    };
    let template = format!("outbound_tpl_{}", store::migrate::schema_fingerprint());
    let admin = connect(&admin_url).await;
    admin
        .execute("SELECT pg_advisory_lock($1)", &[&TEMPLATE_LOCK])
        .await
        .expect("template lock");
    let exists = admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&template])
        .await
        .expect("pg_database")
        .is_some();
    if !exists {
        let building = format!("{template}_building");
        // One statement per call: DROP/CREATE DATABASE refuse to run in
        // the implicit transaction of a multi-statement batch.
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"))
            .await
            .expect("drop half-built template");
        admin
            .batch_execute(&format!("CREATE DATABASE {building}"))
            .await
            .expect("create template");
        store::migrate::migrate(&with_database(&admin_url, &building))
            .await
            .expect("migrating the template");
        admin
            .batch_execute(&format!("ALTER DATABASE {building} RENAME TO {template}"))
            .await
            .expect("rename template");
    }
    drop_stale_databases(&admin).await;
    admin
        .execute("SELECT pg_advisory_unlock($1)", &[&TEMPLATE_LOCK])
        .await
        .expect("template unlock");
    Harness {
        admin_url,
        template,
    }
}

/// Test databases of processes that no longer exist (a run that was killed).
async fn drop_stale_databases(admin: &tokio_postgres::Client) {
    let rows = admin
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE 'outbound_t\\_%'",
            &[],
        )
        .await
        .expect("list test databases");
    for row in rows {
        let name: String = row.get(0);
        let pid = name
            .strip_prefix("outbound_t_")
            .and_then(|rest| rest.split('_').next())
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid {
            if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                let _ = admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
            }
        }
    }
}

pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|e| panic!("connecting to {url}: {e}"));
    tokio::spawn(conn);
    client
}

/// `url` pointing at another database of the same server.
pub fn with_database(url: &str, database: &str) -> String {
    outbound::store::pool::with_database(url, database)
}

/// A database of its own for one test.
pub struct TestDb {
    pub name: String,
    pub url: String,
    pub pool: Pool,
    /// Admin URLs of the clusters the database is dropped from when the
    /// test ends (a Citus test's database is on three).
    pub drop_on: Vec<String>,
}

impl TestDb {
    pub async fn new() -> TestDb {
        let h = harness();
        let name = format!(
            "outbound_t_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let admin = connect(&h.admin_url).await;
        // Concurrent clones of one template can collide briefly; retry.
        let mut tries = 0;
        loop {
            match admin
                .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {}", h.template))
                .await
            {
                Ok(()) => break,
                Err(e) if tries < 20 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(std::time::Duration::from_millis(50 * tries)).await;
                }
                Err(e) => panic!("creating {name}: {e}"),
            }
        }
        let url = with_database(&h.admin_url, &name);
        let pool = store::connect_pool(&url, 8).expect("pool");
        TestDb {
            name,
            url,
            pool,
            drop_on: vec![h.admin_url.clone()],
        }
    }

    /// A pooled connection.
    pub async fn client(&self) -> deadpool_postgres::Object {
        self.pool.get().await.expect("pooled connection")
    }

    /// A connection of its own (for LISTEN, or holding a transaction).
    pub async fn connect(&self) -> tokio_postgres::Client {
        connect(&self.url).await
    }
}

/// Notifications received on a channel, in order.
pub type Notifications = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

impl TestDb {
    /// A connection LISTENing on `channel`; a background task drives it and
    /// collects notification payloads. Keep the client alive while listening.
    pub async fn listen(&self, channel: &str) -> (tokio_postgres::Client, Notifications) {
        let (client, mut conn) = tokio_postgres::connect(&self.url, NoTls)
            .await
            .expect("listener connection");
        let notes: Notifications = Default::default();
        let sink = notes.clone();
        tokio::spawn(async move {
            while let Some(Ok(msg)) = std::future::poll_fn(|cx| conn.poll_message(cx)).await {
                if let tokio_postgres::AsyncMessage::Notification(n) = msg {
                    sink.lock().unwrap().push(n.payload().to_string());
                }
            }
        });
        client
            .batch_execute(&format!("LISTEN {channel}"))
            .await
            .expect("LISTEN");
        (client, notes)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        self.pool.close();
        let name = self.name.clone();
        let admin_urls = std::mem::take(&mut self.drop_on);
        // Drop the database from a thread with its own runtime: Drop cannot
        // await, and the test's runtime may be shutting down.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                for admin_url in admin_urls {
                    let Ok((client, conn)) = tokio_postgres::connect(&admin_url, NoTls).await
                    else {
                        continue;
                    };
                    tokio::spawn(conn);
                    let _ = client
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
                Some(())
            })
        })
        .join();
    }
}
