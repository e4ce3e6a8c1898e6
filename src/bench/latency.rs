//! `outbound bench latency`: where a delivery's milliseconds go.
//!
//! `outbound serve` runs as a child process (API and worker in one) with
//! one webhook destination pointing at a receiver on a thread and runtime
//! of its own. For each offered load (200 events/s, and half of the peak
//! rate measured first), three phases publish at that fixed rate:
//!
//! - control: the bench POSTs a 1 KiB body straight to the receiver over
//!   keep-alive, which is what loopback HTTP costs on this machine now;
//! - Postgres control: the same autocommit `INSERT` into a plain table
//!   (same columns, partitions and indexes, no trigger), which is what a
//!   durable commit costs on this machine now;
//! - SQL: one autocommit `INSERT` per event, as an application publishes;
//! - HTTP: `POST /api/v1/publish` per event.
//!
//! End to end (publish → received) and the client's own call are the
//! bench's exact clock readings; the stages in between are the worker's
//! (`outbound_delivery_stage_seconds`, read from its `/metrics` before and
//! after each phase), so their percentiles are good to a bucket's width.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::harness::{
    drain, measure_delivered, spawn_serve, start_receiver_apart, Receiver, API_KEY,
};
use super::sql;
use super::support::{connect, machine_summary, payload, percentile, timed, BenchDb};
use crate::config::Settings;
use crate::telemetry::Stage;

#[derive(Debug, Args)]
pub struct LatencyArgs {
    /// Seconds measured per phase.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Offered loads in events/s; `half` is half of the peak delivered
    /// rate, measured first (one event per INSERT, 16 connections).
    #[arg(long, value_delimiter = ',', default_value = "200,half")]
    pub rates: Vec<String>,
    /// Also write every timed event to this CSV file (phase, rate, ms
    /// since the phase started, client ms, publish → received ms), to see
    /// when the slow ones happened.
    #[arg(long)]
    pub csv: Option<std::path::PathBuf>,
    /// The `outbound` binary whose `serve` is measured (default: this
    /// one), to compare two builds with the same bench.
    #[arg(long)]
    pub serve_bin: Option<std::path::PathBuf>,
}

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

/// How a phase publishes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Path {
    Control,
    Plain,
    Sql,
    Http,
}

/// Everything a phase needs.
struct Ctx {
    url: String,
    rx: Arc<Receiver>,
    hook: String,
    api: String,
    http: HttpClient,
    pool: deadpool_postgres::Pool,
}

/// What one phase measured, in milliseconds.
struct Phase {
    /// Each event: ms since the phase started, client ms, end-to-end ms
    /// (NaN if it never arrived), in publishing order.
    events: Vec<(f64, f64, f64)>,
    /// The publishing call: INSERT until committed, or the POST answered.
    client: Vec<f64>,
    /// Publish → received.
    end_to_end: Vec<f64>,
    sent: usize,
    /// The worker's stages (none for the control).
    stages: Vec<(Stage, Dist)>,
}

