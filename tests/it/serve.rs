//! The `outbound` binary as a user runs it.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

use crate::helpers::app::TestApp;
use crate::helpers::db::{connect, harness, TestDb};

const BIN: &str = env!("CARGO_BIN_EXE_outbound");

/// Starts `outbound serve` on the test database and a free port; returns the
/// child and the HTTP address it printed.
pub async fn start_serve(db: &TestDb, extra_env: &[(&str, &str)]) -> (Child, String) {
    start_serve_bin(BIN, db, extra_env).await
}

/// [`start_serve`] with another build of the binary (e.g. a release build).
pub async fn start_serve_bin(
    bin: &str,
    db: &TestDb,
    extra_env: &[(&str, &str)],
) -> (Child, String) {
    let mut cmd = Command::new(bin);
    cmd.arg("serve")
        .env("DATABASE_URL", &db.url)
        .env("API_PORT", "0")
        .env("API_KEY", "test-api-key")
        .env("API_JWT_SECRET", "test-jwt-secret")
        .env("AES_ENCRYPTION_SECRET", "test-aes-secret")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn outbound serve");
    let addr = read_address(&mut child).await;
    (child, addr)
}

/// Reads `serve`'s stdout until it prints its address; keeps draining it.
pub async fn read_address(child: &mut Child) -> String {
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(rest) = line.strip_prefix("outbound: listening on http://") {
                return rest.trim().to_string();
            }
        }
        panic!("serve exited before listening");
    })
    .await
    .expect("serve prints its address within 30 s");
    // Keep draining stdout so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    addr
}

/// A minimal HTTP/1.1 GET: (status, body).
pub async fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).await.unwrap();
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn signal(child: &Child, sig: &str) {
    let pid = child.id().expect("running").to_string();
    let ok = std::process::Command::new("kill")
        .args([sig, &pid])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pid}");
}

#[tokio::test]
async fn serve_answers_healthz_and_exits_cleanly_on_sigterm() {
    let db = TestDb::new().await;
    let (mut child, addr) = start_serve(&db, &[]).await;
    let (status, body) = http_get(&addr, "/healthz").await;
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["status"], "healthy");
    assert_eq!(json["workers"]["database"]["status"], "healthy");
    let (status, _) = http_get(&addr, "/api/v1/healthz").await;
    assert_eq!(status, 200);

    signal(&child, "-TERM");
    let exit = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("exits within 15 s of SIGTERM")
        .unwrap();
    assert!(exit.success(), "exit status {exit}");
}

#[tokio::test]
async fn serve_exits_cleanly_on_sigint() {
    let db = TestDb::new().await;
    let (mut child, _addr) = start_serve(&db, &[]).await;
    signal(&child, "-INT");
    let exit = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("exits within 15 s of SIGINT")
        .unwrap();
    assert!(exit.success(), "exit status {exit}");
}

#[tokio::test]
async fn healthz_answers_503_quickly_when_the_database_is_unreachable() {
    let db = TestDb::new().await;
    let api = TestApp::start(&db).await;
    let (status, _) = api.raw("GET", "/healthz", None, None).await;
    assert_eq!(status, 200);
    // The database goes away under the running service.
    let admin = connect(&harness().admin_url).await;
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {} ALLOW_CONNECTIONS false",
            db.name
        ))
        .await
        .unwrap();
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
            &[&db.name],
        )
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let (status, body) = api.raw("GET", "/healthz", None, None).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "failed");
    assert_eq!(body["workers"]["database"]["status"], "failed");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn bad_settings_are_a_start_up_error_that_names_the_variable() {
    let out = Command::new(BIN)
        .arg("serve")
        .env("DATABASE_URL", "postgres://u:p@127.0.0.1:1/db")
        .env("API_PORT", "eighty")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("API_PORT"), "{stderr}");

    // The rule across two variables is reported the same way.
    let out = Command::new(BIN)
        .arg("serve")
        .env("DATABASE_URL", "postgres://u:p@127.0.0.1:1/db")
        .env("DELIVERY_TIMEOUT_SECONDS", "60")
        .env("DELIVERY_LEASE_SECONDS", "60")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("DELIVERY_LEASE_SECONDS"), "{stderr}");
}

