//! Kafka brokers for the tests: tansu (a Kafka-compatible broker, `cargo
//! install tansu --no-default-features --features libsql`), started from
//! the installed binary on first use and stopped when the test process
//! exits.
//!
//! tansu keeps SASL users in its storage and adds them only through the
//! Kafka admin API, which an authenticating broker refuses before login.
//! So the harness makes the users once on an open broker, stops it, and
//! starts every broker the tests use — with authentication — on a copy of
//! that SQLite file:
//!
//! - [`broker`]: the one the tests produce to, plain TCP;
//! - [`tls_broker`]: the same, over TLS with `tests/data`'s certificate
//!   (ended in this process: see there);
//! - [`misadvertising_broker`]: one that tells clients to reconnect to
//!   127.0.0.2, to show that addresses learned from a cluster are vetted
//!   like configured ones.
//!
//! Each runs under `sh`, which kills it when its stdin — a pipe this
//! process holds until it exits — reaches end of file: no broker outlives
//! the run, however the run ends.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use rskafka::client::{Client, ClientBuilder, Credentials, SaslConfig};

/// The SASL user every broker knows, for both SCRAM mechanisms.
pub const USER: &str = "outbound";
pub const PASSWORD: &str = "kafka-test-password";

/// A topic (one partition) that every broker has when it starts.
pub const SEEDED_TOPIC: &str = "seeded";

/// A running broker.
pub struct Broker {
    /// `127.0.0.1:<port>`.
    pub addr: String,
    /// Closing it stops the broker; held for the process's life.
    _stop: Mutex<ChildStdin>,
}

/// The folder of the SQLite file (and its journal) with the users.
static USERS_DB: OnceLock<PathBuf> = OnceLock::new();
static PLAIN: OnceLock<Broker> = OnceLock::new();
static TLS: OnceLock<Broker> = OnceLock::new();
static MISADVERTISING: OnceLock<Broker> = OnceLock::new();

/// The broker the tests produce to.
pub fn broker() -> &'static Broker {
    PLAIN.get_or_init(|| start("plain", None, &[]))
}

/// A broker that accepts only TLS (certificate for localhost/127.0.0.1).
///
/// tansu 0.6.0's command line refuses `--cert` together with `--key` (they
/// share one argument group), so it cannot serve TLS itself: a TLS
/// terminator in this process, with `tests/data`'s certificate, forwards to
/// a plain broker that advertises the terminator's address, so that every
/// connection a client makes, bootstrap or learned, is TLS.
pub fn tls_broker() -> &'static Broker {
    TLS.get_or_init(|| {
        let front = TcpListener::bind("127.0.0.1:0").expect("a TLS port");
        let front_addr = front.local_addr().expect("address").to_string();
        let inner = start("tls", Some(&front_addr), &[]);
        let upstream = inner.addr.clone();
        std::thread::spawn(move || terminate_tls(front, upstream));
        Broker {
            addr: front_addr,
            _stop: inner._stop,
        }
    })
}

/// Accepts TLS on `front` and relays the plain bytes to `upstream`, for
/// the life of the test process.
fn terminate_tls(front: TcpListener, upstream: String) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(include_bytes!("../../data/kafka-test-broker.pem"))
            .collect::<Result<_, _>>()
            .expect("broker certificate");
    let key = PrivateKeyDer::from_pem_slice(include_bytes!("../../data/kafka-test-broker-key.pem"))
        .expect("broker key");
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("TLS server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        front.set_nonblocking(true).expect("non-blocking");
        let front = tokio::net::TcpListener::from_std(front).expect("listener");
        loop {
            let Ok((tcp, _)) = front.accept().await else {
                continue;
            };
            let (acceptor, upstream) = (acceptor.clone(), upstream.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut plain) = tokio::net::TcpStream::connect(&upstream).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
}

/// A broker that advertises 127.0.0.2 (where nothing listens) as its
/// address: clients bootstrap at 127.0.0.1, then are sent elsewhere.
pub fn misadvertising_broker() -> &'static Broker {
    MISADVERTISING.get_or_init(|| start("misadvertising", Some("127.0.0.2"), &[]))
}

