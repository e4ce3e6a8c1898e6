//! Outpost's published Python SDK against a running outbound: the SDK's own
//! response validation must pass.

use std::process::Stdio;

use tokio::process::Command;

use crate::helpers::db::TestDb;

const BIN: &str = env!("CARGO_BIN_EXE_outbound");

fn python_has_sdk() -> bool {
    std::process::Command::new("python3")
        .args(["-c", "import outpost_sdk"])
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::test]
async fn outposts_python_sdk_works_unchanged() {
    if !python_has_sdk() {
        // PyPI is one of the registries this project may use.
        // Quietly: if it fails, the line below says what to run.
        let _ = std::process::Command::new("python3")
            .args(["-m", "pip", "install", "-q", "outpost-sdk"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    assert!(
        python_has_sdk(),
        "outpost-sdk not found (python3 -c 'import outpost_sdk' fails): run ./test.sh, \
         which installs it, or python3 -m pip install outpost-sdk"
    );
    let db = TestDb::new().await;
    let mut child = Command::new(BIN)
        .arg("serve")
        .env("DATABASE_URL", &db.url)
        .env("API_PORT", "0")
        .env("API_KEY", "sdk-key")
        .env("API_JWT_SECRET", "sdk-jwt")
        .env("AES_ENCRYPTION_SECRET", "sdk-aes")
        .env("DESTINATIONS_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let addr = crate::serve::read_address(&mut child).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/python_sdk.py");
    let out = Command::new("python3")
        .arg(script)
        .env("OUTBOUND_URL", format!("http://{addr}"))
        .env("API_KEY", "sdk-key")
        .output()
        .await
        .unwrap();
    let _ = child.start_kill();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
