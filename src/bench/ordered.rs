//! `outbound bench ordered`: what ordered delivery (`delivery_policy.ordering`)
//! costs. One destination, a backlog of `--events` events published in
//! batches of 500, one `outbound worker` process: publish rate and delivery
//! rate without ordering, ordered as one lane, and ordered per key over
//! 16 and 256 keys.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::json;

use super::harness::{spawn_worker, start_receiver, Receiver};
use super::sql;
use super::support::{connect, machine_summary, BenchDb};
use crate::config::Settings;

#[derive(Debug, Args)]
pub struct OrderedArgs {
    /// Events per row.
    #[arg(long, default_value_t = 3000)]
    pub events: u64,
    /// Keys of the keyed rows (0: one lane for the whole destination).
    #[arg(long, value_delimiter = ',', default_value = "0,16,256")]
    pub keys: Vec<u64>,
    /// The worker's send slots.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
}

pub async fn run(settings: Settings, args: OrderedArgs) -> anyhow::Result<()> {
    let bench = BenchDb::create(&settings).await?;
    let url = bench.url.clone();
    let setup = connect(&url).await?;
    setup.batch_execute(sql::SETUP).await?;
    let rx = Arc::new(Receiver::default());
    let hook = start_receiver(rx.clone()).await?;
    setup.execute(sql::POINT_AT, &[&hook]).await?;
    setup.batch_execute(sql::ONLY_D_TOPIC).await?;
    println!(
        "outbound bench ordered: {}, PostgreSQL {}, one webhook destination on loopback, \
         {} events of 256 bytes per row published in batches of 500, then one worker \
         process with {} send slots",
        machine_summary(),
        bench.server_version,
        args.events,
        args.concurrency
    );
    println!();
    println!(
        "{:<26} {:>13} {:>14} {:>10}",
        "destination", "published/s", "delivered/s", "in order"
    );
    let insert = setup.prepare(sql::INSERT_BATCH).await?;
    let mut rows = vec![("no ordering".to_string(), None)];
    for &k in &args.keys {
        match k {
            0 => rows.push(("ordered, one lane".into(), Some(json!({"ordering": {}})))),
            k => rows.push((
                format!("ordered, {k} keys"),
                Some(json!({"ordering": {"key": "data.k"}})),
            )),
        }
    }
    for (i, (name, policy)) in rows.iter().enumerate() {
        let keys = match i {
            0 => 1,
            _ => args.keys[i - 1].max(1),
        };
        setup.batch_execute(sql::EMPTY).await?;
        let policy = policy.clone().unwrap_or_else(|| json!({}));
        setup.execute(sql::ORDERING, &[&policy]).await?;
        let from = rx.received.load(Ordering::Relaxed);
        let started = Instant::now();
        let mut seq = 0;
        while seq < args.events {
            let batch: Vec<String> = (seq..(seq + 500).min(args.events))
                .map(|n| keyed_payload(n, n % keys))
                .collect();
            seq += batch.len() as u64;
            setup.execute(&insert, &[&batch]).await?;
        }
        let published = args.events as f64 / started.elapsed().as_secs_f64();
        let mut worker = spawn_worker(&url, args.concurrency, &[])?;
        let started = Instant::now();
        let deadline = started + Duration::from_secs(600);
        while rx.received.load(Ordering::Relaxed) - from < args.events && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let got = rx.received.load(Ordering::Relaxed) - from;
        let delivered = got as f64 / started.elapsed().as_secs_f64();
        let _ = worker.start_kill();
        let _ = worker.wait().await;
        let order = match policy.get("ordering") {
            None => "-".to_string(),
            Some(_) => in_order(&setup).await?,
        };
        println!("{name:<26} {published:>13.0} {delivered:>14.0} {order:>10}");
    }
    drop(setup);
    bench.db.close();
    Ok(())
}

fn keyed_payload(seq: u64, key: u64) -> String {
    let head = format!(r#"{{"kind":"o","seq":{seq},"k":"k{key}","padding":""#);
    let pad = 256usize.saturating_sub(head.len() + 2);
    format!("{head}{}\"}}", "x".repeat(pad))
}

/// Whether each key's events succeeded in publish order: by the attempts
/// log, the success times of a key's events rise with their sequence.
async fn in_order(client: &tokio_postgres::Client) -> anyhow::Result<String> {
    let out_of_order: i64 = client
        .query_one(
            "SELECT count(*) FROM (
                 SELECT (e.data->>'seq')::bigint AS seq, a.id,
                        lag(a.id) OVER (PARTITION BY e.data->>'k'
                                        ORDER BY (e.data->>'seq')::bigint) AS before
                 FROM outbound.attempts a
                 JOIN outbound.events e ON e.id = a.event_id AND e.time = a.event_time
                 WHERE a.status = 'success') s
             WHERE s.before > s.id",
            &[],
        )
        .await?
        .get(0);
    Ok(if out_of_order == 0 {
        "yes".into()
    } else {
        format!("{out_of_order} not")
    })
}
