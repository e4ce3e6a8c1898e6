//! Outpost's webhook settings as a receiver meets them: header names,
//! Go-template signatures in base64, the response body stored on the
//! attempt, deliveries through an HTTP proxy with the SSRF guard still in
//! force; and `outbound` refusing, by name, an Outpost variable it does not
//! implement.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::Utc;
use hmac::{Hmac, Mac};
use outbound::domain::signature::SignatureEncoding;
use outbound::net::http_client::Proxy;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::Command;

use crate::helpers::app::{self, TestApp};
use crate::helpers::db::TestDb;
use crate::helpers::factory;
use crate::helpers::receiver::{Reply, TestReceiver};

fn hmac_base64(key: &str, content: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(content);
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Creates tenant `acme` and webhook `d1` to `url`; returns its secret.
async fn webhook(api: &TestApp, url: &str) -> String {
    api.admin("PUT", "/api/v1/tenants/acme", None).await;
    let (s, d) = api
        .admin(
            "POST",
            "/api/v1/tenants/acme/destinations",
            Some(json!({"id": "d1", "type": "webhook", "topics": ["*"],
                        "config": {"url": url}})),
        )
        .await;
    assert_eq!(s, 201, "{d}");
    d["credentials"]["secret"].as_str().unwrap().to_string()
}

async fn publish(api: &TestApp, id: &str) {
    let (s, body) = api
        .admin(
            "POST",
            "/api/v1/publish",
            Some(
                json!({"id": id, "tenant_id": "acme", "topic": "user.created",
                        "data": {"user_id": "usr_1"}}),
            ),
        )
        .await;
    assert_eq!(s, 202, "{body}");
}

/// The response body stored on the attempt of event `id`.
async fn stored_body(api: &TestApp, id: &str) -> Value {
    let (s, page) = api
        .admin(
            "GET",
            &format!("/api/v1/attempts?tenant_id=acme&event_id={id}&include=response_data"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{page}");
    let attempt = page["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["event_id"] == id)
        .unwrap_or_else(|| panic!("an attempt for {id}: {page}"))
        .clone();
    attempt["response_data"]["body"].clone()
}

#[tokio::test]
async fn go_templates_base64_and_header_names_reach_the_receiver() {
    let db = TestDb::new().await;
    let api = TestApp::start_with(&db, |s| {
        let w = &mut s.destinations.webhook;
        w.signature_content_template = "{{.Timestamp.Unix}}.{{.Body}}".into();
        w.signature_header_template =
            r#"t={{.Timestamp.Unix}},v0={{.Signatures | join ","}}"#.into();
        w.signature_encoding = SignatureEncoding::Base64;
        w.event_id_header_name = Some("x-request-id".into());
        w.signature_header_name = Some("x-signature".into());
        w.topic_header_name = Some(String::new());
        w.max_response_body_bytes = 16;
        w.check().expect("webhook settings");
        s.delivery.user_agent = Some("Acme-Webhooks/2.0".into());
    })
    .await;
    let rx = TestReceiver::start().await;
    let secret = webhook(&api, &rx.url("/hook")).await;
    rx.script([
        Reply::Text(200, "a body longer than sixteen bytes".into()),
        Reply::Text(200, "sixteen bytes ok".into()),
    ]);

    publish(&api, "evt_1").await;
    api.worker().run_once(Utc::now()).await.unwrap();
    let got = rx.wait_for(1, Duration::from_secs(10)).await;
    let req = &got[0];
    assert_eq!(req.header("x-request-id"), Some("evt_1"));
    assert_eq!(req.header("user-agent"), Some("Acme-Webhooks/2.0"));
    assert_eq!(req.header("x-outpost-event-id"), None);
    assert_eq!(
        req.header("x-outpost-topic"),
        None,
        "the topic header is off"
    );
    assert!(req.header("x-outpost-timestamp").is_some());
    assert_eq!(req.header("x-outpost-signature"), None);
    // Recomputed as a receiver would: t=<unix>,v0=<base64 HMAC of "<unix>.<body>">.
    let signature = req
        .header("x-signature")
        .expect("the pinned signature header");
    let (t, v0) = signature
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(",v0="))
        .unwrap_or_else(|| panic!("t=…,v0=…: {signature}"));
    let mut signed = format!("{t}.").into_bytes();
    signed.extend_from_slice(&req.body);
    assert_eq!(v0, hmac_base64(&secret, &signed));
    assert!((Utc::now().timestamp() - t.parse::<i64>().unwrap()).abs() < 60);

    // A response longer than the cap is stored as Outpost's note, one as
    // long as the cap as it is.
    assert_eq!(
        stored_body(&api, "evt_1").await,
        "Response body exceeded 16 bytes and was not stored"
    );
    publish(&api, "evt_2").await;
    api.worker().run_once(Utc::now()).await.unwrap();
    rx.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(stored_body(&api, "evt_2").await, "sixteen bytes ok");
}

/// A CONNECT proxy on loopback: records each request's head, then tunnels
/// to the address asked for.
struct TestProxy {
    addr: SocketAddr,
    heads: Arc<Mutex<Vec<String>>>,
}

impl TestProxy {
    async fn start() -> TestProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let seen = heads.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(tunnel(client, seen.clone()));
            }
        });
        TestProxy { addr, heads }
    }

    fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

