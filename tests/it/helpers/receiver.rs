//! `TestReceiver`: a real HTTP server on loopback (hyper, port 0) that
//! records every request and answers as the test tells it.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// How to answer one request.
#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16),
    /// Status with extra headers (e.g. Retry-After).
    WithHeaders(u16, Vec<(String, String)>),
    /// Status and a body of this many bytes.
    Body(u16, usize),
    /// Never answer (the connection stays open until the client gives up).
    Hang,
    /// Answer after a delay.
    Delay(Duration, u16),
    /// Answer after a delay, with headers (a slow 503 with Retry-After).
    DelayWithHeaders(Duration, u16, Vec<(String, String)>),
    /// Status with this text as the body.
    Text(u16, String),
}

#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    #[allow(dead_code)]
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct State {
    requests: Mutex<Vec<Received>>,
    script: Mutex<VecDeque<Reply>>,
    default: Mutex<Option<Reply>>,
    arrived: tokio::sync::Notify,
    /// Requests being answered now, and the most there ever were at once.
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    /// The accept loop and the connections it serves, while up.
    serving: Mutex<Option<Serving>>,
}

/// A receiver that is up: its listener's task and its connections' tasks.
struct Serving {
    accept: tokio::task::JoinHandle<()>,
    connections: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

fn serve(listener: tokio::net::TcpListener, state: Arc<State>) -> Serving {
    let connections: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
    let conns = connections.clone();
    let accept = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let st = state.clone();
            let conn = tokio::spawn(async move {
                let svc = service_fn(move |req| handle(st.clone(), req));
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
            let mut open = conns.lock().unwrap();
            open.retain(|c| !c.is_finished());
            open.push(conn.abort_handle());
        }
    });
    Serving {
        accept,
        connections,
    }
}

/// Counts a request in flight until it is answered or dropped (a hung
/// request ends when the client gives up and closes the connection).
struct InFlight(Arc<State>);

impl InFlight {
    fn new(state: Arc<State>) -> InFlight {
        let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        state.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(state)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Clone)]
pub struct TestReceiver {
    pub addr: SocketAddr,
    state: Arc<State>,
}

impl TestReceiver {
    /// Starts a receiver answering 200 to everything.
    pub async fn start() -> TestReceiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State::default());
        *state.serving.lock().unwrap() = Some(serve(listener, state.clone()));
        TestReceiver { addr, state }
    }

    /// Goes down as a crashed receiver does: the port refuses connections,
    /// and the connections that are open are cut, requests being answered
    /// included (the sender gets no answer for a request this receiver
    /// already recorded).
    pub fn down(&self) {
        if let Some(serving) = self.state.serving.lock().unwrap().take() {
            serving.accept.abort();
            for c in serving.connections.lock().unwrap().drain(..) {
                c.abort();
            }
        }
    }

    /// Comes back up on the same port.
    pub async fn up(&self) {
        // The aborted accept task drops its listener when it next runs.
        let deadline = Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match tokio::net::TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(e) => panic!("rebinding {}: {e}", self.addr),
            }
        };
        *self.state.serving.lock().unwrap() = Some(serve(listener, self.state.clone()));
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Replies for the next requests, in order; then the default applies.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.script.lock().unwrap().extend(replies);
    }

    /// The reply once the script is used up (200 unless set).
    pub fn set_default(&self, reply: Reply) {
        *self.state.default.lock().unwrap() = Some(reply);
    }

    /// The most requests that were ever being answered at once.
    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }

    /// How many requests arrived so far.
    pub fn count(&self) -> usize {
        self.state.requests.lock().unwrap().len()
    }

    pub fn requests(&self) -> Vec<Received> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived (or panics after `limit`).
    pub async fn wait_for(&self, n: usize, limit: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.state.arrived.notified();
            // Count, don't copy: copying every request received so far on
            // every arrival made waiting for thousands of them quadratic.
            if self.count() >= n {
                return self.requests();
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "receiver got {} of {n} requests within {limit:?}",
                    self.count()
                );
            }
        }
    }
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    // `/__default/<reply>`: a test outside this process (the browser
    // journey) sets the default reply; not recorded as a delivery.
    if let Some(reply) = path.strip_prefix("/__default/") {
        let reply = match reply {
            "500" => Reply::Text(500, "receiver refused: maintenance".into()),
            "500-xss" => Reply::Text(
                500,
                "receiver refused <img src=x onerror=\"window.__xss=3\"></script><script>window.__xss=4</script>".into(),
            ),
            other => Reply::Status(other.parse().unwrap_or(200)),
        };
        *state.default.lock().unwrap() = Some(reply);
        return Ok(Response::builder()
            .status(204)
            .body(Full::new(Bytes::new()))
            .unwrap());
    }
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    state.requests.lock().unwrap().push(Received {
        method,
        path,
        headers,
        body,
        at: Instant::now(),
    });
    state.arrived.notify_waiters();
    let _in_flight = InFlight::new(state.clone());
    let reply = {
        let next = state.script.lock().unwrap().pop_front();
        next.or_else(|| state.default.lock().unwrap().clone())
            .unwrap_or(Reply::Status(200))
    };
    let respond = |status: u16, body: Bytes, headers: Vec<(String, String)>| {
        let mut r = Response::builder().status(status);
        for (k, v) in headers {
            r = r.header(k, v);
        }
        Ok(r.body(Full::new(body)).unwrap())
    };
    match reply {
        Reply::Status(s) => respond(s, Bytes::from_static(b"{\"ok\":true}"), vec![]),
        Reply::WithHeaders(s, h) => respond(s, Bytes::new(), h),
        Reply::Body(s, n) => respond(s, Bytes::from(vec![b'x'; n]), vec![]),
        Reply::Delay(d, s) => {
            tokio::time::sleep(d).await;
            respond(s, Bytes::new(), vec![])
        }
        Reply::Text(s, text) => respond(s, Bytes::from(text), vec![]),
        Reply::DelayWithHeaders(d, s, h) => {
            tokio::time::sleep(d).await;
            respond(s, Bytes::new(), h)
        }
        Reply::Hang => {
            std::future::pending::<()>().await;
            unreachable!()
        }
    }
}
