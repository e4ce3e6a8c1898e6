//! The defects a fault and abuse campaign found, each pinned by a test that
//! failed before its fix: deeply nested data, slow clients, retries timed
//! from the start of a slow failure, invalid custom headers, blocked
//! addresses accepted at create, cross-tenant filters, service account
//! keys, and the order metadata overrides in.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use outbound::store::StoreError;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::app::{worker, TestApp, API_KEY};
use crate::helpers::db::TestDb;
use crate::helpers::factory::{tenant, webhook};
use crate::helpers::receiver::{Reply, TestReceiver};

/// `{"a": [[…]]}` with `levels` objects and arrays nested in all.
fn nested(levels: usize) -> String {
    format!(
        "{{\"a\":{}{}}}",
        "[".repeat(levels - 1),
        "]".repeat(levels - 1)
    )
}

fn messages(e: &Value) -> Vec<String> {
    e["data"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn deeply_nested_data_is_refused_on_both_paths() {
    let db = TestDb::new().await;
    let api = TestApp::start(&db).await;
    api.admin("PUT", "/api/v1/tenants/acme", None).await;
    let publish = |data: String| format!(r#"{{"tenant_id":"acme","topic":"t","data":{data}}}"#);
    // 30,000 levels were a 500 (Postgres ran out of stack); now a 422 that
    // names the limit, before anything reaches SQL.
    for levels in [30_000, 129] {
        let (s, e) = api
            .raw(
                "POST",
                "/api/v1/publish",
                Some(API_KEY),
                Some(&publish(nested(levels))),
            )
            .await;
        assert_eq!(s, 422, "{levels} levels: {e}");
        assert_eq!(messages(&e), ["data is nested deeper than 128 levels"]);
    }
    let (s, e) = api
        .raw(
            "POST",
            "/api/v1/publish",
            Some(API_KEY),
            Some(&publish(nested(128))),
        )
        .await;
    assert_eq!(s, 202, "128 levels are fine: {e}");

    // By SQL: the fan-out refuses it with a clear message...
    let c = db.client().await;
    let insert =
        "INSERT INTO outbound.events (tenant_id, topic, data) VALUES ('acme', 't', $1::text::json)";
    let err = c.execute(insert, &[&nested(200)]).await.unwrap_err();
    let db_err = err.as_db_error().expect("a database error");
    assert!(
        db_err.message().contains("nested deeper than 128 levels"),
        "{db_err:?}"
    );
    // ...and data too deep for Postgres' own parser gets its error, which
    // the service answers as bad input, not as a failure of its own.
    let err = c.execute(insert, &[&nested(30_000)]).await.unwrap_err();
    match StoreError::from(err) {
        StoreError::Invalid { message } => assert!(message.contains("nested too deeply")),
        other => panic!("{other:?}"),
    }
    // Nothing else is affected.
    c.execute(insert, &[&nested(3)]).await.unwrap();
}

/// A connection to the test API, and the whole response to what was sent
/// (until the server closes, or `limit`).
async fn exchange(app: &TestApp, request: &[u8], limit: Duration) -> (String, Duration) {
    let addr = app.base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let started = Instant::now();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(limit, s.read_to_end(&mut out)).await;
    (
        String::from_utf8_lossy(&out).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let db = TestDb::new().await;
    let app = TestApp::start_with(&db, |s| {
        s.api.header_read_timeout = Duration::from_secs(1);
    })
    .await;
    let (got, took) = exchange(
        &app,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n",
        Duration::from_secs(10),
    )
    .await;
    assert!(
        took < Duration::from_secs(5),
        "still open after {took:?}: {got:?}"
    );
    assert!(
        took >= Duration::from_millis(900),
        "closed at once: {took:?}"
    );
    // The server is fine.
    let (s, _) = app.raw("GET", "/healthz", None, None).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn a_body_that_does_not_arrive_is_answered_408() {
    let db = TestDb::new().await;
    let app = TestApp::start_with(&db, |s| {
        s.api.body_read_timeout = Duration::from_secs(1);
    })
    .await;
    let request = format!(
        "POST /api/v1/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {API_KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"tenant"
    );
    let (got, took) = exchange(&app, request.as_bytes(), Duration::from_secs(10)).await;
    assert!(got.starts_with("HTTP/1.1 408"), "{got:?}");
    assert!(got.contains("\"status\":408"), "{got:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[tokio::test]
async fn a_declared_length_over_the_limit_is_refused_before_the_body() {
    let db = TestDb::new().await;
    let app = TestApp::start(&db).await;
    let request = format!(
        "POST /api/v1/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {API_KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000000000000\r\n\r\n"
    );
    let (got, took) = exchange(&app, request.as_bytes(), Duration::from_secs(10)).await;
    assert!(got.starts_with("HTTP/1.1 413"), "{got:?}");
    assert!(got.contains("\"status\":413"), "{got:?}");
    assert!(
        took < Duration::from_secs(2),
        "waited for the body: {took:?}"
    );
}

#[tokio::test]
async fn connections_past_the_cap_wait_until_stalled_ones_are_dropped() {
    let db = TestDb::new().await;
    let app = TestApp::start_with(&db, |s| {
        s.api.max_connections = 3;
        s.api.header_read_timeout = Duration::from_secs(2);
    })
    .await;
    let addr = app.base.trim_start_matches("http://").to_string();
    // Three connections that never send a byte hold every slot...
    let mut stalled = Vec::new();
    for _ in 0..3 {
        stalled.push(TcpStream::connect(&addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // ...so a fourth waits, unserved, instead of costing a descriptor...
    let started = Instant::now();
    let (got, _) = exchange(
        &app,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(10),
    )
    .await;
    // ...until the header timeout frees the slots.
    assert!(got.starts_with("HTTP/1.1 200"), "{got:?}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1500),
        "served at once: {waited:?}"
    );
    assert!(waited < Duration::from_secs(6), "{waited:?}");
    drop(stalled);
}

#[tokio::test]
async fn retries_are_timed_from_when_the_failure_was_known() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let rx = TestReceiver::start().await;
    let slow = Duration::from_millis(1500);
    rx.script([
        Reply::Delay(slow, 500),
        Reply::DelayWithHeaders(slow, 503, vec![("retry-after".into(), "4".into())]),
    ]);
    let acme = tenant(&c, "acme").await;
    webhook(&c, &acme, "d", &["*"], &rx.url("/"), json!({"secret": "s"})).await;
    c.execute(
        "INSERT INTO outbound.events (id, tenant_id, topic, data) VALUES ('e', 'acme', 't', '{}')",
        &[],
    )
    .await
    .unwrap();
    let w = worker(&db, |s| s.delivery.retry_interval = Duration::from_secs(1)).await;
    // A 1.5 s failure and a 1 s interval (±10%): due at least 2.4 s after
    // the attempt started, not 0.9 s.
    let t0 = Utc::now();
    w.run_once(t0).await.unwrap();
    let wait = (due(&c).await - t0).num_milliseconds();
    assert!((2_400..=2_700).contains(&wait), "due {wait} ms after t0");
    // A slow 503 with Retry-After: 4 is not retried before 4 s after it
    // arrived (5.5 s after the attempt started).
    let t1 = due(&c).await;
    w.run_once(t1).await.unwrap();
    let wait = (due(&c).await - t1).num_milliseconds();
    assert!((5_500..=5_800).contains(&wait), "due {wait} ms after t1");
}

#[tokio::test]
async fn custom_headers_must_be_valid_http_and_not_outbounds_own() {
    let db = TestDb::new().await;
    let api = TestApp::start(&db).await;
    api.admin("PUT", "/api/v1/tenants/acme", None).await;
    let create = |headers: Value| {
        json!({"id": "d1", "type": "webhook", "topics": ["*"],
               "config": {"url": "https://hooks.example.com/in", "custom_headers": headers}})
    };
    for (headers, field) in [
        (json!({"X-A": "a\r\nb"}), "config.custom_headers.X-A"),
        (
            json!("{\"X-A\":\"a\\nX-Injected: 1\"}"),
            "config.custom_headers.X-A",
        ),
        (json!({"bad name": "v"}), "config.custom_headers.bad name"),
        (
            json!({"X-Outpost-Signature": "v0=forged"}),
            "config.custom_headers.X-Outpost-Signature",
        ),
        (
            json!({"Content-Length": "1"}),
            "config.custom_headers.Content-Length",
        ),
    ] {
        let (s, e) = api
            .admin(
                "POST",
                "/api/v1/tenants/acme/destinations",
                Some(create(headers.clone())),
            )
            .await;
        assert_eq!(s, 422, "{headers}: {e}");
        assert!(
            messages(&e).iter().any(|m| m.starts_with(field)),
            "{headers}: {e}"
        );
    }
    let (s, e) = api
        .admin(
            "POST",
            "/api/v1/tenants/acme/destinations",
            Some(create(
                json!({"X-Api-Key": "k1", "Authorization": "Bearer t"}),
            )),
        )
        .await;
    assert_eq!(s, 201, "{e}");
    // An update is checked the same way.
    let (s, e) = api
        .admin(
            "PATCH",
            "/api/v1/tenants/acme/destinations/d1",
            Some(json!({"config": {"custom_headers": {"X-B": "x\u{0}y"}}})),
        )
        .await;
    assert_eq!(s, 422, "{e}");
    assert!(
        messages(&e)[0].starts_with("config.custom_headers.X-B"),
        "{e}"
    );
}

#[tokio::test]
async fn urls_of_blocked_addresses_are_refused_at_create() {
    let db = TestDb::new().await;
    // The deployment's defaults: no network allowlisted.
    let api = TestApp::start_with(&db, |s| s.delivery.allowed_networks = vec![]).await;
    api.admin("PUT", "/api/v1/tenants/acme", None).await;
    for url in [
        "http://127.0.0.1:8080/h",
        "http://[::1]/h",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.5/h",
        "http://0.0.0.0/",
        "http://2130706433/",
        "http://[::ffff:127.0.0.1]/",
        "http://localhost:3000/",
    ] {
        let (s, e) = api
            .admin(
                "POST",
                "/api/v1/tenants/acme/destinations",
                Some(json!({"type": "webhook", "topics": ["*"], "config": {"url": url}})),
            )
            .await;
        assert_eq!(s, 422, "{url}: {e}");
        assert!(
            messages(&e)[0].starts_with("config.url: host "),
            "{url}: {e}"
        );
    }
    // A host name is checked after DNS, at send time; a public address is fine.
    let (s, e) = api
        .admin(
            "POST",
            "/api/v1/tenants/acme/destinations",
            Some(json!({"id": "d1", "type": "webhook", "topics": ["*"],
                        "config": {"url": "https://hooks.example.com/in"}})),
        )
        .await;
    assert_eq!(s, 201, "{e}");
    let (s, e) = api
        .admin(
            "PATCH",
            "/api/v1/tenants/acme/destinations/d1",
            Some(json!({"config": {"url": "http://192.168.1.1/"}})),
        )
        .await;
    assert_eq!(s, 422, "{e}");
}

#[tokio::test]
async fn tenant_tokens_are_refused_other_tenants_filters_and_destinations() {
    let db = TestDb::new().await;
    let api = TestApp::start(&db).await;
    for t in ["acme", "other"] {
        api.admin("PUT", &format!("/api/v1/tenants/{t}"), None)
            .await;
        let (s, _) = api
            .admin(
                "POST",
                &format!("/api/v1/tenants/{t}/destinations"),
                Some(
                    json!({"id": format!("d_{t}"), "type": "webhook", "topics": ["*"],
                            "config": {"url": "https://hooks.example.com/in"}}),
                ),
            )
            .await;
        assert_eq!(s, 201);
    }
    let (_, tok) = api.admin("GET", "/api/v1/tenants/acme/token", None).await;
    let token = tok["token"].as_str().unwrap();
    for path in [
        "/api/v1/events?tenant_id=other",
        "/api/v1/attempts?tenant_id=other",
        "/api/v1/events?destination_id=d_other",
        "/api/v1/attempts?destination_id=d_other",
        "/api/v1/attempts?destination_id=d_acme&destination_id=d_other",
        "/api/v1/events?destination_id=no_such_destination",
    ] {
        let (s, e) = api.as_token(token, "GET", path, None).await;
        assert_eq!(s, 403, "{path}: {e}");
    }
    for path in [
        "/api/v1/events?tenant_id=acme",
        "/api/v1/events?destination_id=d_acme",
        "/api/v1/attempts?destination_id=d_acme",
    ] {
        let (s, e) = api.as_token(token, "GET", path, None).await;
        assert_eq!(s, 200, "{path}: {e}");
    }
    // Another tenant's destination under one's own tenant is not found,
    // like the destination itself.
    let (s, _) = api
        .as_token(
            token,
            "GET",
            "/api/v1/tenants/acme/destinations/d_other",
            None,
        )
        .await;
    assert_eq!(s, 404);
    let (s, e) = api
        .as_token(
            token,
            "GET",
            "/api/v1/tenants/acme/destinations/d_other/attempts",
            None,
        )
        .await;
    assert_eq!(s, 404, "{e}");
}

#[tokio::test]
async fn gcp_service_account_keys_are_checked_unless_an_emulator_is_set() {
    let db = TestDb::new().await;
    let api = TestApp::start(&db).await;
    api.admin("PUT", "/api/v1/tenants/acme", None).await;
    let key = include_str!("../data/gcp-test-key.pem");
    let create = |config: Value, sa: String| {
        json!({"type": "gcp_pubsub", "topics": ["*"], "config": config,
               "credentials": {"service_account_json": sa}})
    };
    let config = json!({"project_id": "p", "topic": "t"});
    for sa in [
        "not-valid-json".to_string(),
        json!({"project_id": "p"}).to_string(),
        json!({"type": "service_account", "client_email": "a@p.iam.gserviceaccount.com",
               "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"})
        .to_string(),
    ] {
        let (s, e) = api
            .admin(
                "POST",
                "/api/v1/tenants/acme/destinations",
                Some(create(config.clone(), sa.clone())),
            )
            .await;
        assert_eq!(s, 422, "{sa}: {e}");
        assert!(
            messages(&e)[0].starts_with("credentials.service_account_json"),
            "{e}"
        );
    }
    let good = json!({"type": "service_account", "client_email": "a@p.iam.gserviceaccount.com",
                      "private_key": key})
    .to_string();
    let (s, e) = api
        .admin(
            "POST",
            "/api/v1/tenants/acme/destinations",
            Some(create(config, good)),
        )
        .await;
    assert_eq!(s, 201, "{e}");
    assert!(
        e["credentials"]["service_account_json"]
            .as_str()
            .unwrap()
            .ends_with('*'),
        "masked: {e}"
    );
    let emulated = json!({"project_id": "p", "topic": "t", "endpoint": "localhost:8085"});
    let (s, e) = api
        .admin(
            "POST",
            "/api/v1/tenants/acme/destinations",
            Some(create(emulated, "anything".into())),
        )
        .await;
    assert_eq!(s, 201, "{e}");
}

#[tokio::test]
async fn event_metadata_wins_over_delivery_metadata_which_wins_over_system_keys() {
    let db = TestDb::new().await;
    let api = TestApp::start(&db).await;
    let rx = TestReceiver::start().await;
    api.admin("PUT", "/api/v1/tenants/acme", None).await;
    let (s, e) = api
        .admin(
            "POST",
            "/api/v1/tenants/acme/destinations",
            Some(json!({"id": "d1", "type": "webhook", "topics": ["*"],
                        "config": {"url": rx.url("/hook")},
                        "delivery_metadata": {"source": "destination", "region": "eu", "topic": "renamed"}})),
        )
        .await;
    assert_eq!(s, 201, "{e}");
    let (s, _) = api
        .admin(
            "POST",
            "/api/v1/publish",
            Some(
                json!({"id": "evt_1", "tenant_id": "acme", "topic": "user.created",
                        "data": {"n": 1}, "metadata": {"source": "event"}}),
            ),
        )
        .await;
    assert_eq!(s, 202);
    api.worker().run_once(Utc::now()).await.unwrap();
    let got = rx.wait_for(1, Duration::from_secs(10)).await;
    let h = |name: &str| got[0].header(name).map(String::from);
    assert_eq!(h("x-outpost-source").as_deref(), Some("event"));
    assert_eq!(h("x-outpost-region").as_deref(), Some("eu"));
    assert_eq!(h("x-outpost-topic").as_deref(), Some("renamed"));
    assert_eq!(h("x-outpost-event-id").as_deref(), Some("evt_1"));
    assert!(h("x-outpost-signature").unwrap().starts_with("v0="));
}

/// When the one queued delivery is next due.
async fn due(c: &deadpool_postgres::Object) -> DateTime<Utc> {
    c.query_one("SELECT next_attempt_at FROM outbound.deliveries", &[])
        .await
        .unwrap()
        .get(0)
}

/// hyper refuses headers past its buffer (about 400 KiB) itself, before
/// the API sees the request, so the answer is hyper's bare 431 without the
/// API's JSON error body (documented in the README).
#[tokio::test]
async fn oversized_headers_get_a_bare_431() {
    let db = TestDb::new().await;
    let app = TestApp::start(&db).await;
    let request = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(500 * 1024)
    );
    let (got, _) = exchange(&app, request.as_bytes(), Duration::from_secs(10)).await;
    assert!(got.starts_with("HTTP/1.1 431"), "{got:?}");
}
