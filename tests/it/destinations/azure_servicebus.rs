//! `azure_servicebus` end to end through the public API, against a loopback
//! stand-in for the Service Bus REST API ("Send Message") that verifies the
//! Shared Access Signature as Service Bus does (the HMAC recomputed over the
//! URL-encoded resource and expiry, with the rule's key) and records the
//! body, the broker properties and the application properties.
//!
//! The connection strings use Azure's emulator convention
//! (`UseDevelopmentEmulator=true`), so the sender speaks plain http to the
//! endpoint's host and port.

use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::Utc;
use serde_json::{json, Map, Value};

use crate::helpers::app::worker;
use crate::helpers::cloud::{attempts, create, messages, publish, start, DATA};
use crate::helpers::db::TestDb;
use crate::helpers::fake_service::{Answer, FakeService, Received};

const RULE: &str = "send";
const KEY: &str = "dGVzdC1rZXktbm90LWEtc2VjcmV0+/=";

#[derive(Debug, Clone)]
struct Sent {
    entity: String,
    body: Vec<u8>,
    content_type: Option<String>,
    broker: Value,
    properties: Map<String, Value>,
}

/// Headers that are HTTP's or the Send Message call's own; every other
/// header is an application property.
const NOT_PROPERTIES: &[&str] = &[
    "authorization",
    "content-type",
    "content-length",
    "brokerproperties",
    "host",
    "user-agent",
    "accept",
    "connection",
];

struct ServiceBus {
    service: FakeService,
    sent: Arc<Mutex<Vec<Sent>>>,
}

impl ServiceBus {
    /// A namespace with one queue, `orders`.
    async fn start() -> ServiceBus {
        let sent = Arc::new(Mutex::new(Vec::new()));
        let log = sent.clone();
        let service = FakeService::start(move |req| send_message(&log, req)).await;
        ServiceBus { service, sent }
    }

    fn connection_string(&self, key: &str) -> String {
        format!(
            "Endpoint=sb://{}/;SharedAccessKeyName={RULE};SharedAccessKey={key};UseDevelopmentEmulator=true",
            self.service.addr
        )
    }

    fn sent(&self) -> Vec<Sent> {
        self.sent.lock().unwrap().clone()
    }
}

fn error(status: u16, detail: &str) -> Answer {
    Answer::text(
        status,
        "application/xml; charset=utf-8",
        &format!("<Error><Code>{status}</Code><Detail>{detail} TrackingId:1f2e, SystemTracker:ns, Timestamp:2026-01-01T00:00:00</Detail></Error>"),
    )
}

fn send_message(sent: &Mutex<Vec<Sent>>, req: &Received) -> Answer {
    let Some(entity) = req
        .path()
        .strip_prefix('/')
        .and_then(|p| p.strip_suffix("/messages"))
    else {
        return error(400, "Bad request.");
    };
    if req.method != "POST" {
        return error(405, "Method not allowed.");
    }
    let host = req.header("host").unwrap_or_default();
    if let Err(detail) = check_sas(
        req.header("authorization").unwrap_or_default(),
        &format!("http://{host}/{entity}"),
    ) {
        return error(401, &detail);
    }
    if entity != "orders" {
        return error(
            404,
            &format!("The messaging entity 'sb://{host}/{entity}' could not be found. To know more visit https://aka.ms/sbResourceMgrExceptions."),
        );
    }
    let broker = req
        .header("brokerproperties")
        .map(|b| serde_json::from_str(b).expect("BrokerProperties is JSON"))
        .unwrap_or(Value::Null);
    let properties = req
        .headers
        .iter()
        .filter(|(n, _)| !NOT_PROPERTIES.contains(&n.as_str()))
        .map(|(n, v)| {
            let value: String = serde_json::from_str(v)
                .unwrap_or_else(|_| panic!("property {n}: {v} is not a quoted string"));
            (n.clone(), Value::String(value))
        })
        .collect();
    sent.lock().unwrap().push(Sent {
        entity: entity.to_string(),
        body: req.body.to_vec(),
        content_type: req.header("content-type").map(str::to_string),
        broker,
        properties,
    });
    Answer::text(201, "application/xml; charset=utf-8", "")
}

