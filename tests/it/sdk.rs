//! Outpost's published SDKs (Python and TypeScript) against a running
//! outbound: the SDKs' own response validation must pass, and each script
//! checks what it got (wildcard topics, include=destination, instructions).

use std::process::Stdio;

use tokio::process::{Child, Command};

use crate::helpers::db::TestDb;

const BIN: &str = env!("CARGO_BIN_EXE_outbound");
const SDK_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk");

fn python_has_sdk() -> bool {
    std::process::Command::new("python3")
        .args(["-c", "import outpost_sdk"])
        .status()
        .is_ok_and(|s| s.success())
}

/// `outbound serve` on its own database, as an SDK user would run it (with
/// wildcard topics on); its address.
async fn serve(db: &TestDb) -> (Child, String) {
    let mut child = Command::new(BIN)
        .arg("serve")
        .env("DATABASE_URL", &db.url)
        .env("API_PORT", "0")
        .env("API_KEY", "sdk-key")
        .env("API_JWT_SECRET", "sdk-jwt")
        .env("AES_ENCRYPTION_SECRET", "sdk-aes")
        .env("DESTINATIONS_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8")
        .env("TOPICS_ALLOW_WILDCARDS", "true")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let addr = crate::serve::read_address(&mut child).await;
    (child, format!("http://{addr}"))
}

/// Runs `program script` against `url`; fails the test with its output.
async fn run_check(program: &str, script: &str, url: &str) {
    let out = Command::new(program)
        .arg(script)
        .env("OUTBOUND_URL", url)
        .env("API_KEY", "sdk-key")
        .output()
        .await
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
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
    let (mut child, url) = serve(&db).await;
    run_check("python3", &format!("{SDK_DIR}/python_sdk.py"), &url).await;
    let _ = child.start_kill();
}

#[tokio::test]
async fn outposts_typescript_sdk_works_unchanged() {
    let installed = std::path::Path::new(SDK_DIR)
        .join("typescript/node_modules/@hookdeck/outpost-sdk")
        .is_dir();
    assert!(
        installed,
        "@hookdeck/outpost-sdk not installed: run ./test.sh, which installs it \
         (npm ci --prefix tests/sdk/typescript)"
    );
    let db = TestDb::new().await;
    let (mut child, url) = serve(&db).await;
    run_check("node", &format!("{SDK_DIR}/typescript/sdk_check.mjs"), &url).await;
    let _ = child.start_kill();
}
