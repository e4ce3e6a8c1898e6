//! Payload transformations: a destination's jq programs
//! (`delivery_policy.transform`, [`crate::domain::transform`]) compiled and
//! run for the API (checked when saved, previewed) and the worker (run
//! before each send), in child processes.
//!
//! # Why a child process
//!
//! jaq (the jq implementation used, [`jq`]) has no step, time or depth
//! limit, and cannot be interrupted: `def f: f; f` never returns, and
//! `def f: 1 + f; f` overflows the stack, which aborts the whole process
//! in Rust. A tenant's program must not hang or crash a worker or the API.
//! So programs run in `outbound transform-runner` processes ([`runner`]):
//! started on first use, kept and reused (one request at a time each, up
//! to `TRANSFORM_PROCESSES` of them for the worker and as many for the
//! API's checks and previews), killed past its CPU time
//! (`TRANSFORM_TIMEOUT_MS`) or its memory (`TRANSFORM_MAX_MEMORY_MB`), both
//! read every few milliseconds while it runs, or at the wall clock's
//! backstop, and started again. A runner that died (stack, memory) is replaced the same
//! way. Each keeps the programs it compiled, by text.
//!
//! A destination without a transformation never reaches this module: its
//! deliveries pay nothing for it. One with a transformation pays a round
//! trip over pipes to a runner (measured in docs/delivery-policy.md).

pub mod jq;
pub mod runner;
pub mod wire;

use std::borrow::Cow;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::domain::metadata::MessageMetadata;
use crate::domain::transform::{reserved, Transform};
use wire::{frame_len, push_frame, Answer, Part, Request};

/// The operator's bounds on transformations (`TRANSFORM_*`).
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// The CPU time one run (both programs) may use; the wall clock stops
    /// it at [`WALL_BACKSTOP`] times this and a second.
    pub timeout: Duration,
    /// The longest body a program may give (and the most bytes of headers).
    pub max_output_bytes: usize,
    /// The resident memory a runner may reach while it runs.
    pub max_memory_mb: u64,
    /// Runners at most, so transformations run at most this many at once.
    pub processes: usize,
    /// The executable to start as `<runner> transform-runner`: this one
    /// unless told (tests run from a test binary).
    pub runner: Option<PathBuf>,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            timeout: Duration::from_millis(250),
            max_output_bytes: 1024 * 1024,
            max_memory_mb: 512,
            processes: 2,
            runner: None,
        }
    }
}

/// The event a transformation reads.
#[derive(Debug, Clone, Copy)]
pub struct EventInput<'a> {
    pub id: &'a str,
    pub topic: &'a str,
    pub time: DateTime<Utc>,
    /// The event's own metadata (an object, or null).
    pub metadata: &'a Value,
    /// The event's data as published (JSON text).
    pub data: &'a str,
}

impl EventInput<'_> {
    /// `{id, topic, time, metadata, data}` as JSON text, the data as is
    /// (it was checked when it was published).
    fn to_json(self) -> String {
        let metadata = match self.metadata {
            Value::Null => "{}".to_string(),
            m => m.to_string(),
        };
        format!(
            r#"{{"id":{},"topic":{},"time":{},"metadata":{metadata},"data":{}}}"#,
            Value::from(self.id),
            Value::from(self.topic),
            Value::from(self.time.to_rfc3339_opts(SecondsFormat::Millis, true)),
            self.data
        )
    }
}

/// What a transformation gave.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// The body to send (JSON text); None: the event's data unchanged.
    pub body: Option<String>,
    /// Merged into the metadata sent.
    pub headers: Vec<(String, String)>,
}

impl Output {
    /// `metadata` with the transformation's headers merged in.
    pub fn merge_into(&self, metadata: &mut MessageMetadata) {
        for (k, v) in &self.headers {
            metadata.set(k, v.clone());
        }
    }
}

/// Why a transformation gave nothing to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// For people: which program, and what went wrong.
    pub message: String,
    /// The program is at fault (its error, its output, its time or memory):
    /// the same event would fail the same way. Otherwise the service could
    /// not run it (no runner could be started, none was free in time).
    pub permanent: bool,
}

