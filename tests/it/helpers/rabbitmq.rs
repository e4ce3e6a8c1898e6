//! RabbitMQ for the tests: one broker per test process, started from the
//! installed binaries (Debian's `rabbitmq-server`; `RABBITMQ_SERVER` names
//! another start script) on first use, on free ports, with its data and logs
//! in `$TMPDIR/outbound-test-rabbitmq-<pid>`, and stopped when the process
//! exits.
//!
//! Tests share it, each on exchanges and queues of its own, holding
//! [`shared`]'s guard; a test that stops and starts it takes [`exclusive`],
//! which waits for the others to finish (and they for it).
//!
//! A node is a detached Erlang VM: its own node name and distribution port,
//! a config with the test user, no plugins. It writes its pid to a file;
//! SIGTERM stops it cleanly. Start-up takes seconds (more on a busy
//! machine), so readiness is a login with the test user, retried up to a
//! bound. A watchdog shell, reading a pipe only this process holds open,
//! stops the node and removes its folder when the process exits — however
//! it exits (a panic, `exit`, a kill): the kernel closes the pipe.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use amqprs::channel::{
    BasicConsumeArguments, Channel, ExchangeDeclareArguments, QueueBindArguments,
    QueueDeclareArguments,
};
use amqprs::connection::{Connection, OpenConnectionArguments};
use amqprs::{FieldTable, FieldValue};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

pub const USER: &str = "outbound";
pub const PASSWORD: &str = "outbound-test-pass";

/// How long a node may take to accept the test user's login.
const START_LIMIT: Duration = Duration::from_secs(120);

pub struct Node {
    dir: PathBuf,
    pub port: u16,
    dist_port: u16,
}

impl Node {
    /// `host:port` as a destination's `server_url`.
    pub fn server_url(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn pid_file(&self) -> PathBuf {
        self.dir.join("pid")
    }

    /// A fresh node in `dir` (anything there before is removed).
    fn create(dir: &Path) -> Node {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir.join("log")).expect("node folder");
        let node = Node {
            dir: dir.to_path_buf(),
            port: free_port(),
            dist_port: free_port(),
        };
        let config = format!(
            "listeners.tcp.default = 127.0.0.1:{port}\n\
             default_user = {USER}\n\
             default_pass = {PASSWORD}\n\
             loopback_users = none\n\
             log.console = false\n\
             log.file.level = warning\n\
             disk_free_limit.absolute = 1MB\n",
            port = node.port
        );
        std::fs::write(dir.join("rabbitmq.conf"), config).expect("node config");
        std::fs::write(dir.join("enabled_plugins"), "[].\n").expect("plugins file");
        node
    }

