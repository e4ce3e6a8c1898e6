//! The API served in-process on a loopback port, and a small JSON client.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use super::db::TestDb;

pub const API_KEY: &str = "test-api-key";
pub const JWT_SECRET: &str = "test-jwt-secret";

pub struct TestApi {
    pub base: String,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
}

impl TestApi {
    pub async fn start(db: &TestDb) -> TestApi {
        Self::start_with(db, |_| {}).await
    }

    pub async fn start_with(
        db: &TestDb,
        tweak: impl FnOnce(&mut outbound::api::AppState),
    ) -> TestApi {
        let mut state = outbound::api::AppState::new(
            db.pool.clone(),
            outbound::api::auth::AuthConfig {
                api_key: API_KEY.into(),
                jwt_secret: JWT_SECRET.into(),
            },
        );
        tweak(&mut state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, outbound::api::router(state)).await;
        });
        TestApi {
            base: format!("http://{addr}"),
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
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
