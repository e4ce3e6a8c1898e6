//! `GET /metrics`: scraped while events flow (published by HTTP and by
//! SQL, delivered to a real receiver), parsed line by line as the
//! OpenMetrics text format, on `METRICS_PORT` and on the API's port.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use outbound::app::Parts;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use crate::helpers::app::{build, API_KEY, JWT_SECRET};
use crate::helpers::db::TestDb;
use crate::helpers::factory::{tenant, webhook};
use crate::helpers::receiver::TestReceiver;

/// One HTTP/1.1 request over a fresh connection: (status, content type, body).
async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, String, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(head.as_bytes()).await.unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("a response");
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let content_type = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    (status, content_type, body.to_string())
}

/// Parses the OpenMetrics text format strictly enough for a scraper:
/// every line is a `# HELP|TYPE|UNIT` descriptor, the final `# EOF`, or a
/// sample `name{label="value",…} number`. Returns the samples by
/// `name{labels}` exactly as written, and the families' types.
fn parse(text: &str) -> (HashMap<String, f64>, HashMap<String, String>) {
    let mut samples = HashMap::new();
    let mut types = HashMap::new();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last(), Some(&"# EOF"), "the text ends with # EOF");
    let is_name = |n: &str| {
        !n.is_empty()
            && n.chars().enumerate().all(|(i, c)| {
                c == '_' || c == ':' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())
            })
    };
    for line in &lines[..lines.len() - 1] {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let kind = parts.next().unwrap();
            let name = parts.next().unwrap_or("");
            let value = parts.next().unwrap_or("");
            assert!(
                ["HELP", "TYPE", "UNIT"].contains(&kind),
                "unknown descriptor: {line}"
            );
            assert!(is_name(name), "bad family name: {line}");
            if kind == "TYPE" {
                assert!(
                    ["counter", "gauge", "histogram", "info", "unknown"].contains(&value),
                    "bad type: {line}"
                );
                types.insert(name.to_string(), value.to_string());
            }
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value: {line}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value: {line}")),
        };
        let name = match series.split_once('{') {
            None => series,
            Some((name, labels)) => {
                let labels = labels.strip_suffix('}').unwrap_or_else(|| panic!("{line}"));
                for label in labels.split("\",").filter(|l| !l.is_empty()) {
                    let (k, v) = label.split_once("=\"").unwrap_or_else(|| panic!("{line}"));
                    assert!(is_name(k), "bad label name: {line}");
                    assert!(!v.trim_end_matches('"').contains('"'), "{line}");
                }
                name
            }
        };
        assert!(is_name(name), "bad sample name: {line}");
        assert!(
            samples.insert(series.to_string(), value).is_none(),
            "duplicate series: {line}"
        );
    }
    (samples, types)
}

async fn scrape(addr: SocketAddr) -> HashMap<String, f64> {
    let (status, content_type, body) = request(addr, "GET", "/metrics", None, None).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    parse(&body).0
}

fn get(samples: &HashMap<String, f64>, series: &str) -> f64 {
    *samples
        .get(series)
        .unwrap_or_else(|| panic!("{series} missing from /metrics"))
}