impl Failure {
    fn program(message: String) -> Failure {
        Failure {
            message,
            permanent: true,
        }
    }

    fn service(message: String) -> Failure {
        Failure {
            message,
            permanent: false,
        }
    }
}

/// The service could not check a transformation (no runner started).
#[derive(Debug, thiserror::Error)]
#[error("cannot run transformations: {0}")]
pub struct Unavailable(String);

/// Runs transformations in runner processes. Cheap to clone. The worker
/// has one and the API another, so that previews never keep a delivery
/// waiting for a runner.
#[derive(Clone)]
pub struct Transformer {
    inner: Arc<Inner>,
}

struct Inner {
    limits: Limits,
    /// One permit per runner that may run at once.
    slots: Semaphore,
    /// Runners waiting for a request.
    idle: Mutex<Vec<Runner>>,
}

/// One runner process and its pipes.
struct Runner {
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
}

/// What went wrong with a runner during one request.
enum Trouble {
    /// No runner was free before the deadline.
    Busy,
    /// None could be started.
    Spawn(String),
    /// The runner spent more CPU time than `TRANSFORM_TIMEOUT_MS` (this
    /// long) on the request; it was killed.
    Timeout(Duration),
    /// The wall clock ran out first: the caller's deadline (its attempt's
    /// time spent waiting for a runner), or the backstop of a runner that
    /// got too little CPU to finish (a machine overloaded); it was killed.
    OutOfTime,
    /// The runner died (its stack, its memory), or answered nonsense.
    Died,
    /// The runner's resident memory passed `TRANSFORM_MAX_MEMORY_MB`; it
    /// was killed.
    Memory,
}