async fn tunnel(mut client: TcpStream, heads: Arc<Mutex<Vec<String>>>) {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        match client.read_u8().await {
            Ok(b) => head.push(b),
            Err(_) => return,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    heads.lock().unwrap().push(head.clone());
    let target = head
        .strip_prefix("CONNECT ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_default()
        .to_string();
    let Ok(mut upstream) = TcpStream::connect(&target).await else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
        return;
    };
    if client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await
        .is_err()
    {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

#[tokio::test]
async fn webhooks_go_through_the_proxy_to_the_checked_address() {
    let db = TestDb::new().await;
    let proxy = TestProxy::start().await;
    let proxy_url = format!("http://ops:s3cret@{}", proxy.addr);
    let with_proxy = |s: &mut outbound::config::Settings| {
        s.destinations.webhook.proxy_url = Some(Proxy::parse(&proxy_url).unwrap());
    };
    let api = TestApp::start_with(&db, with_proxy).await;
    let rx = TestReceiver::start().await;
    let port = rx.url("").rsplit(':').next().unwrap().to_string();
    // A name, so that the address is outbound's lookup's, not the proxy's.
    let secret = webhook(&api, &format!("http://localhost:{port}/hook")).await;

    publish(&api, "evt_1").await;
    api.worker().run_once(Utc::now()).await.unwrap();
    let got = rx.wait_for(1, Duration::from_secs(10)).await;
    let req = &got[0];
    assert_eq!(
        req.header("host"),
        Some(format!("localhost:{port}").as_str())
    );
    let expected = format!("v0={}", crate::helpers::hmac_hex(&secret, &req.body));
    assert_eq!(req.header("x-outpost-signature"), Some(expected.as_str()));
    let heads = proxy.heads();
    assert_eq!(heads.len(), 1, "{heads:?}");
    assert!(
        heads[0].starts_with(&format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\n")),
        "the proxy is asked for the checked address, not the name: {heads:?}"
    );
    let auth = format!(
        "Proxy-Authorization: Basic {}",
        STANDARD.encode("ops:s3cret")
    );
    assert!(heads[0].contains(&auth), "{heads:?}");

    // The name now points at an address the guard refuses (here: loopback
    // is no longer allowed): refused before the proxy hears of it.
    let strict = app::worker(&db, |s| {
        with_proxy(s);
        s.delivery.allowed_networks = Vec::new();
    })
    .await;
    publish(&api, "evt_2").await;
    strict.run_once(Utc::now()).await.unwrap();
    let client = db.pool.get().await.unwrap();
    let attempts = factory::attempts_of(&client, "evt_2", "d1").await;
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert_eq!(attempts[0].2, "blocked_address", "{attempts:?}");
    assert_eq!(proxy.heads().len(), 1, "no CONNECT for a refused address");
    assert_eq!(rx.count(), 1);
}

#[tokio::test]
async fn outbound_refuses_an_outpost_variable_it_does_not_implement() {
    let out = Command::new(env!("CARGO_BIN_EXE_outbound"))
        .arg("serve")
        .env("REDIS_HOST", "redis")
        .env("CLICKHOUSE_ADDR", "clickhouse:9000")
        .env("GIN_MODE", "release")
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output()
        .await
        .expect("run outbound serve");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr
            .contains("REDIS_HOST: outbound keeps tenants, destinations and retries in PostgreSQL"),
        "{stderr}"
    );
    assert!(stderr.contains("CLICKHOUSE_ADDR: "), "{stderr}");
    assert!(
        !stderr.contains("LOG_LEVEL"),
        "LOG_LEVEL is only a warning: {stderr}"
    );

    // An accepted one is a warning line at start-up.
    let out = Command::new(env!("CARGO_BIN_EXE_outbound"))
        .arg("migrate")
        .env("GIN_MODE", "release")
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .env_remove("RUST_LOG")
        .output()
        .await
        .expect("run outbound migrate");
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        said.lines()
            .any(|l| l.contains("WARN") && l.contains("GIN_MODE is set but has no effect")),
        "{said}"
    );

    // A bad template names its variable; `migrate` reads the settings too.
    let out = Command::new(env!("CARGO_BIN_EXE_outbound"))
        .arg("migrate")
        .env(
            "DESTINATIONS_WEBHOOK_SIGNATURE_CONTENT_TEMPLATE",
            "{{.Timestamp}}",
        )
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .expect("run outbound migrate");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "DESTINATIONS_WEBHOOK_SIGNATURE_CONTENT_TEMPLATE: {{.Timestamp}} is not supported"
        ),
        "{stderr}"
    );
}
