//! `outbound bench senders`: deliveries per second per destination type.
//!
//! For each type, a fresh database gets one destination of that type and a
//! backlog of `--events` small events (one SQL statement), then one
//! `outbound worker` process (DELIVERY_CONCURRENCY in flight) drains it.
//! The rate is the backlog over the time from the first attempt to the
//! last, read from the attempt log, so the worker's start-up is not in it.
//! The webhook row (a hyper receiver on loopback) is the reference; SQS
//! runs against a moto server (`--moto-url`) and RabbitMQ against a broker
//! (`--amqp user:password@host:port`), each skipped when not given. The
//! ceiling is then usually the server's: moto is a single Python process.

use std::convert::Infallible;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use amqprs::channel::{ExchangeDeclareArguments, QueueBindArguments, QueueDeclareArguments};
use amqprs::connection::{Connection, OpenConnectionArguments};
use anyhow::Context;
use clap::Args;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};

use super::sql;
use super::support::{connect, machine_summary, BenchDb};
use crate::config::Settings;

#[derive(Debug, Args)]
pub struct SendersArgs {
    /// Deliveries per type.
    #[arg(long, default_value_t = 20_000)]
    pub events: i32,
    /// The worker's send slots (DELIVERY_CONCURRENCY).
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// A moto server for the aws_sqs row, e.g. http://127.0.0.1:5000.
    #[arg(long)]
    pub moto_url: Option<String>,
    /// A RabbitMQ broker for the rabbitmq row: user:password@host:port.
    #[arg(long)]
    pub amqp: Option<String>,
}

pub async fn run(settings: Settings, args: SendersArgs) -> anyhow::Result<()> {
    println!(
        "outbound bench senders: {}, {} deliveries per type, worker DELIVERY_CONCURRENCY={}",
        machine_summary(),
        args.events,
        args.concurrency
    );
    println!();
    println!(
        "{:<12} {:>12} {:>10} {:>8}  server",
        "type", "per second", "ratio", "failed"
    );
    let webhook = row(&settings, &args, Target::Webhook).await?;
    print_row("webhook", webhook, webhook.0, "hyper on loopback");
    match &args.moto_url {
        Some(url) => {
            let r = row(&settings, &args, Target::Sqs(url.clone())).await?;
            print_row("aws_sqs", r, webhook.0, "moto (one Python process)");
        }
        None => println!("{:<12} skipped: no --moto-url", "aws_sqs"),
    }
    match &args.amqp {
        Some(addr) => {
            let r = row(&settings, &args, Target::Rabbitmq(addr.clone())).await?;
            print_row(
                "rabbitmq",
                r,
                webhook.0,
                "RabbitMQ, publisher confirms, one bound queue",
            );
        }
        None => println!("{:<12} skipped: no --amqp", "rabbitmq"),
    }
    Ok(())
}

fn print_row(name: &str, (rate, failed): (f64, i64), webhook: f64, server: &str) {
    println!(
        "{:<12} {:>12.0} {:>10.2} {:>8}  {}",
        name,
        rate,
        rate / webhook,
        failed,
        server
    );
}

enum Target {
    Webhook,
    Sqs(String),
    Rabbitmq(String),
}

