//! Kafka destinations end to end, against a real broker (tansu, started by
//! `helpers::kafka`): create, publish, read the record back; failures with
//! their codes and retries; validation; the SSRF guard, including addresses
//! a cluster advertises; TLS; "test a destination".

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use outbound::destinations::kafka::brokers::partition_for;
use outbound::destinations::kafka::send::KafkaSender;
use outbound::destinations::sender::{Message, Sender, SenderContext, Sent, Target};
use outbound::domain::ids::{DestinationId, EventId};
use outbound::domain::metadata::MessageMetadata;
use outbound::domain::ssrf::NetworkPolicy;
use outbound::net::http_client::{HttpClientConfig, HttpSender};
use serde_json::{json, Value};

use crate::helpers::app::TestApp;
use crate::helpers::db::TestDb;
use crate::helpers::kafka::{
    broker, misadvertising_broker, test_ca, tls_broker, PASSWORD, SEEDED_TOPIC, USER,
};

/// A topic of its own for each test (they share the broker).
fn topic(name: &str) -> String {
    format!("{name}-{}", std::process::id())
}

fn kafka_config(brokers: &str, topic: &str, mechanism: &str) -> Value {
    json!({"brokers": brokers, "topic": topic, "tls": "false", "sasl_mechanism": mechanism})
}

async fn create(api: &TestApp, id: &str, config: Value, password: &str) -> (u16, Value) {
    api.admin(
        "POST",
        "/api/v1/tenants/acme/destinations",
        Some(
            json!({"id": id, "type": "kafka", "topics": ["*"], "config": config,
                    "credentials": {"username": USER, "password": password}}),
        ),
    )
    .await
}

