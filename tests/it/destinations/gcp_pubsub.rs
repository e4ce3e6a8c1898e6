//! `gcp_pubsub` end to end through the public API, against a loopback
//! stand-in for Google: an OAuth token endpoint that verifies the JWT-bearer
//! assertion (claims, and the RS256 signature with the key's public half)
//! and a Pub/Sub REST API that checks the bearer token and decodes what was
//! published.

use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::Utc;
use serde_json::{json, Map, Value};

use crate::helpers::app::worker;
use crate::helpers::cloud::{attempts, create, messages, publish, start, DATA};
use crate::helpers::db::TestDb;
use crate::helpers::fake_service::{Answer, FakeService, Received};

pub(crate) const EMAIL: &str = "outbound-test@acme-prod.iam.gserviceaccount.com";
const SCOPE: &str = "https://www.googleapis.com/auth/pubsub";
const PRIVATE_KEY: &str = include_str!("../../data/gcp-test-key.pem");
const PUBLIC_KEY: &str = include_str!("../../data/gcp-test-key.pub.pem");

#[derive(Debug, Clone)]
pub(crate) struct Published {
    pub(crate) topic: String,
    pub(crate) data: Vec<u8>,
    pub(crate) attributes: Map<String, Value>,
    pub(crate) authorization: Option<String>,
}

#[derive(Default)]
struct State {
    /// Access tokens the token endpoint issued and that are still valid.
    tokens: Vec<String>,
    issued: usize,
    published: Vec<Published>,
}

/// Google, as far as a publisher sees it.
pub(crate) struct Google {
    service: FakeService,
    state: Arc<Mutex<State>>,
}

impl Google {
    /// `auth`: Pub/Sub requires a bearer token (an emulator does not).
    pub(crate) async fn start(auth: bool) -> Google {
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        let service = FakeService::start(move |req| {
            let mut st = st.lock().unwrap();
            match (req.method.as_str(), req.path()) {
                ("POST", "/token") => token(&mut st, req),
                ("POST", path) if path.starts_with("/v1/projects/") => {
                    publish_call(&mut st, req, auth)
                }
                _ => Answer::json(
                    404,
                    json!({"error": {"code": 404, "message": "no such method"}}),
                ),
            }
        })
        .await;
        Google { service, state }
    }

    /// `config.endpoint`, as Outpost users write an emulator's: host:port.
    pub(crate) fn endpoint(&self) -> String {
        self.service.addr.to_string()
    }

    /// A key file for `email` whose token endpoint is this fake.
    pub(crate) fn key(&self, email: &str) -> String {
        json!({
            "type": "service_account",
            "project_id": "acme-prod",
            "private_key_id": "k1",
            "private_key": PRIVATE_KEY,
            "client_email": email,
            "token_uri": self.service.url("/token"),
        })
        .to_string()
    }

    pub(crate) fn published(&self) -> Vec<Published> {
        self.state.lock().unwrap().published.clone()
    }

    pub(crate) fn issued(&self) -> usize {
        self.state.lock().unwrap().issued
    }

    fn revoke_tokens(&self) {
        self.state.lock().unwrap().tokens.clear();
    }

    fn publish_calls(&self) -> usize {
        self.service
            .requests()
            .iter()
            .filter(|r| r.path().ends_with(":publish"))
            .count()
    }
}

