//! A Citus cluster for the tests that need one: a coordinator and two
//! worker nodes, each a private PostgreSQL on loopback with the citus
//! library preloaded, started once per test run and left running for the
//! next (`./test.sh` stops them at exit when it started them). Each test
//! gets a database of its own on all three nodes, with the citus extension,
//! the worker nodes added, outbound migrated and distributed as
//! `outbound migrate --citus` does it.
//!
//! Citus is not in Debian's archive: `./test.sh` builds it from
//! `../shared/vendor/citus` when that is there. Where it is not installed,
//! [`CitusDb::new`] says so in one line and returns None; with
//! `OUTBOUND_REQUIRE_CITUS=1` (set by `./test.sh` once it has installed
//! Citus) it fails the test instead.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use outbound::embedded_pg::{find_bin_dir, ClusterOptions, PrivateCluster};
use outbound::store;

use super::db::{connect, TestDb};

/// The three nodes: `nodes[0]` is the coordinator.
pub struct CitusCluster {
    pub nodes: Vec<PrivateCluster>,
}

static CLUSTER: OnceLock<Option<CitusCluster>> = OnceLock::new();
static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Whether the citus library is installed for the PostgreSQL the tests run.
pub fn installed() -> bool {
    find_bin_dir()
        .and_then(|bin| bin.parent().map(|p| p.join("lib/citus.so")))
        .is_some_and(|so| so.exists())
}

fn cluster_dir() -> PathBuf {
    std::env::temp_dir().join("outbound-test-citus")
}

impl CitusCluster {
    /// The run's cluster, started on first use; None without Citus.
    pub fn get() -> Option<&'static CitusCluster> {
        CLUSTER
            .get_or_init(|| {
                if !installed() {
                    return None;
                }
                // Started on a thread of its own, as the main harness does.
                Some(
                    std::thread::spawn(start)
                        .join()
                        .unwrap_or_else(|p| std::panic::resume_unwind(p)),
                )
            })
            .as_ref()
    }

    pub fn coordinator(&self) -> &PrivateCluster {
        &self.nodes[0]
    }
}

fn start() -> CitusCluster {
    let dir = cluster_dir();
    std::fs::create_dir_all(&dir).expect("citus cluster folder");
    let lock = std::fs::File::create(std::env::temp_dir().join("outbound-test-citus.lock"))
        .expect("lock file");
    lock.lock().expect("locking the citus cluster");
    let mut opts = ClusterOptions::for_tests();
    let s = |k: &str, v: &str| (k.to_string(), v.to_string());
    opts.server_settings.extend([
        s("shared_preload_libraries", "citus"),
        // Nodes on loopback without TLS.
        s("citus.node_conninfo", "sslmode=disable"),
        // A transaction that writes on two nodes commits with 2PC.
        s("max_prepared_transactions", "200"),
        s("max_connections", "300"),
    ]);
    let nodes: Vec<PrivateCluster> = ["coordinator", "worker1", "worker2"]
        .iter()
        .map(|name| {
            let node = PrivateCluster::start(&dir.join(name), &opts)
                .unwrap_or_else(|e| panic!("starting the Citus {name}: {e}"));
            trust_loopback(&node);
            node
        })
        .collect();
    drop(lock);
    CitusCluster { nodes }
}

/// The nodes connect to each other as `postgres` without a password: each
/// node trusts loopback (the clusters are private to the test run).
fn trust_loopback(node: &PrivateCluster) {
    let hba = node.pgdata().join("pg_hba.conf");
    let text = std::fs::read_to_string(&hba).expect("pg_hba.conf");
    const TRUST: &str = "host all postgres 127.0.0.1/32 trust # outbound citus tests\n";
    if text.starts_with(TRUST) {
        return;
    }
    std::fs::write(&hba, format!("{TRUST}{text}")).expect("pg_hba.conf");
    let url = node.url();
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(async {
                connect(&url)
                    .await
                    .batch_execute("SELECT pg_reload_conf()")
                    .await
                    .expect("reload");
            })
    })
    .join()
    .expect("reload thread");
}

/// Tests share the cluster; one that restarts a node holds it alone.
static SHARING: OnceLock<Arc<tokio::sync::RwLock<()>>> = OnceLock::new();