/// clap 4 hands an empty variable to the value parser (an error for a
/// number, an empty string for a string); outbound treats it as unset, as
/// before settings went through clap. Each of these would otherwise stop
/// start-up (a number), bind to nothing (`API_HOST`) or allow no topic.
#[tokio::test]
async fn serve_treats_empty_variables_as_unset() {
    let db = TestDb::new().await;
    let empty = [
        "API_HOST",
        "DATABASE_POOL_SIZE",
        "DELIVERY_LEASE_SECONDS",
        "DESTINATIONS_WEBHOOK_MODE",
        "LOG_RETENTION_DAYS",
        "POSTGRES_URL",
        "RETRY_SCHEDULE",
        "TOPICS",
        "TOPICS_VALIDATE_SCHEMA",
    ];
    let mut extra: Vec<(&str, &str)> = empty.iter().map(|var| (*var, "")).collect();
    extra.push(("DELIVERY_CONCURRENCY", "  "));
    let (mut child, addr) = start_serve(&db, &extra).await;
    let (status, body) = http_get(&addr, "/healthz").await;
    assert_eq!(status, 200, "{body}");
    child.kill().await.unwrap();
}

#[tokio::test]
async fn serve_reads_settings_from_flags_too() {
    let db = TestDb::new().await;
    // Flags before or after the subcommand. API_KEY is required with a
    // DATABASE_URL, so this starts only if `--api-key` is read; `--api-port`
    // must win over API_PORT.
    let mut cmd = Command::new(BIN);
    cmd.args(["--api-key", "flag-key", "serve", "--api-port", "0"])
        .env("DATABASE_URL", &db.url)
        .env_remove("API_KEY")
        .env("API_PORT", "3333")
        .env("API_JWT_SECRET", "test-jwt-secret")
        .env("AES_ENCRYPTION_SECRET", "test-aes-secret")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("spawn outbound serve");
    let addr = read_address(&mut child).await;
    assert!(!addr.ends_with(":3333"), "{addr}");
    let (status, body) = http_get(&addr, "/healthz").await;
    assert_eq!(status, 200, "{body}");
    child.kill().await.unwrap();
}

#[tokio::test]
async fn help_lists_the_settings_as_flags() {
    let out = Command::new(BIN)
        .arg("--help")
        .env("API_KEY", "do-not-print-me")
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("Settings (environment variables)"), "{help}");
    assert!(help.contains("--api-port <API_PORT>"), "{help}");
    assert!(help.contains("[env: API_PORT"), "{help}");
    assert!(help.contains("--database-url <DATABASE_URL>"), "{help}");
    assert!(
        !help.contains("do-not-print-me"),
        "secrets stay hidden: {help}"
    );
}

#[tokio::test]
async fn without_postgres_binaries_serve_says_what_to_install() {
    // Hide the system's Postgres in a private mount namespace (root only).
    let probe = std::process::Command::new("unshare")
        .args(["--mount", "true"])
        .status();
    if !matches!(probe, Ok(s) if s.success()) {
        eprintln!("skipped: cannot create a mount namespace here");
        return;
    }
    let dir = tempdir();
    let script = format!(
        "mount -t tmpfs none /usr/lib/postgresql && cd {} && PATH=/usr/bin:/bin exec {BIN} serve",
        dir.display()
    );
    let out = Command::new("unshare")
        .args(["--mount", "sh", "-c", &script])
        .env_remove("DATABASE_URL")
        .env_remove("POSTGRES_URL")
        .output()
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one clear line: {stderr}");
    assert!(lines[0].contains("PostgreSQL server binaries"), "{stderr}");
    assert!(lines[0].contains("install"), "{stderr}");
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("outbound-serve-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn with_a_database_url_a_missing_secret_is_a_start_up_error_naming_it() {
    let db = TestDb::new().await;
    let out = Command::new(BIN)
        .arg("serve")
        .env("DATABASE_URL", &db.url)
        .env("API_PORT", "0")
        .env("API_KEY", "k")
        .env("AES_ENCRYPTION_SECRET", "a")
        .env_remove("API_JWT_SECRET")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("API_JWT_SECRET is not set"), "{stderr}");
}
