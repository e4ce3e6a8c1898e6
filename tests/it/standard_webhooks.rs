//! Standard Webhooks mode, checked with the reference library: real
//! deliveries verified by the `standardwebhooks` package from PyPI.

use std::process::Stdio;
use std::time::Duration;

use chrono::Utc;
use outbound::domain::signature::WebhookMode;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::helpers::app::TestApp;
use crate::helpers::db::TestDb;
use crate::helpers::receiver::{Received, TestReceiver};

/// What the reference library says of a delivery signed with `secret`.
async fn library_verifies(secret: &str, req: &Received, body: &[u8]) -> bool {
    let headers: serde_json::Map<String, Value> = req
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let input = json!({
        "secret": secret,
        "body": String::from_utf8_lossy(body),
        "headers": headers,
    });
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/sdk/verify_standard_webhook.py"
    );
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "python3 not found ({e}): run ./test.sh, which installs it, \
                 or apt-get install python3 python3-pip"
            )
        });
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.to_string().as_bytes()).await.unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if let Some(missing) = stderr
        .lines()
        .find(|l| l.starts_with("ModuleNotFoundError"))
    {
        panic!(
            "standardwebhooks not found ({missing}): run ./test.sh, which installs it, \
             or python3 -m pip install standardwebhooks"
        );
    }
    assert!(
        said.starts_with("verified") || said.starts_with("refused"),
        "the verifier did not run: {said:?}"
    );
    out.status.success()
}

#[tokio::test]
async fn deliveries_verify_with_the_standardwebhooks_library() {
    let db = TestDb::new().await;
    let api = TestApp::start_with(&db, |s| {
        s.destinations.webhook.mode = WebhookMode::Standard;
        // Resolves the mode's header prefix, `webhook-`, as start-up does.
        s.destinations.webhook.check().unwrap();
    })
    .await;
    let rx = TestReceiver::start().await;
    api.admin("PUT", "/api/v1/tenants/acme", None).await;
    let (s, d) = api
        .admin(
            "POST",
            "/api/v1/tenants/acme/destinations",
            Some(json!({"id": "d1", "type": "webhook", "topics": ["*"],
                        "config": {"url": rx.url("/hook")}})),
        )
        .await;
    assert_eq!(s, 201, "{d}");
    let secret = d["credentials"]["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let (s, _) = api
        .admin(
            "POST",
            "/api/v1/publish",
            Some(
                json!({"id": "msg_1", "tenant_id": "acme", "topic": "user.created",
                        "data": {"user_id": "usr_1", "note": "é ✓"}}),
            ),
        )
        .await;
    assert_eq!(s, 202);
    api.worker().run_once(Utc::now()).await.unwrap();
    let got = rx.wait_for(1, Duration::from_secs(10)).await;
    let req = &got[0];
    assert_eq!(req.header("webhook-id"), Some("msg_1"));
    assert!(req.header("webhook-signature").unwrap().starts_with("v1,"));
    assert!(library_verifies(&secret, req, &req.body).await);
    // The library is not just saying yes: a changed body fails.
    assert!(!library_verifies(&secret, req, b"{\"user_id\":\"usr_2\"}").await);

    // During a rotation both secrets sign; the library accepts either.
    let (s, rotated) = api
        .admin(
            "PATCH",
            "/api/v1/tenants/acme/destinations/d1",
            Some(json!({"credentials": {"rotate_secret": true}})),
        )
        .await;
    assert_eq!(s, 200, "{rotated}");
    let new_secret = rotated["credentials"]["secret"]
        .as_str()
        .unwrap()
        .to_string();
    api.admin(
        "POST",
        "/api/v1/publish",
        Some(
            json!({"id": "msg_2", "tenant_id": "acme", "topic": "user.created", "data": {"n": 2}}),
        ),
    )
    .await;
    api.worker().run_once(Utc::now()).await.unwrap();
    let got = rx.wait_for(2, Duration::from_secs(10)).await;
    let req = &got[1];
    assert!(library_verifies(&new_secret, req, &req.body).await);
    assert!(library_verifies(&secret, req, &req.body).await);
}