/// Attempts of `destination`, oldest first, with their response data.
async fn attempts(api: &TestApp, destination: &str) -> Vec<Value> {
    let (s, page) = api
        .admin(
            "GET",
            &format!("/api/v1/attempts?tenant_id=acme&destination_id={destination}&include=response_data"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{page}");
    let mut list = page["models"].as_array().cloned().unwrap_or_default();
    list.sort_by_key(|a| a["attempt_number"].as_i64());
    list
}

#[tokio::test]
async fn records_carry_the_data_the_key_and_the_metadata() {
    let b = broker();
    let t = topic("records");
    b.create_topic(&t, 3).await;
    let db = TestDb::new().await;
    let api = TestApp::start(&db).await;
    api.admin("PUT", "/api/v1/tenants/acme", None).await;
    let mut keyed = kafka_config(&b.addr, &t, "scram-sha-256");
    keyed["partition_key_template"] = json!("data.user_id");
    let (s, d) = create(&api, "keyed", keyed, PASSWORD).await;
    assert_eq!(s, 201, "{d}");
    assert_eq!(d["credentials"]["username"], USER);
    assert_ne!(d["credentials"]["password"], PASSWORD, "masked");
    assert!(!d.to_string().contains(PASSWORD));
    let (s, d) = create(
        &api,
        "by-id",
        kafka_config(&b.addr, &t, "scram-sha-512"),
        PASSWORD,
    )
    .await;
    assert_eq!(s, 201, "{d}");
    let (s, listed) = api
        .admin("GET", "/api/v1/tenants/acme/destinations", None)
        .await;
    assert_eq!(s, 200);
    assert!(!listed.to_string().contains(PASSWORD));

    let data = r#"{"user_id":"u_42","z":1,"a":[true,null]}"#;
    let body = format!(
        r#"{{"id":"evt_k1","tenant_id":"acme","topic":"user.created","data":{data},"metadata":{{"source":"crm"}}}}"#
    );
    let (s, _) = api
        .raw(
            "POST",
            "/api/v1/publish",
            Some(crate::helpers::app::API_KEY),
            Some(&body),
        )
        .await;
    assert_eq!(s, 202);
    let started = std::time::Instant::now();
    api.worker().run_once(Utc::now()).await.unwrap();
    eprintln!(
        "first deliveries (login, metadata, produce): {:?}",
        started.elapsed()
    );

    for d in ["keyed", "by-id"] {
        let a = attempts(&api, d).await;
        assert_eq!(a.len(), 1, "{a:?}");
        assert_eq!(a[0]["status"], "success", "{}", a[0]);
    }
    let records = b.records(&t, 3).await;
    assert_eq!(records.len(), 2, "{records:?}");
    let mut keys = Vec::new();
    for (partition, r) in &records {
        let key = String::from_utf8(r.key.clone().unwrap()).unwrap();
        assert_eq!(
            *partition,
            partition_for(key.as_bytes(), 3),
            "Outpost's partitioner"
        );
        assert_eq!(
            r.value.as_deref(),
            Some(data.as_bytes()),
            "the data byte for byte"
        );
        let header = |k: &str| {
            r.headers
                .get(k)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        };
        assert_eq!(header("content-type").as_deref(), Some("application/json"));
        assert_eq!(header("event-id").as_deref(), Some("evt_k1"));
        assert_eq!(header("topic").as_deref(), Some("user.created"));
        assert_eq!(header("source").as_deref(), Some("crm"));
        let ts = header("timestamp").unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(&ts).is_ok(), "{ts}");
        assert_eq!(r.headers.len(), 5, "{:?}", r.headers.keys());
        keys.push(key);
    }
    keys.sort();
    assert_eq!(
        keys,
        ["evt_k1", "u_42"],
        "template, and the event id by default"
    );

    // The client is kept: the next event reuses it.
    let (s, _) = api
        .admin("POST", "/api/v1/publish", Some(json!({"id": "evt_k2", "tenant_id": "acme", "topic": "user.created", "data": {"user_id": "u_43"}})))
        .await;
    assert_eq!(s, 202);
    let started = std::time::Instant::now();
    api.worker().run_once(Utc::now()).await.unwrap();
    eprintln!("next deliveries: {:?}", started.elapsed());
    assert_eq!(b.records(&t, 3).await.len(), 4);
}

#[tokio::test]
async fn failures_are_recorded_with_a_code_and_retried() {
    let b = broker();
    let t = topic("failures");
    b.create_topic(&t, 1).await;
    let down = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let db = TestDb::new().await;
    let api = TestApp::start_with(&db, |s| {
        s.delivery.retry_schedule = Some(vec![Duration::from_secs(5), Duration::from_secs(5)]);
    })
    .await;
    api.admin("PUT", "/api/v1/tenants/acme", None).await;
    let wrong = "not-the-password";
    for (id, config, password) in [
        (
            "wrong-password",
            kafka_config(&b.addr, &t, "scram-sha-256"),
            wrong,
        ),
        (
            "no-topic",
            kafka_config(&b.addr, &topic("missing"), "scram-sha-512"),
            PASSWORD,
        ),
        ("down", kafka_config(&down, &t, "scram-sha-256"), PASSWORD),
        ("no-plain", kafka_config(&b.addr, &t, "plain"), PASSWORD),
    ] {
        let (s, d) = create(&api, id, config, password).await;
        assert_eq!(s, 201, "{id}: {d}");
    }
    let (s, _) = api
        .admin("POST", "/api/v1/publish", Some(json!({"id": "evt_f", "tenant_id": "acme", "topic": "user.created", "data": {"n": 1}})))
        .await;
    assert_eq!(s, 202);
    let t0 = Utc::now();
    let started = std::time::Instant::now();
    api.worker().run_once(t0).await.unwrap();
    eprintln!("four failing deliveries: {:?}", started.elapsed());

    let expect = [
        (
            "wrong-password",
            "auth_failed",
            "SCRAM-SHA-256 login of user \"outbound\"",
        ),
        ("no-topic", "topic_not_found", "no topic"),
        ("down", "connection_refused", "refused"),
        // tansu offers SCRAM only: PLAIN is refused by name.
        ("no-plain", "auth_failed", "PLAIN login"),
    ];
    for (id, code, says) in expect {
        let a = attempts(&api, id).await;
        assert_eq!(a.len(), 1, "{id}: {a:?}");
        assert_eq!(a[0]["status"], "failed");
        assert_eq!(a[0]["code"], code, "{id}: {}", a[0]);
        let data = &a[0]["response_data"];
        assert_eq!(data["error"], code, "{id}: {data}");
        let message = data["message"].as_str().unwrap();
        assert!(message.contains(says), "{id}: {message}");
        for secret in [PASSWORD, wrong] {
            assert!(
                !a[0].to_string().contains(secret),
                "{id} leaks a password: {}",
                a[0]
            );
        }
    }

    // Retried on schedule: not before 5 s, then once more each.
    assert_eq!(
        api.worker()
            .run_once(t0 + chrono::Duration::seconds(2))
            .await
            .unwrap()
            .accepted,
        0
    );
    assert_eq!(
        api.worker()
            .run_once(t0 + chrono::Duration::seconds(10))
            .await
            .unwrap()
            .accepted,
        4
    );
    for (id, code, _) in expect {
        let a = attempts(&api, id).await;
        assert_eq!(a.len(), 2, "{id}");
        assert_eq!(
            (a[1]["attempt_number"].as_i64(), a[1]["code"].as_str()),
            (Some(2), Some(code))
        );
    }
}

#[tokio::test]
async fn bad_settings_are_refused_naming_the_field() {
    let db = TestDb::new().await;
    let api = TestApp::start(&db).await;
    api.admin("PUT", "/api/v1/tenants/acme", None).await;
    let (s, types) = api.admin("GET", "/api/v1/destination-types", None).await;
    assert_eq!(s, 200);
    assert!(types
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["type"] == "kafka"));

    let good = kafka_config("broker.example.com:9092", "orders", "scram-sha-512");
    let (s, d) = create(&api, "ok", good.clone(), "pw").await;
    assert_eq!(s, 201, "{d}");
    let cases: [(&str, Value, &str); 6] = [
        ("brokers", json!("broker.example.com"), "config.brokers"),
        ("brokers", json!("10.1.2.3:9092"), "config.brokers"),
        ("topic", json!("no spaces"), "config.topic"),
        (
            "partition_key_template",
            json!("data.["),
            "config.partition_key_template",
        ),
        ("sasl_mechanism", json!("gssapi"), "sasl_mechanism"),
        ("tls", json!("maybe"), "tls"),
    ];
    for (key, value, field) in cases {
        let mut config = good.clone();
        config[key] = value.clone();
        let (s, e) = create(&api, "bad", config, "pw").await;
        assert_eq!(s, 422, "{key}={value}: {e}");
        assert!(e.to_string().contains(field), "{key}={value}: {e}");
    }
    let mut config = good.clone();
    config.as_object_mut().unwrap().remove("sasl_mechanism");
    let (s, e) = create(&api, "bad", config, "pw").await;
    assert_eq!(s, 422);
    assert!(e.to_string().contains("sasl_mechanism"), "{e}");
    let (s, e) = api
        .admin(
            "POST",
            "/api/v1/tenants/acme/destinations",
            Some(json!({"type": "kafka", "topics": ["*"], "config": good, "credentials": {"username": USER}})),
        )
        .await;
    assert_eq!(s, 422);
    assert!(e.to_string().contains("password"), "{e}");
    // Updates are checked too.
    let (s, e) = api
        .admin(
            "PATCH",
            "/api/v1/tenants/acme/destinations/ok",
            Some(json!({"config": {"brokers": "nope"}})),
        )
        .await;
    assert_eq!(s, 422, "{e}");
}

