//! A destination's payload transformation in the portal, in a real browser
//! (`tests/portal/transform.mjs`, as `portal.rs` runs the journey): the
//! settings' Transformation section with its preview against a catalog
//! sample, a program's mistake named on save, the new-destination form's
//! preview, and a delivery whose transformation failed, with its error.

use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use tokio::process::Command;

use crate::helpers::app::API_KEY;
use crate::helpers::db::TestDb;
use crate::helpers::eventually;
use crate::portal::call;
use crate::serve::start_serve_bin;

#[tokio::test]
async fn the_portal_edits_previews_and_shows_a_failed_transformation() {
    let root = env!("CARGO_MANIFEST_DIR");
    let driver = format!("{root}/tests/portal/node_modules/playwright-core");
    if !std::path::Path::new(&driver).exists() {
        // As portal.rs does: the version is pinned by tests/portal/package-lock.json.
        let _ = std::process::Command::new("npm")
            .args(["ci", "--prefix", "tests/portal", "--no-audit", "--no-fund"])
            .current_dir(root)
            .status();
    }
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&driver).exists() && std::path::Path::new(&chromium).exists(),
        "playwright-core ({driver}) or Chromium ({chromium}) not found: run ./test.sh, \
         which installs them"
    );
    let db = TestDb::new().await;
    let catalog = format!("{root}/examples/topics.yaml");
    let (_serve, addr) = start_serve_bin(
        env!("CARGO_BIN_EXE_outbound"),
        &db,
        &[
            ("TOPICS_CATALOG", catalog.as_str()),
            ("DESTINATIONS_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8"),
        ],
    )
    .await;
    assert_eq!(call(&addr, "PUT", "/tenants/acme", None).await.0, 201);
    let failing = json!({"body": r#"error("no \(.data.user_id)")"#});
    let (s, d) = call(
        &addr,
        "POST",
        "/tenants/acme/destinations",
        Some(
            json!({"id": "d_t", "type": "webhook", "topics": ["user.created"],
                    "config": {"url": "http://127.0.0.1:9/hook"},
                    "delivery_policy": {"transform": failing}}),
        ),
    )
    .await;
    assert_eq!(s, 201, "{d}");
    let (s, event) = call(
        &addr,
        "POST",
        "/publish",
        Some(json!({"tenant_id": "acme", "topic": "user.created",
                    "data": {"user_id": "usr_7", "email": "a@b.c"}})),
    )
    .await;
    assert_eq!(s, 202);
    let failed = eventually(Duration::from_secs(20), || async {
        let (_, list) = call(
            &addr,
            "GET",
            "/tenants/acme/destinations/d_t/attempts",
            None,
        )
        .await;
        (list["models"][0]["code"] == "transform_failed").then_some(())
    })
    .await;
    assert!(failed.is_some(), "the delivery fails on its transformation");
    let (s, link) = call(&addr, "GET", "/tenants/acme/portal", None).await;
    assert_eq!(s, 200);

    let mut script = Command::new("node");
    if let Ok(dir) = std::env::var("OUTBOUND_SCREENSHOTS") {
        script.env("SCREENSHOTS", dir);
    }
    let out = script
        .arg("tests/portal/transform.mjs")
        .current_dir(root)
        .env("NODE_PATH", format!("{root}/tests/portal/node_modules"))
        .env("CHROMIUM", &chromium)
        .env("PORTAL_LINK", link["redirect_url"].as_str().unwrap())
        .env("API", format!("http://{addr}/api/v1"))
        .env("API_KEY", API_KEY)
        .env("DESTINATION", "d_t")
        .env("FAILED_EVENT", event["id"].as_str().unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), out)
        .await
        .expect("the script finishes within 2 minutes")
        .expect("node: run ./test.sh, which installs it");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("transform: ok"),
        "the browser check failed:\n{stdout}\n{stderr}"
    );
}