/// The token endpoint: a JWT-bearer grant whose assertion is signed with
/// the test key and claims the Pub/Sub scope for the one known account.
fn token(st: &mut State, req: &Received) -> Answer {
    let grant_error = |d: &str| {
        Answer::json(
            400,
            json!({"error": "invalid_grant", "error_description": d}),
        )
    };
    if req.header("content-type") != Some("application/x-www-form-urlencoded") {
        return Answer::json(400, json!({"error": "invalid_request"}));
    }
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&req.body)
        .into_owned()
        .collect();
    let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if field("grant_type") != Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
        return Answer::json(400, json!({"error": "unsupported_grant_type"}));
    }
    let assertion = field("assertion").unwrap_or_default();
    let parts: Vec<&str> = assertion.split('.').collect();
    if parts.len() != 3 {
        return grant_error("Invalid JWT.");
    }
    let decode = |p: &str| -> Value {
        URL_SAFE_NO_PAD
            .decode(p)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(Value::Null)
    };
    let (header, claims) = (decode(parts[0]), decode(parts[1]));
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap_or_default();
    let signed = format!("{}.{}", parts[0], parts[1]);
    if header["alg"] != "RS256" || !verify_rs256(signed.as_bytes(), &signature) {
        return grant_error("Invalid JWT Signature.");
    }
    if claims["iss"] != EMAIL {
        return grant_error("Invalid grant: account not found");
    }
    let now = Utc::now().timestamp();
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap_or(0),
        claims["exp"].as_i64().unwrap_or(0),
    );
    let token_url = format!("http://{}/token", req.header("host").unwrap_or_default());
    if claims["scope"] != SCOPE
        || claims["aud"] != token_url.as_str()
        || iat > now + 60
        || exp <= now
        || exp - iat > 3600
    {
        return grant_error(&format!("Invalid JWT claims: {claims}"));
    }
    st.issued += 1;
    let access_token = format!("ya29.fake-{}", st.issued);
    st.tokens.push(access_token.clone());
    Answer::json(
        200,
        json!({"access_token": access_token, "expires_in": 3599, "token_type": "Bearer"}),
    )
}