impl Transformer {
    pub fn new(limits: Limits) -> Transformer {
        let processes = limits.processes.max(1);
        Transformer {
            inner: Arc::new(Inner {
                limits,
                slots: Semaphore::new(processes),
                idle: Mutex::new(Vec::new()),
            }),
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// Compiles `t`'s programs: one message per bad program, naming it
    /// (`delivery_policy.transform.body: line 1, column 3: …`).
    pub async fn check(&self, t: &Transform) -> Result<Vec<String>, Unavailable> {
        let request = Request {
            body: t.body.as_deref().map(Cow::Borrowed),
            headers: t.headers.as_deref().map(Cow::Borrowed),
            run: false,
        };
        let named =
            |part: Part, m: &str| format!("delivery_policy.transform.{}: {m}", part.as_str());
        // Compiling is held to the CPU time a run may take; the wall clock
        // (waiting for a runner, a busy machine) to a few seconds.
        let deadline = Instant::now() + CHECK_WITHIN;
        match self.inner.request(&request, None, deadline).await {
            Ok((Answer::Checked { errors }, _)) => {
                Ok(errors.iter().map(|(p, m)| named(*p, m)).collect())
            }
            Ok(_) => Err(Unavailable("the runner answered out of turn".into())),
            Err(Trouble::Spawn(e)) => Err(Unavailable(e)),
            Err(Trouble::Busy | Trouble::OutOfTime) => {
                Err(Unavailable("no runner was free".into()))
            }
            Err(Trouble::Timeout(_) | Trouble::Died | Trouble::Memory) => Ok(vec![
                "delivery_policy.transform: the programs could not be compiled \
                 (too long or too deeply nested)"
                    .to_string(),
            ]),
        }
    }

    /// Runs `t` on `event`, finishing by `deadline` at the latest (and
    /// within `TRANSFORM_TIMEOUT_MS` of CPU time).
    pub async fn run(
        &self,
        t: &Transform,
        event: EventInput<'_>,
        deadline: Instant,
    ) -> Result<Output, Failure> {
        let input = event.to_json();
        let request = Request {
            body: t.body.as_deref().map(Cow::Borrowed),
            headers: t.headers.as_deref().map(Cow::Borrowed),
            run: true,
        };
        match self.inner.request(&request, Some(&input), deadline).await {
            Ok((Answer::Ran { headers, .. }, body)) => {
                let headers = headers.unwrap_or_default();
                if let Some((k, _)) = headers.iter().find(|(k, _)| reserved(k)) {
                    return Err(Failure::program(format!(
                        "transform.headers: {k} is outbound's own and cannot be set"
                    )));
                }
                Ok(Output { body, headers })
            }
            Ok((Answer::Failed { part, message }, _)) => Err(Failure::program(format!(
                "transform.{}: {message}",
                part.as_str()
            ))),
            Ok((Answer::Checked { .. }, _)) => Err(Failure::service(
                "the transformation runner answered out of turn".into(),
            )),
            Err(Trouble::Timeout(limit)) => Err(Failure::program(format!(
                "transform: ran longer than {} ms (CPU time) and was stopped",
                limit.as_millis()
            ))),
            Err(Trouble::Died) => Err(Failure::program(format!(
                "transform: stopped the process that ran it (recursion too deep, \
                 or more than {} MiB of memory)",
                self.inner.limits.max_memory_mb
            ))),
            Err(Trouble::Memory) => Err(Failure::program(format!(
                "transform: used more than {} MiB of memory and was stopped",
                self.inner.limits.max_memory_mb
            ))),
            Err(Trouble::Busy) => Err(Failure::service(
                "transform: no transformation runner was free in time".into(),
            )),
            Err(Trouble::OutOfTime) => Err(Failure::service(
                "transform: the attempt's time ran out before its transformation ended \
                 (no runner free, or the machine too busy)"
                    .into(),
            )),
            Err(Trouble::Spawn(e)) => Err(Failure::service(format!(
                "transform: cannot start a transformation runner: {e}"
            ))),
        }
    }
}

impl Inner {
    /// Sends `request` to a free runner and reads its answer, by `deadline`
    /// and within the run timeout. A runner that fails in any way is killed,
    /// never reused.
    /// With `event`, the answer's body comes with it (when it ran a body
    /// program).
    async fn request(
        &self,
        request: &Request<'_>,
        event: Option<&str>,
        deadline: Instant,
    ) -> Result<(Answer, Option<String>), Trouble> {
        let header = serde_json::to_vec(request).map_err(|e| Trouble::Spawn(e.to_string()))?;
        let mut payload = Vec::with_capacity(header.len() + event.map_or(0, str::len) + 8);
        push_frame(&mut payload, &header);
        if let Some(event) = event {
            push_frame(&mut payload, event.as_bytes());
        }
        let _slot = tokio::time::timeout_at(deadline, self.slots.acquire())
            .await
            .map_err(|_| Trouble::Busy)?
            .map_err(|_| Trouble::Busy)?;
        // A runner that died while idle (killed from outside) is not the
        // next program's fault: it is replaced before it is used.
        let idle = self
            .idle
            .lock()
            .map(|mut idle| idle.pop())
            .ok()
            .flatten()
            .and_then(|mut r| r.alive().then_some(r));
        let mut runner = match idle {
            Some(r) => r,
            None => self.spawn()?,
        };
        // The time bound is on the CPU time the runner spends, so that a
        // machine under load (a runner waiting for a core) fails no
        // program. The wall clock only backstops it: a few times the bound,
        // or the caller's deadline.
        let cpu_limit = self.limits.timeout;
        let backstop = cpu_limit * WALL_BACKSTOP + Duration::from_secs(1);
        let limit = backstop.min(deadline.saturating_duration_since(Instant::now()));
        let exchange = async {
            runner.stdin.write_all(&payload).await?;
            runner.stdin.flush().await?;
            let answer = read_frame(&mut runner.stdout).await?;
            let answer: Answer = serde_json::from_slice(&answer)?;
            let body = match &answer {
                Answer::Ran { body: true, .. } => {
                    let body = read_frame(&mut runner.stdout).await?;
                    Some(String::from_utf8(body).map_err(std::io::Error::other)?)
                }
                _ => None,
            };
            std::io::Result::Ok((answer, body))
        };
        // While it runs, the runner's CPU time and resident memory are read
        // every few milliseconds (a run that ends sooner is never measured:
        // the fast path reads nothing), and a runner past either bound is
        // stopped. Its own limit on address space is only a backstop (see
        // `runner::limit_self`).
        let max_resident = self.limits.max_memory_mb.saturating_mul(1024 * 1024);
        let pid = runner.child.id();
        let watch = async {
            let mut every = tokio::time::interval(WATCH_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            every.tick().await;
            // CPU time counted from the first reading, plus the interval
            // before it (at most what it can have used by then).
            every.tick().await;
            let first = pid.and_then(usage);
            loop {
                every.tick().await;
                let Some((now, first)) = pid.and_then(usage).zip(first) else {
                    continue;
                };
                if now.resident > max_resident {
                    return Trouble::Memory;
                }
                if now.cpu.saturating_sub(first.cpu) + WATCH_EVERY > cpu_limit {
                    return Trouble::Timeout(cpu_limit);
                }
            }
        };
        let exchange = async {
            tokio::select! {
                answer = exchange => Ok(answer),
                trouble = watch => Err(trouble),
            }
        };
        let answer = match tokio::time::timeout(limit, exchange).await {
            Ok(Err(trouble)) => {
                runner.kill();
                return Err(trouble);
            }
            Err(_) => {
                runner.kill();
                return Err(Trouble::OutOfTime);
            }
            Ok(Ok(Err(_))) => {
                runner.kill();
                return Err(Trouble::Died);
            }
            Ok(Ok(Ok(answer))) => answer,
        };
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(runner);
        }
        Ok(answer)
    }

    fn spawn(&self) -> Result<Runner, Trouble> {
        let exe = match &self.limits.runner {
            Some(path) => path.clone(),
            None => std::env::current_exe().map_err(|e| Trouble::Spawn(e.to_string()))?,
        };
        // An empty environment: nothing of the service's (its database URL,
        // its keys) is within a program's reach, even through a jaq bug.
        let mut child = Command::new(&exe)
            .arg("transform-runner")
            .arg("--max-output-bytes")
            .arg(self.limits.max_output_bytes.to_string())
            .arg("--max-memory-mb")
            .arg(self.limits.max_memory_mb.to_string())
            .env_clear()
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| Trouble::Spawn(format!("{}: {e}", exe.display())))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(Trouble::Spawn("no pipes to the runner".into()));
        };
        Ok(Runner {
            child,
            stdin,
            stdout,
        })
    }
}