/// Deliveries per second and failed attempts for one type.
async fn row(
    settings: &Settings,
    args: &SendersArgs,
    target: Target,
) -> anyhow::Result<(f64, i64)> {
    let bench = BenchDb::create(settings).await?;
    let db = connect(&bench.url).await?;
    let received = Arc::new(AtomicU64::new(0));
    let (kind, config, credentials, mut env) = match &target {
        Target::Webhook => {
            let url = start_receiver(received.clone()).await?;
            (
                "webhook",
                json!({ "url": url }),
                json!({"secret": "whsec_bench"}),
                vec![],
            )
        }
        Target::Sqs(moto) => {
            let queue_url = create_queue(moto).await?;
            (
                "aws_sqs",
                crate::destinations::aws::sqs::config(&queue_url),
                json!({"key": "bench", "secret": "bench"}),
                vec![("AWS_ENDPOINT_URL", moto.clone())],
            )
        }
        Target::Rabbitmq(addr) => {
            let (login, server) = addr
                .split_once('@')
                .context("--amqp is user:password@host:port")?;
            let (user, password) = login
                .split_once(':')
                .context("--amqp is user:password@host:port")?;
            declare_queue(server, user, password).await?;
            (
                "rabbitmq",
                crate::destinations::rabbitmq::config(server, "outbound.bench", false),
                json!({ "username": user, "password": password }),
                vec![],
            )
        }
    };
    env.push(("DELIVERY_CONCURRENCY", args.concurrency.to_string()));
    db.execute(sql::SENDERS_SETUP, &[&kind, &config, &credentials])
        .await?;
    db.execute(sql::SENDERS_BACKLOG, &[&args.events]).await?;

    let mut worker = tokio::process::Command::new(std::env::current_exe()?);
    worker
        .arg("worker")
        .env("DATABASE_URL", &bench.url)
        .env("AES_ENCRYPTION_SECRET", "bench")
        .env("DESTINATIONS_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8")
        .env("ALERT_CONSECUTIVE_FAILURE_COUNT", "0")
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .kill_on_drop(true);
    for (k, v) in &env {
        worker.env(k, v);
    }
    let mut worker = worker.spawn()?;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let left: i64 = db.query_one(sql::QUEUE_LENGTH, &[]).await?.get(0);
        if left == 0 {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{kind}: {left} deliveries still queued after 300 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = worker.start_kill();
    let _ = worker.wait().await;
    let r = db.query_one(sql::SENDERS_RESULT, &[]).await?;
    let (delivered, failed, seconds): (i64, i64, f64) = (r.get(0), r.get(1), r.get(2));
    Ok((delivered as f64 / seconds.max(1e-3), failed))
}

async fn start_receiver(received: Arc<AtomicU64>) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let received = received.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |_req: Request<Incoming>| {
                    received.fetch_add(1, Ordering::Relaxed);
                    async { Ok::<_, Infallible>(Response::new(Full::new(Bytes::new()))) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok(format!("http://{addr}/hook"))
}

/// Creates the queue `outbound-bench` on moto and returns its URL. moto
/// checks no signatures unless told to, but it picks the service from the
/// credential scope of the `Authorization` header, so one is sent.
async fn create_queue(moto: &str) -> anyhow::Result<String> {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let req = hyper::Request::post(format!("{}/", moto.trim_end_matches('/')))
        .header("x-amz-target", "AmazonSQS.CreateQueue")
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=bench/20260101/us-east-1/sqs/aws4_request, \
             SignedHeaders=host, Signature=0",
        )
        .header("content-type", "application/x-amz-json-1.0")
        .body(Full::new(Bytes::from(
            json!({"QueueName": "outbound-bench"}).to_string(),
        )))?;
    let resp = client.request(req).await.context("reaching moto")?;
    let body = resp.into_body().collect().await?.to_bytes();
    let answer: Value = serde_json::from_slice(&body)
        .with_context(|| format!("moto answered {}", String::from_utf8_lossy(&body)))?;
    answer["QueueUrl"]
        .as_str()
        .map(str::to_string)
        .context("moto's answer has no QueueUrl")
}

/// Declares the exchange the destination publishes to and one queue bound
/// to it for every routing key, so that each message is stored.
async fn declare_queue(server: &str, user: &str, password: &str) -> anyhow::Result<()> {
    let (host, port) = server
        .rsplit_once(':')
        .context("--amqp is user:password@host:port")?;
    let args = OpenConnectionArguments::new(host, port.parse()?, user, password);
    let connection = Connection::open(&args).await?;
    let channel = connection.open_channel(None).await?;
    channel
        .exchange_declare(ExchangeDeclareArguments::new("outbound.bench", "topic"))
        .await?;
    channel
        .queue_delete(amqprs::channel::QueueDeleteArguments::new(
            "outbound.bench.q",
        ))
        .await?;
    channel
        .queue_declare(QueueDeclareArguments::new("outbound.bench.q"))
        .await?;
    channel
        .queue_bind(QueueBindArguments::new(
            "outbound.bench.q",
            "outbound.bench",
            "#",
        ))
        .await?;
    channel.close().await?;
    connection.close().await?;
    Ok(())
}