    /// The environment that names this node to RabbitMQ's scripts.
    fn command(&self, program: &Path) -> tokio::process::Command {
        let d = |p: &str| self.dir.join(p);
        let mut command = tokio::process::Command::new(program);
        command
            .current_dir(&self.dir)
            // The Erlang cookie lives in $HOME.
            .env("HOME", &self.dir)
            .env("RABBITMQ_NODENAME", self.node_name())
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("RABBITMQ_CONFIG_FILE", d("rabbitmq.conf"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", d("enabled_plugins"))
            .env("RABBITMQ_MNESIA_BASE", d("mnesia"))
            .env("RABBITMQ_LOG_BASE", d("log"))
            .env("RABBITMQ_PID_FILE", self.pid_file())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        command
    }

    /// Runs `program` with `args` for this node; panics with its error
    /// output if it fails.
    async fn run(&self, program: &Path, args: &[&str]) {
        let out = self
            .command(program)
            .args(args)
            .output()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "running {}: {e}; install Debian's rabbitmq-server or set \
                     RABBITMQ_SERVER to its start script",
                    program.display()
                )
            });
        assert!(
            out.status.success(),
            "{} {args:?} failed ({}): {}",
            program.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts the node's VM (and the broker in it).
    async fn start(&self) {
        let _ = std::fs::remove_file(self.pid_file());
        self.run(&server_script(), &["-detached"]).await;
        self.wait_ready().await;
    }

    /// Stops the broker, as a restart does: every connection is closed and
    /// the port refuses new ones. The Erlang VM stays up (starting one
    /// takes 10 s on a busy machine, the broker in it 3 s); queues and
    /// persistent messages are kept on disk and read back at
    /// [`Node::start_broker`].
    pub async fn stop_broker(&self) {
        self.run(&ctl_script(), &["-n", &self.node_name(), "stop_app"])
            .await;
    }

    /// Starts the broker stopped by [`Node::stop_broker`] and waits until
    /// the test user can log in.
    pub async fn start_broker(&self) {
        self.run(&ctl_script(), &["-n", &self.node_name(), "start_app"])
            .await;
        self.wait_ready().await;
    }

    fn node_name(&self) -> String {
        format!("outbound-test-{}@localhost", self.port)
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + START_LIMIT;
        loop {
            if self.login().await.is_ok() {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "RabbitMQ on port {} did not accept a login within {START_LIMIT:?}; \
                     its log:\n{}",
                    self.port,
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn log_tail(&self) -> String {
        let mut out = String::new();
        if let Ok(entries) = std::fs::read_dir(self.dir.join("log")) {
            for entry in entries.flatten() {
                let bytes = std::fs::read(entry.path()).unwrap_or_default();
                let tail = &bytes[bytes.len().saturating_sub(4000)..];
                out.push_str(&format!(
                    "== {}\n{}\n",
                    entry.path().display(),
                    String::from_utf8_lossy(tail)
                ));
            }
        }
        out
    }

    /// A connection as the test user.
    pub async fn login(&self) -> Result<Connection, amqprs::error::Error> {
        let args = OpenConnectionArguments::new("127.0.0.1", self.port, USER, PASSWORD);
        tokio::time::timeout(Duration::from_secs(5), Connection::open(&args))
            .await
            .unwrap_or_else(|_| Err(amqprs::error::Error::NetworkError("login timed out".into())))
    }

    /// A queue bound to a new topic exchange `exchange` for every routing key,
    /// and what arrives on it. `durable`: a durable exchange and queue (for
    /// messages that must survive a broker restart), else both go away with
    /// the consumer.
    pub async fn consumer(&self, exchange: &str, durable: bool) -> Consumer {
        let connection = self.login().await.expect("test consumer login");
        let channel = connection.open_channel(None).await.expect("channel");
        let mut ex = ExchangeDeclareArguments::new(exchange, "topic");
        ex.durable = durable;
        ex.auto_delete = !durable;
        channel
            .exchange_declare(ex)
            .await
            .expect("declare exchange");
        let queue = format!("{exchange}.q");
        let mut q = QueueDeclareArguments::new(&queue);
        q.durable(durable).exclusive(!durable).auto_delete(!durable);

        channel
            .queue_declare(q.finish())
            .await
            .expect("declare queue");
        channel
            .queue_bind(QueueBindArguments::new(&queue, exchange, "#"))
            .await
            .expect("bind queue");
        Consumer {
            _connection: connection,
            channel,
            queue,
            rx: None,
            got: Vec::new(),
        }
    }
}

/// One message as a consumer received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub routing_key: String,
    pub exchange: String,
    pub body: Vec<u8>,
    pub content_type: Option<String>,
    pub delivery_mode: Option<u8>,
    /// String headers, sorted by name; any other kind of value is shown
    /// with its AMQP type, so a test sees it is not a string.
    pub headers: Vec<(String, String)>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

pub struct Consumer {
    _connection: Connection,
    channel: Channel,
    queue: String,
    rx: Option<UnboundedReceiver<amqprs::channel::ConsumerMessage>>,
    got: Vec<Received>,
}

impl Consumer {
    /// Waits until `n` messages arrived in all (bounded by `limit`), and
    /// returns them all.
    pub async fn wait_for(&mut self, n: usize, limit: Duration) -> Vec<Received> {
        if self.rx.is_none() {
            let mut args = BasicConsumeArguments::new(&self.queue, "");
            args.auto_ack(true);
            let (_, rx) = self
                .channel
                .basic_consume_rx(args.finish())
                .await
                .expect("consume");
            self.rx = Some(rx);
        }
        let deadline = tokio::time::Instant::now() + limit;
        while self.got.len() < n {
            let Some(rx) = self.rx.as_mut() else { break };
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(msg)) => self.got.push(received(msg)),
                Ok(None) | Err(_) => break,
            }
        }
        self.got.clone()
    }
}

fn received(msg: amqprs::channel::ConsumerMessage) -> Received {
    let props = msg.basic_properties.unwrap_or_default();
    let deliver = msg.deliver.expect("deliver method");
    let mut headers: Vec<(String, String)> =
        props.headers().map(header_strings).unwrap_or_default();
    headers.sort();
    Received {
        routing_key: deliver.routing_key().clone(),
        exchange: deliver.exchange().clone(),
        body: msg.content.unwrap_or_default(),
        content_type: props.content_type().cloned(),
        delivery_mode: props.delivery_mode(),
        headers,
    }
}

fn header_strings(table: &FieldTable) -> Vec<(String, String)> {
    table
        .as_ref()
        .iter()
        .map(|(k, v)| {
            let value = match v {
                FieldValue::S(s) => s.as_ref().clone(),
                other => format!("<not a string: {other:?}>"),
            };
            (k.as_ref().clone(), value)
        })
        .collect()
}

/// The broker's start script; panics if it is not installed.
fn server_script() -> PathBuf {
    let script: PathBuf = std::env::var_os("RABBITMQ_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/usr/lib/rabbitmq/bin/rabbitmq-server".into());
    if !script.is_file() {
        panic!(
            "RabbitMQ not found ({}): run ./test.sh, which installs it, \
             or apt-get install rabbitmq-server",
            script.display()
        );
    }
    script
}

/// Its control script, next to it.
fn ctl_script() -> PathBuf {
    server_script().with_file_name("rabbitmqctl")
}

/// An unused local port (free when asked; nothing holds it after).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// The process's broker, and its watchdog, holding the pipe the watchdog
/// waits on (never closed: a static is not dropped, so the kernel closes
/// it at exit; the watchdog is never waited for: it outlives this process).
struct Process {
    node: Node,
    _watchdog: Child,
}

static PROCESS: OnceLock<Process> = OnceLock::new();
/// Read by the tests that use the broker, written by one that restarts it.
static IN_USE: RwLock<()> = RwLock::const_new(());

/// The process's broker, started on first use.
fn node() -> &'static Node {
    &PROCESS
        .get_or_init(|| {
            // Here, not on the thread below: a missing broker fails the
            // calling test with server_script's one line.
            server_script();
            // On a thread with a runtime of its own: tests run on their own
            // runtimes, and this must neither depend on nor block one of them.
            std::thread::spawn(|| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async {
                    remove_stale_nodes();
                    let dir =
                        std::env::temp_dir().join(format!("{DIR_PREFIX}{}", std::process::id()));
                    let node = Node::create(&dir);
                    // Before the start: a start that fails half way is
                    // cleaned up too.
                    let watchdog = watchdog(&dir);
                    node.start().await;
                    Process {
                        node,
                        _watchdog: watchdog,
                    }
                })
            })
            .join()
            .expect("test broker start-up panicked")
        })
        .node
}