/// Service Bus's check of `SharedAccessSignature sr=…&sig=…&se=…&skn=…`:
/// a known rule, not expired, for a resource the request is under, and a
/// signature that is the rule key's HMAC-SHA256 of `sr + "\n" + se`.
fn check_sas(header: &str, resource: &str) -> Result<(), String> {
    let token = header
        .strip_prefix("SharedAccessSignature ")
        .ok_or("MalformedToken: The credentials contained in the authorization header are not in the WRAP format.")?;
    let field = |name: &str| {
        token
            .split('&')
            .find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
            .ok_or(format!("MalformedToken: no {name}"))
    };
    let (sr, sig, se, skn) = (field("sr")?, field("sig")?, field("se")?, field("skn")?);
    if skn != RULE {
        return Err(format!("Unauthorized: the rule '{skn}' does not exist."));
    }
    let expiry: i64 = se.parse().map_err(|_| "MalformedToken: bad se")?;
    if expiry <= Utc::now().timestamp() {
        return Err("ExpiredToken: The token is expired.".into());
    }
    let decoded_sr: String = url::form_urlencoded::parse(format!("x={sr}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    if !resource
        .to_lowercase()
        .starts_with(&decoded_sr.to_lowercase())
    {
        return Err(format!(
            "InvalidAudience: the token is for {decoded_sr}, not {resource}."
        ));
    }
    let expected = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, KEY.as_bytes()),
        format!("{sr}\n{se}").as_bytes(),
    );
    let given: String = url::form_urlencoded::parse(format!("x={sig}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    if STANDARD.decode(given).ok().as_deref() != Some(expected.as_ref()) {
        return Err("InvalidSignature: The token has an invalid signature.".into());
    }
    Ok(())
}

fn destination(id: &str, name: &str, connection_string: &str) -> Value {
    json!({"id": id, "type": "azure_servicebus", "topics": ["*"],
           "config": {"name": name},
           "credentials": {"connection_string": connection_string},
           "delivery_metadata": {"region": "eu"}})
}

#[tokio::test]
async fn azure_servicebus_sends_the_data_with_message_id_and_properties() {
    let db = TestDb::new().await;
    let api = start(&db, |_| {}).await;
    let bus = ServiceBus::start().await;
    let (s, d) = create(
        &api,
        destination("d_sb", "orders", &bus.connection_string(KEY)),
    )
    .await;
    assert_eq!(s, 201, "{d}");
    let masked = d["credentials"]["connection_string"].as_str().unwrap();
    assert!(masked.ends_with('*') && !masked.contains(KEY), "{d}");
    let (_, read) = api
        .admin("GET", "/api/v1/tenants/acme/destinations/d_sb", None)
        .await;
    assert_eq!(read["credentials"], d["credentials"]);

    publish(&api, "evt_1", r#"{"source":"crm","count":"123"}"#).await;
    api.worker().run_once(Utc::now()).await.unwrap();
    let got = bus.sent();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].entity, "orders");
    assert_eq!(got[0].body, DATA.as_bytes(), "the data byte for byte");
    assert_eq!(got[0].content_type.as_deref(), Some("application/json"));
    assert_eq!(got[0].broker, json!({"MessageId": "evt_1"}));
    let timestamp = got[0].properties["timestamp"].as_str().unwrap().to_string();
    assert!(chrono::DateTime::parse_from_rfc3339(&timestamp).is_ok());
    assert_eq!(
        Value::Object(got[0].properties.clone()),
        json!({"event-id": "evt_1", "topic": "user.created", "timestamp": timestamp,
               "region": "eu", "source": "crm", "count": "123"})
    );
    let a = attempts(&api, "d_sb").await;
    assert_eq!(
        (a[0]["status"].as_str(), a[0]["code"].as_str()),
        (Some("success"), Some("201"))
    );

    let (s, r) = api
        .admin(
            "POST",
            "/api/v1/tenants/acme/destinations/d_sb/test",
            Some(json!({})),
        )
        .await;
    assert_eq!(s, 202, "{r}");
    api.worker().run_once(Utc::now()).await.unwrap();
    let sample = bus.sent().pop().unwrap();
    assert_eq!(sample.broker["MessageId"], r["id"]);
    assert!(serde_json::from_slice::<Value>(&sample.body)
        .unwrap()
        .is_object());
}

