//! `outbound bench fanout`: what the fan-out trigger costs.
//!
//! Measures, in one run against the same Postgres: single-row and 50-row
//! inserts into a plain table of the same shape as `outbound.events` (same
//! partitioning and indexes, no trigger), and the same inserts into
//! `outbound.events` with 10 destinations of which 3 match. Prints rows/s
//! and the ratio to the plain table.

use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::support::{connect, machine_summary, payload, timed, BenchDb};
use crate::config::Settings;

#[derive(Debug, Args)]
pub struct FanoutArgs {
    /// Seconds measured per phase.
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
    /// Concurrent connections inserting.
    #[arg(long, default_value_t = 16)]
    pub connections: usize,
    /// Rows per statement in the batched phases.
    #[arg(long, default_value_t = 50)]
    pub batch: usize,
    /// Approximate size of each event's data, in bytes.
    #[arg(long, default_value_t = 1024)]
    pub payload_bytes: usize,
}

pub(super) const SETUP: &str = r#"
INSERT INTO outbound.tenants (id) VALUES ('bench'), ('other');
-- 3 of these 10 match a `bench.event` whose data has kind "a":
INSERT INTO outbound.destinations (id, tenant_id, type, topics, filter, filter_path, config) VALUES
  ('d_topic',    'bench', 'webhook', '{bench.event}', NULL, NULL, '{"url":"http://127.0.0.1:9/"}'),
  ('d_star',     'bench', 'webhook', '{*}',           NULL, NULL, '{"url":"http://127.0.0.1:9/"}'),
  ('d_filter',   'bench', 'webhook', '{*}', '{"data":{"kind":"a"}}', '$."data"."kind" == "a"', '{"url":"http://127.0.0.1:9/"}'),
  ('d_other1',   'bench', 'webhook', '{user.created}', NULL, NULL, '{"url":"http://127.0.0.1:9/"}'),
  ('d_other2',   'bench', 'webhook', '{user.updated,user.deleted}', NULL, NULL, '{"url":"http://127.0.0.1:9/"}'),
  ('d_other3',   'bench', 'webhook', '{campaign.completed}', NULL, NULL, '{"url":"http://127.0.0.1:9/"}'),
  ('d_nomatch1', 'bench', 'webhook', '{*}', '{"data":{"kind":"b"}}', '$."data"."kind" == "b"', '{"url":"http://127.0.0.1:9/"}'),
  ('d_nomatch2', 'bench', 'webhook', '{bench.event}', '{"data":{"seq":-1}}', '$."data"."seq" == -1', '{"url":"http://127.0.0.1:9/"}'),
  ('d_disabled', 'bench', 'webhook', '{*}', NULL, NULL, '{"url":"http://127.0.0.1:9/"}'),
  ('d_tenant2',  'other', 'webhook', '{*}', NULL, NULL, '{"url":"http://127.0.0.1:9/"}');
UPDATE outbound.destinations SET disabled_at = now() WHERE id = 'd_disabled';
"#;