#[tokio::test]
async fn blocked_addresses_are_refused_including_advertised_ones() {
    let b = broker();
    let db = TestDb::new().await;
    // At creation: a literal loopback broker, with loopback not allowed.
    let strict = TestApp::start_with(&db, |s| s.delivery.allowed_networks = vec![]).await;
    strict.admin("PUT", "/api/v1/tenants/acme", None).await;
    let (s, e) = create(
        &strict,
        "lo",
        kafka_config(&b.addr, "t", "scram-sha-256"),
        PASSWORD,
    )
    .await;
    assert_eq!(s, 422);
    assert!(e.to_string().contains("config.brokers"), "{e}");
    // A name that resolves to loopback passes creation (names are checked
    // when resolved) and is refused at send time.
    let port = b.addr.rsplit(':').next().unwrap();
    let (s, d) = create(
        &strict,
        "named",
        kafka_config(&format!("localhost.:{port}"), "t", "scram-sha-256"),
        PASSWORD,
    )
    .await;
    if s == 201 {
        let (s, _) = strict
            .admin("POST", "/api/v1/publish", Some(json!({"id": "evt_b", "tenant_id": "acme", "topic": "user.created", "data": {}})))
            .await;
        assert_eq!(s, 202);
        strict.worker().run_once(Utc::now()).await.unwrap();
        let a = attempts(&strict, "named").await;
        assert_eq!(a[0]["code"], "blocked_address", "{}", a[0]);
    } else {
        assert_eq!(s, 422, "{d}");
    }
    drop(strict);

    // A cluster that advertises an address outside the allowed networks:
    // the bootstrap broker is reached, the advertised one never is.
    let m = misadvertising_broker();
    let sender = KafkaSender::new(&context(NetworkPolicy::parse("127.0.0.1/32").unwrap()));
    let config = kafka_config(&m.addr, SEEDED_TOPIC, "scram-sha-256");
    let sent = send(&sender, &config, PASSWORD).await;
    let Sent::Failed(f) = sent else {
        panic!("delivered through 127.0.0.2: {sent:?}")
    };
    assert_eq!(f.code, "blocked_address", "{f:?}");
    assert!(f.message.contains("127.0.0.2"), "{}", f.message);
}

