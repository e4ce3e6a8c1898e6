//! `outbound bench http`: the HTTP publish path end to end.
//!
//! `outbound serve` runs as a child process (API and worker in one, as a
//! user runs it) against a scratch database; publishers POST /api/v1/publish
//! with 1 KiB events over keep-alive connections to one webhook destination
//! on loopback. Prints accepted/s and delivered/s (sustained, with at most
//! a bounded backlog), then publish→receive latency at a fixed rate.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::harness::{spawn_serve, start_receiver, Receiver, API_KEY as KEY};
use super::sql;
use super::support::{connect, machine_summary, payload, BenchDb};
use crate::config::Settings;

#[derive(Debug, Args)]
pub struct HttpArgs {
    /// Seconds measured.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Keep-alive connections publishing.
    #[arg(long, default_value_t = 32)]
    pub connections: usize,
    /// Offered load of the latency phase, events per second.
    #[arg(long, default_value_t = 200)]
    pub rate: u64,
}

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

async fn post(client: &HttpClient, url: &str, body: String) -> anyhow::Result<u16> {
    let req = hyper::Request::post(url)
        .header("authorization", format!("Bearer {KEY}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))?;
    let resp = client.request(req).await?;
    let status = resp.status().as_u16();
    resp.into_body().collect().await?;
    Ok(status)
}

pub async fn run(settings: Settings, args: HttpArgs) -> anyhow::Result<()> {
    let bench = BenchDb::create(&settings).await?;
    let setup = connect(&bench.url).await?;
    setup.batch_execute(sql::SETUP).await?;
    let rx = Arc::new(Receiver::default());
    let hook = start_receiver(rx.clone()).await?;
    setup.execute(sql::POINT_AT, &[&hook]).await?;
    setup.batch_execute(sql::ONLY_D_TOPIC).await?;

    let (mut serve, addr) = spawn_serve(&bench.url, None).await?;
    let url = format!("{addr}/api/v1/publish");
    println!(
        "outbound bench http: {}, PostgreSQL {}, {} keep-alive connections, {} s, 1 KiB events, 1 destination",
        machine_summary(),
        bench.server_version,
        args.connections,
        args.seconds
    );

    // Throughput: publish flat out, holding back only while the backlog is
    // long, and count what is accepted and what arrives.
    let client: HttpClient = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(args.connections)
        .build_http();
    let stop = Arc::new(AtomicBool::new(false));
    let accepted = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..args.connections as u64 {
        let (client, url, stop, accepted, errors, rx) = (
            client.clone(),
            url.clone(),
            stop.clone(),
            accepted.clone(),
            errors.clone(),
            rx.clone(),
        );
        tasks.spawn(async move {
            let mut i = worker << 40;
            while !stop.load(Ordering::Relaxed) {
                rx.wait_for_room().await;
                rx.expected.fetch_add(1, Ordering::Relaxed);
                i += 1;
                let body = format!(
                    r#"{{"tenant_id":"bench","topic":"bench.event","data":{}}}"#,
                    payload("a", i, 1024)
                );
                match post(&client, &url, body).await {
                    Ok(202) => {
                        accepted.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (a0, d0, t0) = (
        accepted.load(Ordering::Relaxed),
        rx.received.load(Ordering::Relaxed),
        Instant::now(),
    );
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let secs = t0.elapsed().as_secs_f64();
    let accepted_rate = (accepted.load(Ordering::Relaxed) - a0) as f64 / secs;
    let delivered_rate = (rx.received.load(Ordering::Relaxed) - d0) as f64 / secs;
    stop.store(true, Ordering::Relaxed);
    while tasks.join_next().await.is_some() {}

    // Latency at a fixed rate.
    tokio::time::sleep(Duration::from_secs(2)).await;
    rx.arrivals.lock().map(|mut a| a.clear()).ok();
    rx.track.store(true, Ordering::Relaxed);
    let sent: Arc<std::sync::Mutex<Vec<(String, Instant)>>> = Arc::default();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate.max(1) as f64));
    let end = Instant::now() + Duration::from_secs(args.seconds);
    let mut seq = 0u64;
    let mut lat_tasks = tokio::task::JoinSet::new();
    while Instant::now() < end {
        tick.tick().await;
        seq += 1;
        let id = format!("http-lat-{seq}");
        let (client, url, sent) = (client.clone(), url.clone(), sent.clone());
        lat_tasks.spawn(async move {
            let body = format!(
                r#"{{"id":"{id}","tenant_id":"bench","topic":"bench.event","data":{}}}"#,
                payload("a", seq, 1024)
            );
            if let Ok(mut s) = sent.lock() {
                s.push((id, Instant::now()));
            }
            let _ = post(&client, &url, body).await;
        });
        while lat_tasks.try_join_next().is_some() {}
    }
    while lat_tasks.join_next().await.is_some() {}
    tokio::time::sleep(Duration::from_secs(2)).await;
    rx.track.store(false, Ordering::Relaxed);
    let arrivals = rx.arrivals.lock().map(|a| a.clone()).unwrap_or_default();
    let sent = sent.lock().map(|s| s.clone()).unwrap_or_default();
    let mut ms: Vec<f64> = sent
        .iter()
        .filter_map(|(id, t0)| {
            arrivals
                .get(id)
                .map(|t1| t1.duration_since(*t0).as_secs_f64() * 1000.0)
        })
        .collect();
    ms.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| super::support::percentile(&ms, p);

    let _ = serve.start_kill();
    let _ = serve.wait().await;
    println!();
    println!(
        "POST /api/v1/publish accepted: {accepted_rate:.0}/s ({} errors)",
        errors.load(Ordering::Relaxed)
    );
    println!("webhooks delivered meanwhile:  {delivered_rate:.0}/s");
    println!(
        "publish→receive latency at {}/s: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} of {} received)",
        args.rate,
        pct(0.5),
        pct(0.99),
        ms.last().copied().unwrap_or(f64::NAN),
        ms.len(),
        sent.len()
    );
    drop(setup);
    bench.db.close();
    Ok(())
}
