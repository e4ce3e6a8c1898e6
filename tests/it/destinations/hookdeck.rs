//! `hookdeck` end to end through the public API, against a loopback
//! stand-in for Hookdeck's ingest endpoint (`DESTINATIONS_HOOKDECK_INGEST_URL`
//! pointed at it) that knows its sources' tokens and checks each request's
//! `x-hookdeck-signature` as Hookdeck does.

use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::Utc;
use serde_json::{json, Value};

use crate::helpers::app::worker;
use crate::helpers::cloud::{attempts, create, messages, publish, start, DATA};
use crate::helpers::db::TestDb;
use crate::helpers::fake_service::{Answer, FakeService, Received};

/// The token Hookdeck issued for source `src_test1`.
fn token(source: &str, secret: &str) -> String {
    STANDARD.encode(format!("{source}:{secret}"))
}

struct Hookdeck {
    service: FakeService,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Hookdeck {
    /// One source, `src_test1`, whose token has secret `s3cret`.
    async fn start() -> Hookdeck {
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        let service = FakeService::start(move |req| ingest(&log, req)).await;
        Hookdeck { service, received }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

fn ingest(log: &Mutex<Vec<Received>>, req: &Received) -> Answer {
    let source = req.path().trim_start_matches('/');
    if req.method != "POST" || source != "src_test1" {
        return Answer::json(404, json!({"message": "Source not found"}));
    }
    let expected = {
        let key = ring::hmac::Key::new(
            ring::hmac::HMAC_SHA256,
            token("src_test1", "s3cret").as_bytes(),
        );
        format!("v0={}", STANDARD.encode(ring::hmac::sign(&key, &req.body)))
    };
    if req.header("x-hookdeck-signature") != Some(expected.as_str()) {
        return Answer::json(401, json!({"message": "Invalid signature"}));
    }
    log.lock().unwrap().push(req.clone());
    Answer::json(
        200,
        json!({"status": "SUCCESS", "message": "Request handled", "request_id": "req_1"}),
    )
}

fn destination(id: &str, token: &str) -> Value {
    json!({"id": id, "type": "hookdeck", "topics": ["*"], "config": {},
           "credentials": {"token": token},
           "delivery_metadata": {"region": "eu"}})
}

#[tokio::test]
async fn hookdeck_receives_the_data_signed_with_metadata_headers() {
    let db = TestDb::new().await;
    let hookdeck = Hookdeck::start().await;
    let ingest = hookdeck.service.url("");
    let api = start(&db, |s| s.destinations.hookdeck.ingest_url = ingest).await;
    let secret_token = token("src_test1", "s3cret");
    let (s, d) = create(&api, destination("d_hd", &secret_token)).await;
    assert_eq!(s, 201, "{d}");
    let masked = d["credentials"]["token"].as_str().unwrap();
    assert!(masked.ends_with('*') && masked != secret_token, "{d}");
    let (_, read) = api
        .admin("GET", "/api/v1/tenants/acme/destinations/d_hd", None)
        .await;
    assert_eq!(read["credentials"], d["credentials"]);

    publish(&api, "evt_1", r#"{"source":"crm"}"#).await;
    api.worker().run_once(Utc::now()).await.unwrap();
    let got = hookdeck.received();
    assert_eq!(got.len(), 1, "signature verified");
    assert_eq!(got[0].path(), "/src_test1");
    assert_eq!(&got[0].body[..], DATA.as_bytes(), "the data byte for byte");
    assert_eq!(got[0].header("content-type"), Some("application/json"));
    assert_eq!(got[0].header("x-outpost-event-id"), Some("evt_1"));
    assert_eq!(got[0].header("x-outpost-topic"), Some("user.created"));
    assert!(
        chrono::DateTime::parse_from_rfc3339(got[0].header("x-outpost-timestamp").unwrap()).is_ok()
    );
    assert_eq!(got[0].header("x-outpost-region"), Some("eu"));
    assert_eq!(got[0].header("x-outpost-source"), Some("crm"));
    let a = attempts(&api, "d_hd").await;
    assert_eq!(
        (a[0]["status"].as_str(), a[0]["code"].as_str()),
        (Some("success"), Some("200"))
    );
    assert_eq!(a[0]["response_data"]["status_code"], 200);

    let (s, r) = api
        .admin(
            "POST",
            "/api/v1/tenants/acme/destinations/d_hd/test",
            Some(json!({})),
        )
        .await;
    assert_eq!(s, 202, "{r}");
    api.worker().run_once(Utc::now()).await.unwrap();
    let sample = hookdeck.received().pop().unwrap();
    assert_eq!(sample.header("x-outpost-event-id"), r["id"].as_str());
}

#[tokio::test]
async fn hookdeck_failures_are_coded_and_retried() {
    let db = TestDb::new().await;
    let hookdeck = Hookdeck::start().await;
    let ingest = hookdeck.service.url("");
    let api = start(&db, |s| s.destinations.hookdeck.ingest_url = ingest).await;
    for body in [
        destination("d_token", &token("src_test1", "wrong")),
        destination("d_source", &token("src_gone", "s3cret")),
    ] {
        let (s, d) = create(&api, body).await;
        assert_eq!(s, 201, "{d}");
    }
    publish(&api, "evt_1", "{}").await;
    let t0 = Utc::now();
    api.worker().run_once(t0).await.unwrap();
    for (d, status, says) in [
        ("d_token", 401, "Invalid signature"),
        ("d_source", 404, "Source not found"),
    ] {
        let a = attempts(&api, d).await;
        assert_eq!(a.len(), 1, "{d}: {a:?}");
        assert_eq!(a[0]["code"], status.to_string());
        assert_eq!(a[0]["response_data"]["status_code"], status);
        assert!(a[0]["response_data"]["body"]
            .as_str()
            .unwrap()
            .contains(says));
    }
    api.worker()
        .run_once(t0 + chrono::Duration::seconds(10))
        .await
        .unwrap();
    assert_eq!(attempts(&api, "d_token").await.len(), 2, "retried");

    // Hookdeck unreachable: a worker whose ingest URL has nobody listening.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let down = worker(&db, |s| {
        crate::helpers::cloud::settings(s);
        s.destinations.hookdeck.ingest_url = format!("http://{closed}");
    })
    .await;
    down.run_once(t0 + chrono::Duration::seconds(30))
        .await
        .unwrap();
    let a = attempts(&api, "d_token").await;
    assert_eq!(a[2]["code"], "connection_refused", "{a:?}");
    assert_eq!(a[2]["response_data"]["error"], "connection_refused");
    let message = a[2]["response_data"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("Hookdeck: ") && !message.contains("s3cret"),
        "{message}"
    );
    assert!(hookdeck.received().is_empty());
}

#[tokio::test]
async fn hookdeck_tokens_are_checked_and_blocked_addresses_refused() {
    let db = TestDb::new().await;
    let hookdeck = Hookdeck::start().await;
    let ingest = hookdeck.service.url("");
    let api = start(&db, |s| s.destinations.hookdeck.ingest_url = ingest.clone()).await;
    for bad in ["t", &STANDARD.encode("no-colon"), &token("../x", "s")] {
        let (s, e) = create(&api, destination("d_x", bad)).await;
        assert_eq!(s, 422, "{e}");
        assert!(
            messages(&e)[0].starts_with("credentials.token: is not a Hookdeck token"),
            "{e}"
        );
    }
    let (s, _) = create(&api, destination("d_hd", &token("src_test1", "s3cret"))).await;
    assert_eq!(s, 201);
    publish(&api, "evt_1", "{}").await;
    let strict = worker(&db, |s| {
        crate::helpers::cloud::settings(s);
        s.destinations.hookdeck.ingest_url = ingest;
        s.delivery.allowed_networks = vec![];
    })
    .await;
    strict.run_once(Utc::now()).await.unwrap();
    assert_eq!(attempts(&api, "d_hd").await[0]["code"], "blocked_address");
    assert!(hookdeck.service.requests().is_empty());
}