#[tokio::test]
async fn metrics_are_scraped_and_parsed_while_events_flow() {
    let db = TestDb::new().await;
    let rx = TestReceiver::start().await;
    let c = db.client().await;
    let acme = tenant(&c, "acme").await;
    webhook(
        &c,
        &acme,
        "d1",
        &["*"],
        &rx.url("/"),
        json!({"secret": "s"}),
    )
    .await;
    let parts = Parts {
        api: true,
        worker: true,
        maintenance: false,
    };
    let app = build(&db, parts, |s| s.api.metrics_port = Some(0)).await;
    let api = app.local_addr().expect("API address");
    let metrics = app.metrics_addr().expect("METRICS_PORT address");
    let cancel = CancellationToken::new();
    let _stop = cancel.clone().drop_guard();
    tokio::spawn(app.run(cancel));

    let before = scrape(metrics).await;
    for series in [
        "outbound_events_published_total{path=\"http\"}",
        "outbound_events_stored_total",
        "outbound_queue_deliveries{state=\"due\"}",
        "outbound_queue_deliveries{state=\"parked\"}",
        "outbound_queue_deliveries{state=\"lease_expired\"}",
        "outbound_queue_deliveries{state=\"held\"}",
        "outbound_queue_oldest_due_age_seconds",
        "outbound_lease_expiries_total",
        "outbound_destinations_auto_disabled_total",
        "outbound_circuits_opened_total",
        "outbound_operator_events_total{result=\"sent\"}",
        "outbound_operator_events_total{result=\"failed\"}",
        "outbound_db_pool_connections{pool=\"api\",state=\"in_use\"}",
        "outbound_db_pool_connections{pool=\"worker\",state=\"idle\"}",
        "outbound_db_pool_waiting{pool=\"api\"}",
        "outbound_database_up",
    ] {
        get(&before, series);
    }
    assert_eq!(get(&before, "outbound_database_up"), 1.0);

    // Events flow: 10 by HTTP, 5 by SQL, scraped as they go.
    let mut during = Vec::new();
    for i in 0..10 {
        let body =
            json!({"id": format!("h{i}"), "tenant_id": "acme", "topic": "t", "data": {"i": i}});
        let (status, _, text) = request(
            api,
            "POST",
            "/api/v1/publish",
            Some(API_KEY),
            Some(&body.to_string()),
        )
        .await;
        assert_eq!(status, 202, "{text}");
        if i % 3 == 0 {
            during.push(scrape(metrics).await);
        }
    }
    {
        // Its own session, closed at once: Postgres reports a session's
        // statistics when it ends.
        let sql = db.connect().await;
        sql.batch_execute(
            "INSERT INTO outbound.events (id, tenant_id, topic, data)
             SELECT 's' || n, 'acme', 't', '{}' FROM generate_series(1, 5) n",
        )
        .await
        .unwrap();
    }
    rx.wait_for(15, Duration::from_secs(20)).await;

    // Outcomes are counted as attempts end; the recorder may still be
    // writing, so wait (bounded) for the counters to show them all.
    let delivered = "outbound_deliveries_total{outcome=\"success\",destination_type=\"webhook\"}";
    let durations = "outbound_attempt_duration_seconds_count{destination_type=\"webhook\"}";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let after = loop {
        let now = scrape(metrics).await;
        let stored = get(&now, "outbound_events_stored_total");
        let queued = get(&now, "outbound_queue_deliveries{state=\"due\"}")
            + get(&now, "outbound_queue_deliveries{state=\"leased\"}");
        if stored >= 15.0 && queued == 0.0 && now.contains_key(delivered) {
            break now;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "stored {stored}, queued {queued}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // The counters are the process's (other tests run in it too): they
    // only grow, and by at least what this test did.
    let http = "outbound_events_published_total{path=\"http\"}";
    assert!(get(&after, http) >= get(&before, http) + 10.0);
    for mid in &during {
        assert!(get(mid, http) >= get(&before, http));
        assert!(get(&after, http) >= get(mid, http));
    }
    assert!(get(&after, delivered) >= 15.0);
    assert!(get(&after, durations) >= 15.0);
    assert!(
        after.contains_key(
            "outbound_attempt_duration_seconds_bucket{le=\"+Inf\",destination_type=\"webhook\"}"
        ) || after.contains_key(
            "outbound_attempt_duration_seconds_bucket{destination_type=\"webhook\",le=\"+Inf\"}"
        ),
        "the histogram has a +Inf bucket"
    );
    // Where the deliveries' time went, stage by stage: every delivery of
    // this test passed through each stage (the wake-up stage counts first
    // attempts only, which all of these are).
    for stage in ["wake", "claim", "queue", "send", "record"] {
        let count = format!("outbound_delivery_stage_seconds_count{{stage=\"{stage}\"}}");
        assert!(
            get(&after, &count) >= get(&before, &count) + 15.0,
            "{count}: {} then {}",
            get(&before, &count),
            get(&after, &count)
        );
    }
    // This database's own figures: every event, by either path.
    assert_eq!(get(&after, "outbound_events_stored_total"), 15.0);
    assert_eq!(get(&after, "outbound_queue_oldest_due_age_seconds"), 0.0);
}

#[tokio::test]
async fn the_api_port_serves_metrics_to_the_operator_only() {
    let db = TestDb::new().await;
    let parts = Parts {
        api: true,
        worker: false,
        maintenance: false,
    };
    let app = build(&db, parts, |_| {}).await;
    let api = app.local_addr().expect("API address");
    assert_eq!(
        app.metrics_addr(),
        None,
        "no METRICS_PORT, no port of its own"
    );
    let cancel = CancellationToken::new();
    let _stop = cancel.clone().drop_guard();
    tokio::spawn(app.run(cancel));

    let (status, _, _) = request(api, "GET", "/metrics", None, None).await;
    assert_eq!(status, 401);
    let tenant_token = outbound::api::auth::issue(
        JWT_SECRET,
        &outbound::domain::ids::TenantId::parse("acme").unwrap(),
        chrono::Utc::now().timestamp(),
    );
    let (status, _, _) = request(api, "GET", "/metrics", Some(&tenant_token), None).await;
    assert_eq!(status, 403, "a tenant does not see the operator's metrics");
    let (status, content_type, body) = request(api, "GET", "/metrics", Some(API_KEY), None).await;
    assert_eq!(status, 200, "{body}");
    assert!(content_type.starts_with("application/openmetrics-text"));
    let (samples, types) = parse(&body);
    assert_eq!(types["outbound_events_published"], "counter");
    assert_eq!(types["outbound_queue_deliveries"], "gauge");
    assert_eq!(get(&samples, "outbound_database_up"), 1.0);
}

#[test]
fn the_parser_refuses_what_is_not_the_format() {
    let bad = |t: &str| std::panic::catch_unwind(|| parse(t)).is_err();
    assert!(bad("a 1\n"), "no # EOF");
    assert!(bad("a{b=\"c\" 1\n# EOF\n"), "unclosed labels");
    assert!(bad("a one\n# EOF\n"), "not a number");
    assert!(bad("# WHAT a\n# EOF\n"));
    assert!(!bad(
        "# TYPE a counter\na_total{b=\"c\",d=\"e\"} 1.5\n# EOF\n"
    ));
}