/// The test CA's certificate, DER.
pub fn test_ca() -> rustls::pki_types::CertificateDer<'static> {
    use rustls::pki_types::pem::PemObject;
    let pem = include_bytes!("../../data/kafka-test-ca.pem");
    rustls::pki_types::CertificateDer::from_pem_slice(pem).expect("test CA")
}

/// The installed tansu: `TANSU_BIN`, or `tansu` on PATH, in cargo's bin
/// folder or where `./test.sh` installs it (`$TANSU_ROOT/bin`, by default
/// /var/tmp/tansu-root/bin).
fn tansu() -> PathBuf {
    const INSTALL: &str = "run ./test.sh, which installs it, or cargo install tansu@0.6.0 \
                           --locked --no-default-features --features libsql";
    if let Some(bin) = std::env::var_os("TANSU_BIN").filter(|b| !b.is_empty()) {
        let bin = PathBuf::from(bin);
        if !bin.is_file() {
            panic!("tansu not found (TANSU_BIN={}): {INSTALL}", bin.display());
        }
        return bin;
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let tansu_root = std::env::var_os("TANSU_ROOT")
        .filter(|r| !r.is_empty())
        .map_or_else(|| PathBuf::from("/var/tmp/tansu-root"), PathBuf::from);
    let candidates = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(cargo_home.map(|h| h.join("bin")))
        .chain([tansu_root.join("bin")])
        .map(|dir| dir.join("tansu"));
    for bin in candidates {
        if bin.is_file() {
            return bin;
        }
    }
    panic!(
        "tansu not found (TANSU_BIN unset; none on PATH, in ~/.cargo/bin or in {}): {INSTALL}",
        tansu_root.join("bin").display()
    );
}

/// This run's folder for broker files.
fn run_dir() -> PathBuf {
    std::env::temp_dir().join(format!("outbound-test-kafka-{}", std::process::id()))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The folder of tansu's SQLite file with the test user in it, made once
/// per run.
fn users_db() -> &'static Path {
    USERS_DB.get_or_init(|| {
        let dir = run_dir().join("users");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("broker folder");
        // Folders of runs whose process is gone.
        if let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(pid) = name.strip_prefix("outbound-test-kafka-") {
                    if !Path::new(&format!("/proc/{pid}")).exists() {
                        let _ = std::fs::remove_dir_all(e.path());
                    }
                }
            }
        }
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut open = broker_command(&dir, &addr, &addr, false, &[])
            .stdin(Stdio::null())
            .spawn()
            .expect("starting tansu");
        wait_listening(&addr, &mut open);
        for mechanism in ["scram256", "scram512"] {
            let status = Command::new(tansu())
                .current_dir(&dir)
                .args(["user", "create", "--broker", &format!("tcp://{addr}")])
                .args(["--mechanism", mechanism, USER, PASSWORD])
                .stdout(Stdio::null())
                .status()
                .expect("tansu user create");
            assert!(status.success(), "tansu user create: {status}");
        }
        // A topic every broker has from the start: the misadvertising
        // broker's test needs one, and its clients could not create it
        // (the controller is at the advertised address).
        let status = Command::new(tansu())
            .current_dir(&dir)
            .args(["topic", "create", "--broker", &format!("tcp://{addr}")])
            .args([SEEDED_TOPIC, "--partitions", "1"])
            .stdout(Stdio::null())
            .status()
            .expect("tansu topic create");
        assert!(status.success(), "tansu topic create: {status}");
        // SIGTERM, so that it closes its database properly.
        let _ = Command::new("kill").arg(open.id().to_string()).status();
        let _ = open.wait();
        dir
    })
}