/// The broker, for as long as the guard is held.
pub struct Shared {
    _guard: RwLockReadGuard<'static, ()>,
}

impl std::ops::Deref for Shared {
    type Target = Node;
    fn deref(&self) -> &Node {
        node()
    }
}

/// The broker, shared with the other tests.
pub async fn shared() -> Shared {
    node();
    Shared {
        _guard: IN_USE.read().await,
    }
}

/// The broker, for a test alone: it may stop and start it.
pub struct Exclusive {
    _guard: RwLockWriteGuard<'static, ()>,
}

impl std::ops::Deref for Exclusive {
    type Target = Node;
    fn deref(&self) -> &Node {
        node()
    }
}

pub async fn exclusive() -> Exclusive {
    node();
    Exclusive {
        _guard: IN_USE.write().await,
    }
}

const DIR_PREFIX: &str = "outbound-test-rabbitmq-";

/// Starts the shell that stops the node in `dir` and removes the folder
/// once its input, a pipe only the returned handle holds, closes.
fn watchdog(dir: &Path) -> Child {
    const SCRIPT: &str = r#"
        read -r _ || true
        pid=$(cat "$1/pid" 2>/dev/null)
        if [ -n "$pid" ]; then
            kill -TERM "$pid" 2>/dev/null
            i=0
            while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 150 ]; do
                sleep 0.1
                i=$((i + 1))
            done
            kill -KILL "$pid" 2>/dev/null
        fi
        rm -rf "$1"
    "#;
    Command::new("sh")
        .args(["-c", SCRIPT, "watchdog"])
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Out of the terminal's process group, so that a Ctrl-C of the test
        // run ends the run and the watchdog then does its work.
        .process_group(0)
        .spawn()
        .expect("starting the test broker's watchdog")
}

/// Nodes left by test processes that no longer exist (their watchdog was
/// killed too): stopped, their folders removed.
fn remove_stale_nodes() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(owner) = name
            .strip_prefix(DIR_PREFIX)
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if Path::new(&format!("/proc/{owner}")).exists() {
            continue;
        }
        let dir = entry.path();
        let pid: Option<u32> = std::fs::read_to_string(dir.join("pid"))
            .ok()
            .and_then(|p| p.trim().parse().ok());
        // Only if that pid is still this node's VM (pids are reused).
        if let Some(pid) = pid {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(&*dir.to_string_lossy()) {
                signal(pid, "KILL");
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// A name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}.{}.{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}