/// `topics.publish`: the token (when required), an existing topic, one
/// message with base64 data and string attributes.
fn publish_call(st: &mut State, req: &Received, auth: bool) -> Answer {
    let authorization = req.header("authorization").map(str::to_string);
    if auth {
        let valid = authorization
            .as_deref()
            .and_then(|a| a.strip_prefix("Bearer "))
            .is_some_and(|t| st.tokens.iter().any(|k| k == t));
        if !valid {
            return Answer::json(
                401,
                json!({"error": {"code": 401, "status": "UNAUTHENTICATED",
                       "message": "Request had invalid authentication credentials. Expected OAuth 2 access token."}}),
            );
        }
    }
    let Some(topic) = req
        .path()
        .strip_suffix(":publish")
        .and_then(|p| p.strip_prefix("/v1/"))
    else {
        return Answer::json(404, json!({"error": {"code": 404, "message": "not found"}}));
    };
    if !topic.ends_with("/topics/orders") {
        let name = topic.rsplit('/').next().unwrap_or_default();
        return Answer::json(
            404,
            json!({"error": {"code": 404, "status": "NOT_FOUND",
                   "message": format!("Resource not found (resource={name}).")}}),
        );
    }
    assert_eq!(req.header("content-type"), Some("application/json"));
    let body: Value = serde_json::from_slice(&req.body).expect("publish body is JSON");
    let messages = body["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 1, "{body}");
    let data = STANDARD
        .decode(messages[0]["data"].as_str().expect("data"))
        .expect("data is base64");
    let attributes = messages[0]["attributes"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    assert!(attributes.values().all(Value::is_string), "{attributes:?}");
    st.published.push(Published {
        topic: topic.to_string(),
        data,
        attributes,
        authorization,
    });
    Answer::json(200, json!({"messageIds": [st.published.len().to_string()]}))
}

/// RS256 verification with the key's public half (`.pub.pem`, an X.509
/// SubjectPublicKeyInfo, whose RSAPublicKey ring takes).
fn verify_rs256(message: &[u8], signature: &[u8]) -> bool {
    let b64: String = PUBLIC_KEY
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let spki = STANDARD.decode(b64).unwrap();
    // SEQUENCE { AlgorithmIdentifier rsaEncryption, BIT STRING { RSAPublicKey } }
    // of a 2048-bit key: the RSAPublicKey starts after 24 bytes.
    assert_eq!(&spki[..4], [0x30, 0x82, 0x01, 0x22]);
    assert_eq!(&spki[19..24], [0x03, 0x82, 0x01, 0x0f, 0x00]);
    ring::signature::UnparsedPublicKey::new(
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        &spki[24..],
    )
    .verify(message, signature)
    .is_ok()
}

fn destination(id: &str, endpoint: &str, topic: &str, key: &str) -> Value {
    json!({"id": id, "type": "gcp_pubsub", "topics": ["*"],
           "config": {"project_id": "acme-prod", "topic": topic, "endpoint": endpoint},
           "credentials": {"service_account_json": key},
           "delivery_metadata": {"region": "eu"}})
}

#[tokio::test]
async fn gcp_pubsub_publishes_data_and_attributes_with_a_cached_oauth_token() {
    let db = TestDb::new().await;
    let api = start(&db, |_| {}).await;
    let google = Google::start(true).await;
    let key = google.key(EMAIL);
    let (s, d) = create(
        &api,
        destination("d_gcp", &google.endpoint(), "orders", &key),
    )
    .await;
    assert_eq!(s, 201, "{d}");
    let masked = d["credentials"]["service_account_json"].as_str().unwrap();
    assert!(masked.ends_with('*') && !masked.contains("PRIVATE"), "{d}");
    let (_, listed) = api
        .admin("GET", "/api/v1/tenants/acme/destinations/d_gcp", None)
        .await;
    assert_eq!(listed["credentials"], d["credentials"], "masked when read");

    publish(&api, "evt_1", r#"{"source":"crm"}"#).await;
    let t0 = Utc::now();
    api.worker().run_once(t0).await.unwrap();
    let got = google.published();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].topic, "projects/acme-prod/topics/orders");
    assert_eq!(got[0].data, DATA.as_bytes(), "the data byte for byte");
    let timestamp = got[0].attributes["timestamp"].as_str().unwrap().to_string();
    assert!(chrono::DateTime::parse_from_rfc3339(&timestamp).is_ok());
    assert_eq!(
        Value::Object(got[0].attributes.clone()),
        json!({"event-id": "evt_1", "topic": "user.created", "timestamp": timestamp,
               "region": "eu", "source": "crm"})
    );
    assert_eq!(got[0].authorization.as_deref(), Some("Bearer ya29.fake-1"));
    let a = attempts(&api, "d_gcp").await;
    assert_eq!(
        (a[0]["status"].as_str(), a[0]["code"].as_str()),
        (Some("success"), Some("200"))
    );
    assert!(a[0]["response_data"]["body"]
        .as_str()
        .unwrap()
        .contains("messageIds"));

    // The token is kept: a second delivery exchanges nothing.
    publish(&api, "evt_2", "{}").await;
    api.worker().run_once(Utc::now()).await.unwrap();
    assert_eq!((google.published().len(), google.issued()), (2, 1));

    // Revoked: Pub/Sub answers 401, the token is exchanged again and the
    // same attempt succeeds.
    google.revoke_tokens();
    publish(&api, "evt_3", "{}").await;
    api.worker().run_once(Utc::now()).await.unwrap();
    assert_eq!(google.issued(), 2);
    assert_eq!(google.publish_calls(), 4, "one refused, then resent");
    let last = google.published().pop().unwrap();
    assert_eq!(last.authorization.as_deref(), Some("Bearer ya29.fake-2"));
    assert_eq!(last.attributes["event-id"], "evt_3");

    // "Test" publishes the catalog's sample to this one destination.
    let (s, r) = api
        .admin(
            "POST",
            "/api/v1/tenants/acme/destinations/d_gcp/test",
            Some(json!({})),
        )
        .await;
    assert_eq!(s, 202, "{r}");
    api.worker().run_once(Utc::now()).await.unwrap();
    let sample = google.published().pop().unwrap();
    assert_eq!(sample.attributes["event-id"], r["id"]);
    assert!(serde_json::from_slice::<Value>(&sample.data)
        .unwrap()
        .is_object());
}

#[tokio::test]
async fn gcp_pubsub_failures_are_coded_explained_and_retried() {
    let db = TestDb::new().await;
    let api = start(&db, |_| {}).await;
    let google = Google::start(true).await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let endpoint = google.endpoint();
    for body in [
        destination(
            "d_account",
            &endpoint,
            "orders",
            &google.key("deleted@acme-prod.iam.gserviceaccount.com"),
        ),
        destination("d_topic", &endpoint, "missing", &google.key(EMAIL)),
        destination("d_down", &closed, "orders", "anything"),
    ] {
        let (s, d) = create(&api, body).await;
        assert_eq!(s, 201, "{d}");
    }
    publish(&api, "evt_1", "{}").await;
    let t0 = Utc::now();
    api.worker().run_once(t0).await.unwrap();
    let expect = [
        (
            "d_account",
            "auth_failed",
            "invalid_grant: Invalid grant: account not found",
        ),
        (
            "d_topic",
            "not_found",
            "Pub/Sub answered 404: Resource not found (resource=missing).",
        ),
        ("d_down", "connection_refused", "Pub/Sub: "),
    ];
    for (d, code, says) in expect {
        let a = attempts(&api, d).await;
        assert_eq!(a.len(), 1, "{d}: {a:?}");
        assert_eq!(a[0]["status"], "failed");
        assert_eq!(a[0]["code"], code, "{d}: {a:?}");
        assert_eq!(a[0]["response_data"]["error"], code);
        let message = a[0]["response_data"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{d}: {message}");
        assert!(
            !message.contains("PRIVATE KEY") && !message.contains("ya29"),
            "{message}"
        );
    }
    // Each is retried on the schedule (5 s).
    api.worker()
        .run_once(t0 + chrono::Duration::seconds(10))
        .await
        .unwrap();
    for (d, code, _) in expect {
        let a = attempts(&api, d).await;
        assert_eq!(a.len(), 2, "{d}: retried once more");
        assert_eq!(a[1]["code"], code);
    }
    assert!(google.published().is_empty());
}

#[tokio::test]
async fn gcp_pubsub_emulators_take_any_credentials_and_send_none() {
    let db = TestDb::new().await;
    let api = start(&db, |_| {}).await;
    let emulator = Google::start(false).await;
    let (s, d) = create(
        &api,
        destination("d_emu", &emulator.endpoint(), "orders", "anything"),
    )
    .await;
    assert_eq!(s, 201, "{d}");
    publish(&api, "evt_1", "{}").await;
    api.worker().run_once(Utc::now()).await.unwrap();
    let got = emulator.published();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].authorization, None);
    assert_eq!(got[0].data, DATA.as_bytes());
    assert_eq!(emulator.issued(), 0);
}

#[tokio::test]
async fn gcp_pubsub_blocked_addresses_are_refused() {
    let db = TestDb::new().await;
    let google = Google::start(true).await;
    // At create: an endpoint on loopback, with loopback not allowed.
    {
        let strict = start(&db, |s| s.delivery.allowed_networks = vec![]).await;
        let (s, e) = create(
            &strict,
            destination("d_x", &google.endpoint(), "orders", "anything"),
        )
        .await;
        assert_eq!(s, 422, "{e}");
        assert!(
            messages(&e)[0].starts_with("config.endpoint: host 127.0.0.1"),
            "{e}"
        );
    }
    // At send: created where loopback is allowed, sent by a worker where it
    // is not. The key's token endpoint is refused before anything is sent.
    let api = start(&db, |_| {}).await;
    let (s, _) = create(
        &api,
        destination("d_gcp", &google.endpoint(), "orders", &google.key(EMAIL)),
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
    let a = attempts(&api, "d_gcp").await;
    assert_eq!(a[0]["code"], "blocked_address", "{a:?}");
    assert!(
        google.service.requests().is_empty(),
        "nothing reached loopback"
    );
}
