//! What `outbound serve` says when it starts, as a person (or a log
//! collector) sees it: the real binary, on a database it migrates from
//! empty, with its output piped (not a terminal).

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::helpers::db::{connect, harness, with_database};

const BIN: &str = env!("CARGO_BIN_EXE_outbound");

/// Starts `serve` on a new, empty database with `LOG_FORMAT` as given and
/// `RUST_LOG` unset; returns (stdout lines, stderr lines) up to the point
/// where it listens and its worker runs.
async fn start_up(name: &str, log_format: Option<&str>) -> (Vec<String>, Vec<String>) {
    let admin = connect(&harness().admin_url).await;
    let _ = admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await;
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("an empty database");
    let mut cmd = Command::new(BIN);
    cmd.arg("serve")
        .env("DATABASE_URL", with_database(&harness().admin_url, name))
        .env("API_PORT", "0")
        .env("API_KEY", "test-api-key")
        .env("API_JWT_SECRET", "test-jwt-secret")
        .env("AES_ENCRYPTION_SECRET", "test-aes-secret")
        .env_remove("RUST_LOG")
        .env_remove("LOG_FORMAT")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(f) = log_format {
        cmd.env("LOG_FORMAT", f);
    }
    let mut child = cmd.spawn().expect("spawn outbound serve");
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut err = BufReader::new(child.stderr.take().unwrap()).lines();
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let started = |o: &[String], e: &[String]| {
        o.iter().any(|l| l.contains("listening on"))
            && e.iter().any(|l| l.contains("delivery worker started"))
    };
    tokio::time::timeout(Duration::from_secs(30), async {
        while !started(&stdout, &stderr) {
            tokio::select! {
                Ok(Some(l)) = out.next_line() => stdout.push(l),
                Ok(Some(l)) = err.next_line() => stderr.push(l),
                else => panic!("serve exited while starting: {stderr:?}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("serve starts within 30 s; so far {stdout:?} {stderr:?}"));
    // Anything else it says at once belongs to the start-up too.
    while let Ok(Ok(Some(l))) =
        tokio::time::timeout(Duration::from_millis(300), err.next_line()).await
    {
        stderr.push(l);
    }
    child.kill().await.expect("stop serve");
    let _ = admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await;
    (stdout, stderr)
}

fn readable(lines: &[String]) {
    assert!(
        lines.len() <= 8,
        "a few lines, not {}: {lines:#?}",
        lines.len()
    );
    for line in lines {
        assert!(!line.contains("refinery"), "no refinery: {line}");
        assert!(
            !line.contains(".rs:") && !line.contains(".rs\""),
            "no source paths: {line}"
        );
        assert!(
            !line.contains('\u{1b}'),
            "no colour codes when piped: {line:?}"
        );
    }
    assert!(
        lines.iter().any(|l| l.contains("schema: applied")),
        "one line for the migrations: {lines:#?}"
    );
}

#[tokio::test]
async fn start_up_is_a_few_pretty_lines_when_piped() {
    let name = format!("outbound_logs_pretty_{}", std::process::id());
    let (stdout, stderr) = start_up(&name, None).await;
    readable(&stderr);
    for line in &stderr {
        assert!(
            !line.starts_with('{'),
            "pretty, not JSON, unless asked: {line}"
        );
        assert!(line.contains(" INFO ") || line.contains(" WARN "), "{line}");
    }
    assert!(stdout
        .iter()
        .any(|l| l.starts_with("outbound: listening on http://")));
}

#[tokio::test]
async fn log_format_json_makes_every_log_line_json() {
    let name = format!("outbound_logs_json_{}", std::process::id());
    let (_, stderr) = start_up(&name, Some("json")).await;
    readable(&stderr);
    for line in &stderr {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            v["timestamp"].is_string() && v["level"].is_string(),
            "{line}"
        );
        assert!(v["fields"]["message"].is_string(), "{line}");
    }
}

#[tokio::test]
async fn an_unknown_log_format_is_refused_with_its_values() {
    let out = Command::new(BIN)
        .arg("migrate")
        .env("LOG_FORMAT", "xml")
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .output()
        .await
        .expect("run outbound");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("LOG_FORMAT") && err.contains("json or pretty"),
        "{err}"
    );
}