pub(super) const SETUP_PLAIN: &str = r#"
-- The control: same columns, partitioning and indexes, no trigger.
CREATE TABLE public.plain_events (LIKE outbound.events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
    PARTITION BY RANGE (time);
ALTER TABLE public.plain_events ADD PRIMARY KEY (id, time);
CREATE INDEX ON public.plain_events (tenant_id, time DESC, id DESC);
CREATE INDEX ON public.plain_events (time DESC, id DESC);
CREATE TABLE public.plain_events_default PARTITION OF public.plain_events DEFAULT;
DO $$
DECLARE d date;
BEGIN
  FOR d IN SELECT current_date + k FROM generate_series(-1, 2) k LOOP
    EXECUTE format('CREATE TABLE public.plain_events_p%s PARTITION OF public.plain_events FOR VALUES FROM (%L) TO (%L)',
                   to_char(d, 'YYYYMMDD'), d::timestamp AT TIME ZONE 'UTC', (d + 1)::timestamp AT TIME ZONE 'UTC');
  END LOOP;
END $$;
"#;

pub async fn run(settings: Settings, args: FanoutArgs) -> anyhow::Result<()> {
    let bench = BenchDb::create(&settings).await?;
    let setup = connect(&bench.url).await?;
    setup.batch_execute(SETUP).await?;
    setup.batch_execute(SETUP_PLAIN).await?;

    let warmup = Duration::from_secs(1);
    let secs = Duration::from_secs(args.seconds);
    let (conns, batch, bytes) = (args.connections, args.batch, args.payload_bytes);
    let url = bench.url.clone();

    println!(
        "outbound bench fanout: {}, PostgreSQL {}, {} connections, {} s per phase, ~{} B payloads",
        machine_summary(),
        bench.server_version,
        conns,
        args.seconds,
        bytes
    );

    let single = |table: &'static str| {
        move |client: Arc<deadpool_postgres::Object>, i: u64| async move {
            let sql = format!("INSERT INTO {table} (tenant_id, topic, data) VALUES ('bench', 'bench.event', $1::text::json)");
            let stmt = client.prepare_cached(&sql).await?;
            client.execute(&stmt, &[&payload("a", i, bytes)]).await?;
            anyhow::Ok(1)
        }
    };
    let batched = |table: &'static str| {
        move |client: Arc<deadpool_postgres::Object>, i: u64| async move {
            let sql = format!(
                "INSERT INTO {table} (tenant_id, topic, data) \
                 SELECT 'bench', 'bench.event', d::json FROM unnest($1::text[]) AS d"
            );
            let stmt = client.prepare_cached(&sql).await?;
            let rows: Vec<String> = (0..batch as u64)
                .map(|k| payload("a", i * 1000 + k, bytes))
                .collect();
            client.execute(&stmt, &[&rows]).await?;
            anyhow::Ok(batch as u64)
        }
    };

    let plain_single = timed(&url, conns, warmup, secs, single("public.plain_events")).await?;
    let events_single = timed(&url, conns, warmup, secs, single("outbound.events")).await?;
    let fanned_single = deliveries_per_event(&setup).await?;
    // The same again with a worker marked idle: every statement notifies.
    setup
        .batch_execute("INSERT INTO outbound.workers (id, idle) VALUES ('bench-idle-worker', true)")
        .await?;
    let notify_single = timed(&url, conns, warmup, secs, single("outbound.events")).await?;
    deliveries_per_event(&setup).await?;
    setup.batch_execute("DELETE FROM outbound.workers").await?;
    let plain_batch = timed(&url, conns, warmup, secs, batched("public.plain_events")).await?;
    let events_batch = timed(&url, conns, warmup, secs, batched("outbound.events")).await?;
    let fanned_batch = deliveries_per_event(&setup).await?;

    println!();
    println!(
        "{:<52} {:>12} {:>14} {:>9}",
        "phase", "events/s", "deliveries/s", "vs plain"
    );
    let row = |name: &str, rate: f64, fan: Option<f64>, plain: Option<f64>| {
        println!(
            "{:<52} {:>12.0} {:>14} {:>9}",
            name,
            rate,
            fan.map(|f| format!("{:.0}", rate * f)).unwrap_or_default(),
            plain
                .map(|p| format!("{:.2}", rate / p))
                .unwrap_or_default()
        );
    };
    row(
        "single-row INSERT, plain table (no trigger)",
        plain_single,
        None,
        None,
    );
    row(
        "single-row INSERT, outbound.events + fan-out",
        events_single,
        Some(fanned_single),
        Some(plain_single),
    );
    row(
        "  ... with an idle worker (NOTIFY every statement)",
        notify_single,
        Some(fanned_single),
        Some(plain_single),
    );
    row(
        &format!("{batch}-row INSERT, plain table (no trigger)"),
        plain_batch,
        None,
        None,
    );
    row(
        &format!("{batch}-row INSERT, outbound.events + fan-out"),
        events_batch,
        Some(fanned_batch),
        Some(plain_batch),
    );
    println!();
    println!(
        "fan-out: 10 destinations, {fanned_batch:.1} matched per event (expected 3); \
         trigger cost = plain/events: single-row {:.2}x, batched {:.2}x",
        plain_single / events_single,
        plain_batch / events_batch
    );
    drop(setup);
    bench.db.close();
    Ok(())
}

async fn deliveries_per_event(client: &tokio_postgres::Client) -> anyhow::Result<f64> {
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM outbound.deliveries)::float8 / greatest((SELECT count(*) FROM outbound.events), 1)",
            &[],
        )
        .await?;
    let ratio: f64 = row.get(0);
    client
        .batch_execute("TRUNCATE outbound.deliveries, outbound.events, outbound.event_ids")
        .await?;
    Ok(ratio)
}
