//! The private PostgreSQL cluster: what `outbound serve` runs on when no
//! `DATABASE_URL` is given, and what the test harness and the bench use.
//!
//! It is an ordinary cluster made with the machine's own `initdb` and started
//! with `pg_ctl`, kept in a folder (`OUTBOUND_DATA_DIR/pg`) so that the next
//! start reuses it. It listens on loopback TCP only, on a port chosen once
//! and remembered, with a generated password (scram-sha-256), so other local
//! users cannot walk in.
//!
//! Postgres refuses to run as root. When we are root (containers, CI), the
//! cluster is owned by and run as the `postgres` OS user via `runuser`.

use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rand::distr::{Alphanumeric, SampleString};

/// Errors starting or stopping the private cluster. Each message says what to
/// do about it, because the user sees it as the one line `serve` prints.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedPgError {
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl) were not found on PATH or under \
         /usr/lib/postgresql/*/bin: install PostgreSQL (e.g. `apt-get install postgresql`) \
         or set DATABASE_URL to an existing database"
    )]
    BinariesNotFound,
    #[error(
        "running as root, the private cluster must be run by the `postgres` OS user, \
         which does not exist: create it or set DATABASE_URL"
    )]
    NoPostgresUser,
    #[error(
        "the postgres OS user cannot reach {0} (a parent folder is private): \
         set OUTBOUND_DATA_DIR to a folder it can reach, e.g. /var/lib/outbound"
    )]
    Unreachable(PathBuf),
    #[error("{what} failed: {detail}")]
    Command { what: String, detail: String },
    #[error("private cluster I/O error at {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Options that differ between a service cluster and a throwaway test one.
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    /// Extra `-c name=value` server settings.
    pub server_settings: Vec<(String, String)>,
}

impl ClusterOptions {
    /// Settings for a test cluster: durability off (data is throwaway) and
    /// room for many databases and connections.
    pub fn for_tests() -> Self {
        let s = |k: &str, v: &str| (k.to_string(), v.to_string());
        ClusterOptions {
            server_settings: vec![
                s("fsync", "off"),
                s("full_page_writes", "off"),
                s("synchronous_commit", "off"),
                s("max_connections", "400"),
            ],
        }
    }
}

/// A running private cluster.
#[derive(Debug)]
pub struct PrivateCluster {
    pgdata: PathBuf,
    bin_dir: PathBuf,
    port: u16,
    password: String,
    /// Whether this process started the server (and so should stop it).
    started_here: bool,
    as_postgres_user: bool,
}

impl PrivateCluster {
    /// Creates the cluster under `data_dir` if needed and starts it if it is
    /// not running. Safe to call from several processes at once as long as
    /// they serialise on their own (the test harness holds a file lock).
    pub fn start(data_dir: &Path, opts: &ClusterOptions) -> Result<Self, EmbeddedPgError> {
        let bin_dir = find_bin_dir().ok_or(EmbeddedPgError::BinariesNotFound)?;
        let as_postgres_user = running_as_root();
        if as_postgres_user && !user_exists("postgres") {
            return Err(EmbeddedPgError::NoPostgresUser);
        }
        std::fs::create_dir_all(data_dir).map_err(io(data_dir))?;
        let data_dir = data_dir.canonicalize().map_err(io(data_dir))?;
        let pgdata = data_dir.join("pg");
        let password_file = data_dir.join("pg-password");

        let mut cluster = PrivateCluster {
            pgdata,
            bin_dir,
            port: 0,
            password: String::new(),
            started_here: false,
            as_postgres_user,
        };

        if !cluster.pgdata.join("PG_VERSION").exists() {
            cluster.init(&data_dir, &password_file)?;
        }
        cluster.password = std::fs::read_to_string(&password_file)
            .map_err(io(&password_file))?
            .trim()
            .to_string();

        if let Some(port) = cluster.running_port() {
            cluster.port = port;
            return Ok(cluster);
        }

        let port_file = data_dir.join("pg-port");
        let remembered = std::fs::read_to_string(&port_file)
            .ok()
            .and_then(|s| s.trim().parse::<u16>().ok());
        cluster.port = match remembered {
            Some(p) if port_is_free(p) => p,
            _ => free_port().map_err(io(&data_dir))?,
        };
        std::fs::write(&port_file, cluster.port.to_string()).map_err(io(&port_file))?;

        let mut server_opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''",
            cluster.port
        );
        for (k, v) in &opts.server_settings {
            server_opts.push_str(&format!(" -c {k}={v}"));
        }
        let log = cluster.pgdata.join("server.log");
        let out = cluster.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                cluster.pgdata.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-o".as_ref(),
                server_opts.as_ref(),
                "-w".as_ref(),
                "-t".as_ref(),
                "60".as_ref(),
                "start".as_ref(),
            ],
        )?;
        if !out.status.success() {
            let tail = std::fs::read_to_string(&log)
                .map(|l| l.lines().rev().take(5).collect::<Vec<_>>().join(" | "))
                .unwrap_or_default();
            return Err(EmbeddedPgError::Command {
                what: "pg_ctl start".into(),
                detail: format!("{} {tail}", String::from_utf8_lossy(&out.stderr).trim()),
            });
        }
        cluster.started_here = true;
        Ok(cluster)
    }

    /// `postgres://` URL of the cluster's `postgres` database.
    pub fn url(&self) -> String {
        self.url_for("postgres")
    }

    /// URL of another database in the cluster.
    pub fn url_for(&self, database: &str) -> String {
        format!(
            "postgres://postgres:{}@127.0.0.1:{}/{}",
            self.password, self.port, database
        )
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pgdata(&self) -> &Path {
        &self.pgdata
    }

    pub fn started_here(&self) -> bool {
        self.started_here
    }

    /// Stops the server (fast shutdown: open sessions are ended).
    pub fn stop(&self) -> Result<(), EmbeddedPgError> {
        let out = self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                self.pgdata.as_os_str(),
                "-m".as_ref(),
                "fast".as_ref(),
                "-w".as_ref(),
                "stop".as_ref(),
            ],
        )?;
        if !out.status.success() {
            return Err(EmbeddedPgError::Command {
                what: "pg_ctl stop".into(),
                detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(())
    }

    /// Stops then starts the server on the same port (used by the restart
    /// fault test).
    pub fn restart(&self) -> Result<(), EmbeddedPgError> {
        // The log file must be given again: without it the new server would
        // inherit pg_ctl's stdout, and waiting for pg_ctl's output would
        // wait for the server to exit.
        let log = self.pgdata.join("server.log");
        let out = self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                self.pgdata.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-m".as_ref(),
                "fast".as_ref(),
                "-w".as_ref(),
                "restart".as_ref(),
            ],
        )?;
        if !out.status.success() {
            return Err(EmbeddedPgError::Command {
                what: "pg_ctl restart".into(),
                detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(())
    }

    fn init(&self, data_dir: &Path, password_file: &Path) -> Result<(), EmbeddedPgError> {
        let password = Alphanumeric.sample_string(&mut rand::rng(), 32);
        std::fs::write(password_file, &password).map_err(io(password_file))?;
        std::fs::set_permissions(password_file, std::fs::Permissions::from_mode(0o600))
            .map_err(io(password_file))?;
        // initdb reads the password from a file the server user can read;
        // it is removed right after.
        let pwfile = data_dir.join(".initdb-pw");
        std::fs::write(&pwfile, &password).map_err(io(&pwfile))?;
        if self.as_postgres_user {
            chown_postgres(&pwfile)?;
            chown_postgres(data_dir)?;
            let reachable = Command::new("runuser")
                .args(["-u", "postgres", "--", "test", "-w"])
                .arg(data_dir)
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if !reachable {
                let _ = std::fs::remove_file(&pwfile);
                return Err(EmbeddedPgError::Unreachable(data_dir.to_path_buf()));
            }
        }
        let out = self.run(
            "initdb",
            &[
                "-D".as_ref(),
                self.pgdata.as_os_str(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "--auth=scram-sha-256".as_ref(),
                "--encoding=UTF8".as_ref(),
                "--locale=C".as_ref(),
                "--pwfile".as_ref(),
                pwfile.as_os_str(),
            ],
        );
        let _ = std::fs::remove_file(&pwfile);
        let out = out?;
        if !out.status.success() {
            return Err(EmbeddedPgError::Command {
                what: "initdb".into(),
                detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(())
    }

    /// The port of a server already running on this data folder, if any
    /// (line 4 of postmaster.pid, once `pg_ctl status` confirms it is alive).
    fn running_port(&self) -> Option<u16> {
        let out = self
            .run(
                "pg_ctl",
                &["-D".as_ref(), self.pgdata.as_os_str(), "status".as_ref()],
            )
            .ok()?;
        if !out.status.success() {
            return None;
        }
        let pid_file = std::fs::read_to_string(self.pgdata.join("postmaster.pid")).ok()?;
        pid_file.lines().nth(3)?.trim().parse().ok()
    }

    fn run(&self, program: &str, args: &[&std::ffi::OsStr]) -> Result<Output, EmbeddedPgError> {
        let exe = self.bin_dir.join(program);
        let mut cmd = if self.as_postgres_user {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        cmd.args(args);
        // pg_ctl's children must not inherit our stdout: a test harness
        // capturing output would otherwise wait for the server to exit.
        cmd.stdin(std::process::Stdio::null());
        cmd.output().map_err(|e| EmbeddedPgError::Command {
            what: format!("running {}", exe.display()),
            detail: e.to_string(),
        })
    }
}

/// The folder holding `initdb` and `pg_ctl`: PATH first (resolving
/// symlinks, so pg_ctl finds its `postgres` beside it), then the newest
/// `/usr/lib/postgresql/*/bin`.
pub fn find_bin_dir() -> Option<PathBuf> {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if has_both(&dir) {
                let real = dir.join("pg_ctl").canonicalize().ok()?;
                let real_dir = real.parent()?.to_path_buf();
                return Some(if has_both(&real_dir) { real_dir } else { dir });
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            has_both(&bin).then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, p)| p)
}

fn running_as_root() -> bool {
    // /proc/self belongs to the process's effective uid.
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

fn user_exists(name: &str) -> bool {
    std::fs::read_to_string("/etc/passwd")
        .map(|p| p.lines().any(|l| l.split(':').next() == Some(name)))
        .unwrap_or(false)
}

fn chown_postgres(path: &Path) -> Result<(), EmbeddedPgError> {
    let status = Command::new("chown")
        .arg("postgres:")
        .arg(path)
        .status()
        .map_err(io(path))?;
    if !status.success() {
        return Err(EmbeddedPgError::Command {
            what: format!("chown postgres {}", path.display()),
            detail: status.to_string(),
        });
    }
    Ok(())
}

fn port_is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> EmbeddedPgError + '_ {
    move |source| EmbeddedPgError::Io {
        path: path.to_path_buf(),
        source,
    }
}
