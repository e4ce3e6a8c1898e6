//! A second, short-lived cluster with pg_cron loaded, for the one test that
//! needs it: the shared test cluster cannot preload a library without a
//! restart that every other test would feel.

use std::path::PathBuf;

use outbound::embedded_pg::{ClusterOptions, PrivateCluster};

/// The database pg_cron's scheduler works in (`cron.database_name`).
pub const CRON_DATABASE: &str = "outbound_cron";

/// A cluster started with `shared_preload_libraries = 'pg_cron'`; stopped
/// and removed when dropped.
pub struct CronCluster {
    cluster: PrivateCluster,
    dir: PathBuf,
}

impl CronCluster {
    /// Whether Debian's postgresql-NN-cron is installed (`./test.sh` installs it).
    pub fn available() -> bool {
        std::fs::read_dir("/usr/share/postgresql")
            .map(|versions| {
                versions
                    .flatten()
                    .any(|v| v.path().join("extension/pg_cron.control").exists())
            })
            .unwrap_or(false)
    }

    /// Creates and starts the cluster (blocking: initdb takes a few seconds).
    pub fn start() -> CronCluster {
        let dir =
            std::env::temp_dir().join(format!("outbound-cron-cluster-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut opts = ClusterOptions::for_tests();
        let s = |k: &str, v: &str| (k.to_string(), v.to_string());
        opts.server_settings.extend([
            s("shared_preload_libraries", "pg_cron"),
            s("cron.database_name", CRON_DATABASE),
        ]);
        let cluster = PrivateCluster::start(&dir, &opts)
            .unwrap_or_else(|e| panic!("starting the pg_cron cluster: {e}"));
        CronCluster { cluster, dir }
    }

    pub fn url_for(&self, database: &str) -> String {
        self.cluster.url_for(database)
    }
}

impl Drop for CronCluster {
    fn drop(&mut self) {
        let _ = self.cluster.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