fn broker_command(
    dir: &Path,
    listen: &str,
    advertised: &str,
    authenticate: bool,
    extra: &[String],
) -> Command {
    let mut cmd = Command::new(tansu());
    cmd.current_dir(dir)
        .arg("broker")
        .args(["--listener-url", &format!("tcp://{listen}")])
        .args(["--advertised-listener-url", &format!("tcp://{advertised}")])
        // Relative to the working folder (tansu's reading of the URL).
        .args(["--storage-engine", "sqlite://tansu.db"])
        .arg("--silent")
        .args(extra)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if authenticate {
        cmd.arg("--authentication");
    }
    cmd
}

/// Starts an authenticating broker named `name` on a copy of the users'
/// file; `advertise` replaces the host (or `host:port`) it tells clients
/// to use.
fn start(name: &str, advertise: Option<&str>, extra: &[String]) -> Broker {
    let users = users_db();
    let dir = run_dir().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("broker folder");
    for file in std::fs::read_dir(users).expect("users' folder").flatten() {
        std::fs::copy(file.path(), dir.join(file.file_name())).expect("copying the users' file");
    }
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let advertised = match advertise {
        Some(a) if a.contains(':') => a.to_string(),
        Some(host) => format!("{host}:{port}"),
        None => addr.clone(),
    };
    let broker = broker_command(&dir, &addr, &advertised, true, extra);
    // `sh` runs the broker in the background (its stdin is then
    // /dev/null) and kills it once its own stdin closes.
    let mut argv = vec![broker.get_program().to_string_lossy().into_owned()];
    argv.extend(broker.get_args().map(|a| a.to_string_lossy().into_owned()));
    let mut child = Command::new("sh")
        .current_dir(&dir)
        .arg("-c")
        .arg("\"$@\" & pid=$!; read _; kill $pid")
        .arg("sh")
        .args(&argv)
        .env("RUST_LOG", "error")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting tansu");
    wait_listening(&addr, &mut child);
    let stop = child.stdin.take().expect("stdin");
    // The sh child is reaped by no one; it exits with us.
    std::mem::forget(child);
    Broker {
        addr,
        _stop: Mutex::new(stop),
    }
}

fn wait_listening(addr: &str, child: &mut Child) {
    let sock: SocketAddr = addr.parse().expect("address");
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect_timeout(&sock, Duration::from_millis(200)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("tansu exited: {status}");
        }
        assert!(Instant::now() < deadline, "tansu did not listen on {addr}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Broker {
    /// A client logged in as the test user (SCRAM-SHA-256).
    pub async fn client(&self) -> Client {
        self.client_with(None).await
    }

    pub async fn client_with(&self, tls: Option<rustls::ClientConfig>) -> Client {
        let mut b = ClientBuilder::new(vec![self.addr.clone()]).sasl_config(
            SaslConfig::ScramSha256(Credentials::new(USER.into(), PASSWORD.into())),
        );
        if let Some(tls) = tls {
            b = b.tls_config(std::sync::Arc::new(tls));
        }
        b.build().await.expect("test client")
    }

    /// Creates `topic` with `partitions` partitions.
    pub async fn create_topic(&self, topic: &str, partitions: i32) {
        let client = self.client().await;
        client
            .controller_client()
            .expect("controller")
            .create_topic(topic, partitions, 1, 5_000)
            .await
            .expect("create topic");
    }

    /// Every record on `topic`, partition by partition.
    pub async fn records(
        &self,
        topic: &str,
        partitions: i32,
    ) -> Vec<(i32, rskafka::record::Record)> {
        let client = self.client().await;
        let mut out = Vec::new();
        for p in 0..partitions {
            let pc = client
                .partition_client(
                    topic,
                    p,
                    rskafka::client::partition::UnknownTopicHandling::Retry,
                )
                .await
                .expect("partition client");
            let (records, _) = pc.fetch_records(0, 1..1_000_000, 100).await.expect("fetch");
            out.extend(records.into_iter().map(|r| (p, r.record)));
        }
        out
    }
}
