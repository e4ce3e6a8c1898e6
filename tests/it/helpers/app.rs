//! The service as `outbound serve` builds it (`Application::build`), on a
//! test's own database, with the API on a loopback port; and a small JSON
//! client for it.
//!
//! Settings are production's, from the same parser, with what a test run
//! needs: the database, port 0, fixed secrets, loopback allowed by the SSRF
//! guard, and short delivery timeouts. A test tweaks them like an operator
//! would set a variable.

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use outbound::app::{Application, Database, Parts, Secrets};
use outbound::config::Settings;
use outbound::delivery::worker::Worker;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::db::TestDb;

pub const API_KEY: &str = "test-api-key";
pub const JWT_SECRET: &str = "test-jwt-secret";
pub const AES_SECRET: &str = "test-aes-secret";

/// Production settings for a test database.
pub fn settings(db: &TestDb) -> Settings {
    Settings::from_args([
        "--database-url",
        &db.url,
        "--api-port",
        "0",
        "--api-key",
        API_KEY,
        "--api-jwt-secret",
        JWT_SECRET,
        "--aes-encryption-secret",
        AES_SECRET,
        "--destinations-webhook-allowed-networks",
        "127.0.0.0/8",
        "--delivery-timeout-seconds",
        "2",
        // Tests step the worker one claim at a time (`run_once`) and expect
        // a claim to take every due delivery; the per-destination caps are
        // tested where they are set (tests/it/fairness.rs).
        "--delivery-destination-concurrency",
        "10000",
        // Transformations run in `outbound transform-runner` processes: the
        // binary, since this test binary is not it.
        "--transform-runner",
        env!("CARGO_BIN_EXE_outbound"),
    ])
    .expect("test settings")
}

/// Builds the application with `parts` on `db`.
pub async fn build(db: &TestDb, parts: Parts, tweak: impl FnOnce(&mut Settings)) -> Application {
    let mut s = settings(db);
    tweak(&mut s);
    let database = Database::open(&s).expect("database");
    let secrets = Secrets::resolve(&s, false).expect("secrets");
    Application::build(&s, &database, secrets, parts)
        .await
        .expect("application")
}

/// The delivery worker of an application built from test settings (its
/// loop not started: call `run_once`, or `run`).
pub async fn worker(db: &TestDb, tweak: impl FnOnce(&mut Settings)) -> Worker {
    let parts = Parts {
        api: false,
        worker: false,
        maintenance: false,
    };
    build(db, parts, tweak).await.worker().clone()
}

/// The API served on a loopback port (no worker loop, no maintenance);
/// stopped when dropped.
pub struct TestApp {
    pub base: String,
    worker: Worker,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    cancel: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl TestApp {
    pub async fn start(db: &TestDb) -> TestApp {
        Self::start_with(db, |_| {}).await
    }

    pub async fn start_with(db: &TestDb, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        let parts = Parts {
            api: true,
            worker: false,
            maintenance: false,
        };
        Self::start_parts(db, parts, tweak).await
    }

    /// The API with its worker loop and operator-event sender running, as
    /// `outbound serve` runs them (without maintenance).
    pub async fn serving(db: &TestDb, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        let parts = Parts {
            api: true,
            worker: true,
            maintenance: false,
        };
        Self::start_parts(db, parts, tweak).await
    }

    async fn start_parts(db: &TestDb, parts: Parts, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        let app = build(db, parts, tweak).await;
        let addr = app.local_addr().expect("API address");
        let worker = app.worker().clone();
        let cancel = CancellationToken::new();
        tokio::spawn(app.run(cancel.clone()));
        TestApp {
            base: format!("http://{addr}"),
            worker,
            client: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(5))
                .build_http(),
            cancel,
        }
    }

    /// The application's delivery worker (not running; step it).
    pub fn worker(&self) -> &Worker {
        &self.worker
    }

    /// Sends a request; `body` is raw text (so tests can send broken JSON).
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> (u16, Value) {
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{}", self.base, path));
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or("").to_string())))
            .unwrap();
        let resp = self.client.request(req).await.expect("request");
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, json)
    }

    pub async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let body = body.map(|b| b.to_string());
        self.raw(method, path, Some(API_KEY), body.as_deref()).await
    }

    pub async fn as_token(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let body = body.map(|b| b.to_string());
        self.raw(method, path, Some(token), body.as_deref()).await
    }
}