#[tokio::test]
async fn tls_brokers_are_reached_over_tls() {
    let b = tls_broker();
    let t = topic("tls");
    let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates({
        let mut roots = rustls::RootCertStore::empty();
        roots.add(test_ca()).unwrap();
        roots
    })
    .with_no_client_auth();
    tls.alpn_protocols.clear();
    let admin = b.client_with(Some(tls)).await;
    admin
        .controller_client()
        .unwrap()
        .create_topic(&t, 1, 1, 5_000)
        .await
        .unwrap();

    let loopback = NetworkPolicy::parse("127.0.0.0/8").unwrap();
    let trusting = KafkaSender::with_roots(&context(loopback.clone()), vec![test_ca()]);
    let for_host = |host: &str, tls: &str| {
        let port = b.addr.rsplit(':').next().unwrap();
        let mut c = kafka_config(&format!("{host}:{port}"), &t, "scram-sha-512");
        c["tls"] = json!(tls);
        c
    };
    let sent = send(&trusting, &for_host("localhost", "true"), PASSWORD).await;
    assert_eq!(sent, Sent::Delivered(None));
    // Without the private CA the certificate is not trusted.
    let plain = KafkaSender::new(&context(loopback.clone()));
    let Sent::Failed(f) = send(&plain, &for_host("localhost", "true"), PASSWORD).await else {
        panic!("an untrusted certificate was accepted")
    };
    assert_eq!(f.code, "tls_error", "{f:?}");
    // TLS off against a TLS listener, and TLS on against a plain one.
    let Sent::Failed(f) = send(&trusting, &for_host("localhost", "false"), PASSWORD).await else {
        panic!("plain text reached a TLS broker")
    };
    assert_ne!(f.code, "", "{f:?}");
    let plain_broker = broker();
    let mut c = kafka_config(&plain_broker.addr, &t, "scram-sha-512");
    c["tls"] = json!("true");
    let Sent::Failed(f) = send(&trusting, &c, PASSWORD).await else {
        panic!("TLS to a plain broker succeeded")
    };
    // tansu reads the ClientHello as the start of a huge request and
    // waits for the rest, so the attempt runs out of time; a broker that
    // closes the connection instead makes it a `tls_error`.
    assert!(
        ["tls_error", "timeout"].contains(&f.code.to_string().as_str()),
        "{f:?}"
    );
}

#[tokio::test]
async fn testing_a_kafka_destination_produces_the_sample() {
    let b = broker();
    let t = topic("sample");
    b.create_topic(&t, 1).await;
    let db = TestDb::new().await;
    let api = TestApp::start_with(&db, |s| {
        s.topics.catalog =
            Some(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/topics.yaml").into());
    })
    .await;
    api.admin("PUT", "/api/v1/tenants/acme", None).await;
    let (s, d) = api
        .admin(
            "POST",
            "/api/v1/tenants/acme/destinations",
            Some(
                json!({"id": "k", "type": "kafka", "topics": ["campaign.completed"],
                        "config": kafka_config(&b.addr, &t, "scram-sha-256"),
                        "credentials": {"username": USER, "password": PASSWORD}}),
            ),
        )
        .await;
    assert_eq!(s, 201, "{d}");
    let (s, r) = api
        .admin(
            "POST",
            "/api/v1/tenants/acme/destinations/k/test",
            Some(json!({})),
        )
        .await;
    assert_eq!(s, 202, "{r}");
    api.worker().run_once(Utc::now()).await.unwrap();
    let records = b.records(&t, 1).await;
    assert_eq!(records.len(), 1);
    let record = &records[0].1;
    let header = |k: &str| {
        record
            .headers
            .get(k)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    };
    assert_eq!(header("event-id").as_deref(), r["id"].as_str());
    assert_eq!(header("topic").as_deref(), Some("campaign.completed"));
    let value: Value = serde_json::from_slice(record.value.as_deref().unwrap()).unwrap();
    assert_eq!(
        value["campaign_id"], "cmp_winter_sale",
        "the catalog's sample: {value}"
    );
    let a = attempts(&api, "k").await;
    assert_eq!(a[0]["status"], "success");
}

fn context(policy: NetworkPolicy) -> SenderContext {
    let policy = Arc::new(policy);
    SenderContext {
        http: HttpSender::new(HttpClientConfig {
            policy: policy.clone(),
            ..HttpClientConfig::default()
        })
        .unwrap(),
        policy,
        timeout: Duration::from_secs(3),
    }
}

/// One message through `sender` straight, as the worker would send it.
async fn send(sender: &KafkaSender, config: &Value, password: &str) -> Sent {
    let id = DestinationId::parse("d").unwrap();
    let credentials = json!({"username": USER, "password": password});
    let event_id = EventId::parse("evt_direct").unwrap();
    let now = Utc::now();
    let metadata = MessageMetadata::new("evt_direct", "t", now, None, &json!({}));
    sender
        .send(
            Target {
                id: &id,
                config,
                credentials: &credentials,
            },
            Message {
                event_id: &event_id,
                topic: "t",
                time: now,
                data: "{}",
                metadata: &metadata,
                attempted_at: now,
            },
        )
        .await
}