/// Reads one frame.
async fn read_frame(r: &mut ChildStdout) -> std::io::Result<Vec<u8>> {
    let mut header = [0u8; 4];
    r.read_exact(&mut header).await?;
    let mut payload = vec![0; frame_len(header)?];
    r.read_exact(&mut payload).await?;
    Ok(payload)
}

/// How long a check may wait for a runner and its answer.
const CHECK_WITHIN: Duration = Duration::from_secs(10);

/// How often a running runner's CPU time and memory are read.
const WATCH_EVERY: Duration = Duration::from_millis(5);

/// The wall-clock backstop of a run, in multiples of its CPU-time bound
/// (plus a second).
const WALL_BACKSTOP: u32 = 4;

/// What a process has used.
#[derive(Debug, Clone, Copy)]
struct Usage {
    /// User and system CPU time.
    cpu: Duration,
    /// Resident memory, in bytes.
    resident: u64,
}

/// What process `pid` has used, from `/proc/<pid>/stat`.
fn usage(pid: u32) -> Option<Usage> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command's name (which may hold spaces and parentheses):
    // field 3 (state) onwards; utime and stime are fields 14 and 15, in
    // clock ticks, and rss field 24, in pages.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    let cpu_ticks = ticks(11)? + ticks(12)?;
    let per_second = rustix::param::clock_ticks_per_second().max(1);
    Some(Usage {
        cpu: Duration::from_micros(cpu_ticks * 1_000_000 / per_second),
        resident: ticks(21)? * rustix::param::page_size() as u64,
    })
}

impl Runner {
    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Kills the runner; tokio reaps it.
    fn kill(mut self) {
        let _ = self.child.start_kill();
    }
}