pub async fn run(settings: Settings, args: LatencyArgs) -> anyhow::Result<()> {
    let bench = BenchDb::create(&settings).await?;
    let setup = connect(&bench.url).await?;
    setup.batch_execute(sql::SETUP).await?;
    setup.batch_execute(sql::SETUP_PLAIN).await?;
    let rx = Arc::new(Receiver::default());
    let hook = start_receiver_apart(rx.clone())?;
    setup.execute(sql::POINT_AT, &[&hook]).await?;
    setup.batch_execute(sql::ONLY_D_TOPIC).await?;
    let (mut serve, api) = spawn_serve(&bench.url, args.serve_bin.as_deref()).await?;
    let span = Duration::from_secs(args.seconds.max(1));
    let serve_bin = match &args.serve_bin {
        Some(bin) => bin.display().to_string(),
        None => "this binary".into(),
    };
    println!(
        "outbound bench latency: {}, PostgreSQL {}, {} s per phase, 1 KiB events, 1 webhook destination, \
         `outbound serve` ({serve_bin}) as a child process, receiver on a thread of its own",
        machine_summary(),
        bench.server_version,
        span.as_secs()
    );
    let ctx = Ctx {
        url: bench.url.clone(),
        rx: rx.clone(),
        hook,
        api,
        http: Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(16)
            .build_http(),
        pool: crate::store::connect_pool(&bench.url, 16)?,
    };
    // Open the publishing connections before anything is timed.
    let mut warm = Vec::new();
    for _ in 0..16 {
        warm.push(ctx.pool.get().await?);
    }
    drop(warm);

    let mut csv = match &args.csv {
        None => None,
        Some(path) => {
            use std::io::Write;
            let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
            writeln!(file, "phase,rate,at_ms,client_ms,end_to_end_ms")?;
            Some(file)
        }
    };
    let mut peak = None;
    for rate in &args.rates {
        let rate = match rate.as_str() {
            "half" => {
                let p = match peak {
                    Some(p) => p,
                    None => {
                        let p = peak_rate(&ctx, &setup, span.min(Duration::from_secs(5))).await?;
                        println!("peak: {p:.0} delivered webhooks/s (one event per INSERT, 16 connections)");
                        peak = Some(p);
                        p
                    }
                };
                (p / 2.0).max(10.0)
            }
            n => n
                .parse::<f64>()
                .ok()
                .filter(|r| *r > 0.0)
                .ok_or_else(|| anyhow::anyhow!("--rates: {n:?} is neither a rate nor `half`"))?,
        };
        let control = phase(&ctx, Path::Control, rate, span).await?;
        let plain = phase(&ctx, Path::Plain, rate, span).await?;
        let by_sql = phase(&ctx, Path::Sql, rate, span).await?;
        let by_http = phase(&ctx, Path::Http, rate, span).await?;
        print_rate(rate, &control, &plain, &by_sql, &by_http);
        if let Some(file) = &mut csv {
            use std::io::Write;
            let phases = [
                ("control", &control),
                ("plain", &plain),
                ("sql", &by_sql),
                ("http", &by_http),
            ];
            for (name, p) in phases {
                for (at, client, e2e) in &p.events {
                    writeln!(file, "{name},{rate:.0},{at:.3},{client:.3},{e2e:.3}")?;
                }
            }
        }
    }
    let _ = serve.start_kill();
    let _ = serve.wait().await;
    drop(setup);
    bench.db.close();
    Ok(())
}

/// Delivered webhooks/s with one event per INSERT from 16 connections,
/// publishers holding back while the backlog is long (as `bench delivery`
/// A measures it).
async fn peak_rate(
    ctx: &Ctx,
    setup: &tokio_postgres::Client,
    span: Duration,
) -> anyhow::Result<f64> {
    let warmup = Duration::from_secs(1);
    let rx = ctx.rx.clone();
    let publish = move |client: Arc<deadpool_postgres::Object>, i: u64| {
        let rx = rx.clone();
        async move {
            rx.wait_for_room().await;
            rx.expected.fetch_add(1, Ordering::Relaxed);
            let stmt = client.prepare_cached(sql::INSERT_ONE).await?;
            client.execute(&stmt, &[&payload("a", i, 1024)]).await?;
            anyhow::Ok(1)
        }
    };
    let a = measure_delivered(&ctx.rx, span, warmup, || {
        timed(&ctx.url, 16, warmup, span + Duration::from_secs(1), publish)
    })
    .await?;
    drain(setup, &ctx.rx).await?;
    Ok(a.delivered)
}