#[tokio::test]
async fn azure_servicebus_failures_are_coded_explained_and_retried() {
    let db = TestDb::new().await;
    let api = start(&db, |_| {}).await;
    let bus = ServiceBus::start().await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let down = format!(
        "Endpoint=sb://{closed};SharedAccessKeyName={RULE};SharedAccessKey={KEY};UseDevelopmentEmulator=true"
    );
    for body in [
        destination("d_key", "orders", &bus.connection_string("d3Jvbmcta2V5")),
        destination("d_queue", "missing", &bus.connection_string(KEY)),
        destination("d_down", "orders", &down),
    ] {
        let (s, d) = create(&api, body).await;
        assert_eq!(s, 201, "{d}");
    }
    publish(&api, "evt_1", "{}").await;
    let t0 = Utc::now();
    api.worker().run_once(t0).await.unwrap();
    let expect = [
        (
            "d_key",
            "auth_failed",
            "Service Bus answered 401: InvalidSignature: The token has an invalid signature.",
        ),
        (
            "d_queue",
            "not_found",
            "Service Bus answered 404: The messaging entity",
        ),
        ("d_down", "connection_refused", "Service Bus: "),
    ];
    for (d, code, says) in expect {
        let a = attempts(&api, d).await;
        assert_eq!(a.len(), 1, "{d}: {a:?}");
        assert_eq!(a[0]["code"], code, "{d}: {a:?}");
        assert_eq!(a[0]["response_data"]["error"], code);
        let message = a[0]["response_data"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{d}: {message}");
        assert!(
            !message.contains(KEY) && !message.contains("sig="),
            "{message}"
        );
    }
    api.worker()
        .run_once(t0 + chrono::Duration::seconds(10))
        .await
        .unwrap();
    for (d, code, _) in expect {
        let a = attempts(&api, d).await;
        assert_eq!(a.len(), 2, "{d}: retried once more");
        assert_eq!(a[1]["code"], code);
    }
    assert!(bus.sent().is_empty());
}

#[tokio::test]
async fn azure_servicebus_settings_that_cannot_work_are_refused() {
    let db = TestDb::new().await;
    let bus = ServiceBus::start().await;
    let ns = format!(
        "Endpoint=sb://{}/;UseDevelopmentEmulator=true",
        bus.service.addr
    );
    {
        let api = start(&db, |_| {}).await;
        for (name, connection_string, says) in [
            (
                "orders",
                format!("{ns};SharedAccessKeyName={RULE}"),
                "credentials.connection_string: has no SharedAccessKey",
            ),
            (
                "orders",
                format!("SharedAccessKeyName={RULE};SharedAccessKey={KEY}"),
                "credentials.connection_string: has no Endpoint",
            ),
            (
                "orders",
                format!(
                    "{ns};SharedAccessKeyName={RULE};SharedAccessKey={KEY};EntityPath=invoices"
                ),
                "config.name: must be \"invoices\"",
            ),
            ("bad name!", bus.connection_string(KEY), "config.name"),
        ] {
            let (s, e) = create(&api, destination("d_x", name, &connection_string)).await;
            assert_eq!(s, 422, "{e}");
            assert!(
                messages(&e).iter().any(|m| m.starts_with(says)),
                "{says}: {e}"
            );
            assert!(!e.to_string().contains(KEY), "{e}");
        }
    }
    // Blocked addresses: refused at create, and at send by a worker that
    // does not allow loopback.
    let strict = start(&db, |s| s.delivery.allowed_networks = vec![]).await;
    let (s, e) = create(
        &strict,
        destination("d_x", "orders", &bus.connection_string(KEY)),
    )
    .await;
    assert_eq!(s, 422, "{e}");
    assert!(
        messages(&e)[0].starts_with("credentials.connection_string: Endpoint host 127.0.0.1"),
        "{e}"
    );
    drop(strict);
    let api = start(&db, |_| {}).await;
    let (s, _) = create(
        &api,
        destination("d_sb", "orders", &bus.connection_string(KEY)),
    )
    .await;
    assert_eq!(s, 201);
    publish(&api, "evt_1", "{}").await;
    let strict = worker(&db, |s| {
        crate::helpers::cloud::settings(s);
        s.delivery.allowed_networks = vec![];
    })
    .await;
    strict.run_once(Utc::now()).await.unwrap();
    assert_eq!(attempts(&api, "d_sb").await[0]["code"], "blocked_address");
    assert!(bus.service.requests().is_empty());
}