fn sharing() -> Arc<tokio::sync::RwLock<()>> {
    SHARING.get_or_init(Default::default).clone()
}

enum Hold {
    #[allow(dead_code)] // held, not read
    Shared(tokio::sync::OwnedRwLockReadGuard<()>),
    #[allow(dead_code)]
    Alone(tokio::sync::OwnedRwLockWriteGuard<()>),
}

/// A test's database on the cluster, migrated and distributed.
pub struct CitusDb {
    pub db: TestDb,
    pub cluster: &'static CitusCluster,
    _hold: Hold,
}

impl CitusDb {
    /// None (after saying so in one line) when Citus is not installed.
    pub async fn new() -> Option<CitusDb> {
        let hold = Hold::Shared(sharing().read_owned().await);
        Self::create(hold).await
    }

    /// As `new`, with no other test on the cluster meanwhile (for a test
    /// that stops a node).
    pub async fn exclusive() -> Option<CitusDb> {
        let hold = Hold::Alone(sharing().write_owned().await);
        Self::create(hold).await
    }

    async fn create(hold: Hold) -> Option<CitusDb> {
        let Some(cluster) = CitusCluster::get() else {
            let why = "Citus is not installed: run ./test.sh, which builds it from ../shared/vendor/citus";
            if std::env::var("OUTBOUND_REQUIRE_CITUS").is_ok_and(|v| v == "1") {
                panic!("{why}");
            }
            eprintln!("SKIPPED (no Citus): {why}");
            return None;
        };
        let name = format!(
            "outbound_c_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        for node in &cluster.nodes {
            connect(&node.url())
                .await
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .await
                .unwrap_or_else(|e| panic!("creating {name}: {e}"));
            connect(&node.url_for(&name))
                .await
                .batch_execute("CREATE EXTENSION citus")
                .await
                .expect("CREATE EXTENSION citus");
        }
        let url = cluster.coordinator().url_for(&name);
        let coordinator = connect(&url).await;
        coordinator
            .execute(
                "SELECT citus_set_coordinator_host('127.0.0.1', $1)",
                &[&i32::from(cluster.coordinator().port())],
            )
            .await
            .expect("citus_set_coordinator_host");
        for worker in &cluster.nodes[1..] {
            // A node another test has just restarted may refuse for a moment.
            let mut tries = 0;
            loop {
                let added = coordinator
                    .execute(
                        "SELECT citus_add_node('127.0.0.1', $1)",
                        &[&i32::from(worker.port())],
                    )
                    .await;
                match added {
                    Ok(_) => break,
                    Err(e) if tries < 10 => {
                        tries += 1;
                        let _ = e;
                        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                    }
                    Err(e) => panic!("citus_add_node: {e}"),
                }
            }
        }
        store::migrate::migrate(&url).await.expect("migrate");
        let pool = store::connect_pool(&url, 8).expect("pool");
        store::citus::distribute(&pool.get().await.expect("connection"))
            .await
            .expect("migrate --citus");
        let db = TestDb {
            name,
            url,
            pool,
            drop_on: cluster.nodes.iter().map(|n| n.url()).collect(),
        };
        Some(CitusDb {
            db,
            cluster,
            _hold: hold,
        })
    }

    /// The port of the worker node holding `tenant`'s shard group.
    pub async fn node_of(&self, tenant: &str) -> u16 {
        let c = self.db.client().await;
        let port: i32 = c
            .query_one(
                "SELECT nodeport FROM citus_shards
                 WHERE table_name = 'outbound.tenants'::regclass
                   AND shardid = get_shard_id_for_distribution_column('outbound.tenants', $1::text)",
                &[&tenant],
            )
            .await
            .expect("the tenant's node")
            .get(0);
        u16::try_from(port).expect("port")
    }

    /// Tenant ids `prefix-N`, the first `n` whose shard groups are on the
    /// worker node with this port.
    pub async fn tenants_on(&self, port: u16, prefix: &str, n: usize) -> Vec<String> {
        let mut found = Vec::new();
        for i in 0.. {
            let id = format!("{prefix}-{i}");
            if self.node_of(&id).await == port {
                found.push(id);
                if found.len() == n {
                    return found;
                }
            }
        }
        unreachable!()
    }
}