/// Publishes one event per tick at `rate` for a second of warm-up, then
/// for `span`, each from a task of its own so that a slow one never holds
/// up the schedule, and times what the warm-up did not include.
async fn phase(ctx: &Ctx, path: Path, rate: f64, span: Duration) -> anyhow::Result<Phase> {
    let tag = match path {
        Path::Control => "control",
        Path::Plain => "plain",
        Path::Sql => "sql",
        Path::Http => "http",
    };
    publish_at(
        ctx,
        path,
        rate,
        Duration::from_secs(1),
        &format!("warm-{tag}"),
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = match path {
        Path::Control | Path::Plain => None,
        _ => Some(scrape(ctx).await?),
    };
    ctx.rx.arrivals.lock().map(|mut a| a.clear()).ok();
    ctx.rx.track.store(true, Ordering::Relaxed);
    let prefix = format!("{tag}-{rate:.0}");
    let sent = publish_at(ctx, path, rate, span, &prefix).await?;
    // Wait for the stragglers (a few seconds at most), then for their
    // outcomes to be recorded, so that every stage has them.
    let deadline = Instant::now() + Duration::from_secs(5);
    while path != Path::Plain && Instant::now() < deadline {
        let arrived = ctx.rx.arrivals.lock().map(|a| a.len()).unwrap_or(0);
        if arrived >= sent.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    ctx.rx.track.store(false, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stages = match before {
        None => Vec::new(),
        Some(before) => {
            let after = scrape(ctx).await?;
            Stage::ALL
                .iter()
                .map(|s| {
                    let label = s.label();
                    let dist = Dist::between(before.get(label), after.get(label));
                    (*s, dist)
                })
                .collect()
        }
    };
    let arrivals = ctx
        .rx
        .arrivals
        .lock()
        .map(|a| a.clone())
        .unwrap_or_default();
    let mut client = Vec::with_capacity(sent.len());
    let mut end_to_end = Vec::with_capacity(sent.len());
    let mut events = Vec::with_capacity(sent.len());
    let start = sent.iter().map(|(_, t0, _)| *t0).min();
    for (id, t0, t1) in &sent {
        client.push(ms(*t1 - *t0));
        let e2e = arrivals
            .get(id)
            .map(|t| ms(t.saturating_duration_since(*t0)));
        end_to_end.extend(e2e);
        let at = start.map_or(0.0, |s| ms(*t0 - s));
        events.push((at, ms(*t1 - *t0), e2e.unwrap_or(f64::NAN)));
    }
    events.sort_by(|a, b| a.0.total_cmp(&b.0));
    client.sort_by(f64::total_cmp);
    end_to_end.sort_by(f64::total_cmp);
    Ok(Phase {
        events,
        client,
        end_to_end,
        sent: sent.len(),
        stages,
    })
}

/// Publishes at `rate` for `span`; returns each event's id, when its
/// publishing call started and when it returned.
async fn publish_at(
    ctx: &Ctx,
    path: Path,
    rate: f64,
    span: Duration,
    prefix: &str,
) -> anyhow::Result<Vec<(String, Instant, Instant)>> {
    let done: Arc<Mutex<Vec<(String, Instant, Instant)>>> = Arc::default();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let end = Instant::now() + span;
    let mut tasks = tokio::task::JoinSet::new();
    let mut seq = 0u64;
    while Instant::now() < end {
        tick.tick().await;
        seq += 1;
        let id = format!("{prefix}-{seq}");
        let data = payload("a", seq, 1024);
        let done = done.clone();
        let (pool, http) = (ctx.pool.clone(), ctx.http.clone());
        let target = match path {
            Path::Control => ctx.hook.clone(),
            Path::Sql | Path::Plain => String::new(),
            Path::Http => format!("{}/api/v1/publish", ctx.api),
        };
        tasks.spawn(async move {
            let (t0, result) = match path {
                Path::Sql => {
                    let client = pool.get().await?;
                    let stmt = client.prepare_cached(sql::INSERT_WITH_ID).await?;
                    let t0 = Instant::now();
                    let r = client.execute(&stmt, &[&id, &data]).await.map(|_| ());
                    (t0, r.map_err(anyhow::Error::from))
                }
                Path::Plain => {
                    let client = pool.get().await?;
                    let stmt = client.prepare_cached(sql::INSERT_ONE_PLAIN).await?;
                    let t0 = Instant::now();
                    let r = client.execute(&stmt, &[&data]).await.map(|_| ());
                    (t0, r.map_err(anyhow::Error::from))
                }
                Path::Http => {
                    let body = format!(
                        r#"{{"id":"{id}","tenant_id":"bench","topic":"bench.event","data":{data}}}"#
                    );
                    let req = hyper::Request::post(&target)
                        .header("authorization", format!("Bearer {API_KEY}"))
                        .header("content-type", "application/json")
                        .body(Full::new(Bytes::from(body)))?;
                    let t0 = Instant::now();
                    (t0, answered(&http, req, 202).await)
                }
                Path::Control => {
                    let req = hyper::Request::post(&target)
                        .header("content-type", "application/json")
                        .header("x-outpost-event-id", id.as_str())
                        .body(Full::new(Bytes::from(data)))?;
                    let t0 = Instant::now();
                    (t0, answered(&http, req, 200).await)
                }
            };
            let t1 = Instant::now();
            result?;
            if let Ok(mut d) = done.lock() {
                d.push((id, t0, t1));
            }
            anyhow::Ok(())
        });
        while tasks.try_join_next().is_some() {}
    }
    let mut failed = 0usize;
    while let Some(r) = tasks.join_next().await {
        if !matches!(r, Ok(Ok(()))) {
            failed += 1;
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} publishes failed ({prefix})");
    }
    let done = done.lock().map(|d| d.clone()).unwrap_or_default();
    Ok(done)
}

async fn answered(
    http: &HttpClient,
    req: hyper::Request<Full<Bytes>>,
    expect: u16,
) -> anyhow::Result<()> {
    let resp = http.request(req).await?;
    let status = resp.status().as_u16();
    resp.into_body().collect().await?;
    anyhow::ensure!(status == expect, "answered {status}, not {expect}");
    Ok(())
}

/// The stage histograms' cumulative buckets, by stage: (upper bound in ms,
/// count).
type Buckets = HashMap<String, Vec<(f64, u64)>>;

/// Reads `outbound_delivery_stage_seconds` from the service's `/metrics`.
async fn scrape(ctx: &Ctx) -> anyhow::Result<Buckets> {
    let req = hyper::Request::get(format!("{}/metrics", ctx.api))
        .header("authorization", format!("Bearer {API_KEY}"))
        .body(Full::new(Bytes::new()))?;
    let resp = ctx.http.request(req).await?;
    let text = resp.into_body().collect().await?.to_bytes();
    let text = String::from_utf8_lossy(&text);
    let mut buckets: Buckets = HashMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("outbound_delivery_stage_seconds_bucket{") else {
            continue;
        };
        let Some((labels, count)) = rest.split_once("} ") else {
            continue;
        };
        let label = |name: &str| {
            let start = labels.find(&format!("{name}=\""))? + name.len() + 2;
            let len = labels[start..].find('"')?;
            Some(labels[start..start + len].to_string())
        };
        let (Some(stage), Some(le)) = (label("stage"), label("le")) else {
            continue;
        };
        let le = match le.as_str() {
            "+Inf" => f64::INFINITY,
            n => n.parse::<f64>().unwrap_or(f64::INFINITY) * 1000.0,
        };
        let count = count.trim().parse::<f64>().unwrap_or(0.0) as u64;
        buckets.entry(stage).or_default().push((le, count));
    }
    for b in buckets.values_mut() {
        b.sort_by(|x, y| x.0.total_cmp(&y.0));
    }
    Ok(buckets)
}

/// One stage's distribution over a phase: the counts its buckets gained.
struct Dist {
    /// (upper bound in ms, cumulative count).
    buckets: Vec<(f64, u64)>,
}

impl Dist {
    fn between(before: Option<&Vec<(f64, u64)>>, after: Option<&Vec<(f64, u64)>>) -> Dist {
        let after = after.cloned().unwrap_or_default();
        let buckets = after
            .iter()
            .map(|(le, n)| {
                let was = before
                    .and_then(|b| b.iter().find(|(l, _)| l == le))
                    .map_or(0, |(_, n)| *n);
                (*le, n.saturating_sub(was))
            })
            .collect();
        Dist { buckets }
    }

    fn count(&self) -> u64 {
        self.buckets.last().map_or(0, |(_, n)| *n)
    }

    /// The `p` quantile, interpolated within its bucket as Prometheus'
    /// histogram_quantile does.
    fn quantile(&self, p: f64) -> f64 {
        let total = self.count();
        if total == 0 {
            return f64::NAN;
        }
        let target = p * total as f64;
        let mut lower = (0.0, 0u64);
        for &(le, n) in &self.buckets {
            if n as f64 >= target && n > lower.1 {
                if le.is_infinite() {
                    return lower.0;
                }
                let within = (target - lower.1 as f64) / (n - lower.1) as f64;
                return lower.0 + (le - lower.0) * within.clamp(0.0, 1.0);
            }
            lower = (le, n);
        }
        lower.0
    }

    /// The upper bound of the highest bucket anything fell in.
    fn max_bound(&self) -> f64 {
        let mut below = 0;
        let mut bound = f64::NAN;
        for &(le, n) in &self.buckets {
            if n > below {
                bound = le;
            }
            below = n;
        }
        bound
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

const QUANTILES: [f64; 3] = [0.50, 0.95, 0.99];

fn row(name: &str, values: [f64; 4], max_prefix: &str) {
    println!(
        "  {name:<46} {:>8.2} {:>8.2} {:>8.2} {max_prefix:>2}{:>7.2}",
        values[0], values[1], values[2], values[3]
    );
}

fn exact(v: &[f64]) -> [f64; 4] {
    [
        percentile(v, QUANTILES[0]),
        percentile(v, QUANTILES[1]),
        percentile(v, QUANTILES[2]),
        v.last().copied().unwrap_or(f64::NAN),
    ]
}

fn print_rate(rate: f64, control: &Phase, plain: &Phase, by_sql: &Phase, by_http: &Phase) {
    println!();
    println!(
        "at {rate:.0} events/s, ms {:>36} {:>8} {:>8} {:>9}",
        "p50", "p95", "p99", "max"
    );
    println!(
        "control: client → receiver, POST over keep-alive ({} of {} received)",
        control.end_to_end.len(),
        control.sent
    );
    let ctl = exact(&control.end_to_end);
    row("client → received", ctl, "");
    println!("Postgres control: the same INSERT into a plain table, no trigger");
    row("INSERT until committed (client)", exact(&plain.client), "");
    for (title, phase, call) in [
        (
            "SQL: one INSERT per event",
            by_sql,
            "INSERT until committed (client)",
        ),
        (
            "HTTP: POST /api/v1/publish",
            by_http,
            "POST until answered 202 (client)",
        ),
    ] {
        println!(
            "{title} ({} of {} received)",
            phase.end_to_end.len(),
            phase.sent
        );
        row(call, exact(&phase.client), "");
        for (stage, dist) in &phase.stages {
            let name = match stage {
                Stage::Wake => "wake: event time → worker woken",
                Stage::Claim => "claim: woken → claim answered",
                Stage::Queue => "queue: claimed → send starts",
                Stage::Send => "send: request → response",
                Stage::Record => "record: response → recorded (after it)",
            };
            let q = QUANTILES.map(|p| dist.quantile(p));
            row(name, [q[0], q[1], q[2], dist.max_bound()], "≤");
        }
        let e2e = exact(&phase.end_to_end);
        row("publish → received", e2e, "");
        let net = [0, 1, 2, 3].map(|i| e2e[i] - ctl[i]);
        row("net of the control", net, "");
        // Each event's own: what came after its publishing call returned.
        let mut after: Vec<f64> = phase
            .events
            .iter()
            .filter(|(_, _, e2e)| !e2e.is_nan())
            .map(|(_, client, e2e)| e2e - client)
            .collect();
        after.sort_by(f64::total_cmp);
        row("after the call: returned → received", exact(&after), "");
    }
}
