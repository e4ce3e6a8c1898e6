//! The outbound HTTP client that webhook deliveries POST through.
//!
//! One [`HttpSender`] per process shares one keep-alive connection pool
//! (hyper-util's `Client`). Everything a customer-supplied URL could abuse is
//! bounded here:
//!
//! - **Where it connects.** Connections come from stock parts: hyper-util's
//!   `HttpConnector` opens TCP, hyper-rustls' `HttpsConnector` adds TLS for
//!   https. The SSRF rules ([`NetworkPolicy`]) are applied to the *resolved
//!   addresses*, not to the host name, because the address is what a socket
//!   reaches: a harmless-looking name can point at 10.0.0.1, and forms like
//!   `2130706433` or `0x7f.1` are loopback once the system resolver reads
//!   them. So `HttpConnector`'s resolver (`VettingResolver`) looks the name
//!   up once and drops every address the policy refuses; `HttpConnector`
//!   then connects to the survivors by address, with no second lookup that a
//!   rebinding DNS server could answer differently. `HttpConnector` skips its
//!   resolver for IP-literal hosts, so [`HttpSender`] vets those itself
//!   before the request is handed to the pool. A refused address is never
//!   connected to.
//! - **How long it takes.** A total timeout covers connecting, sending,
//!   waiting for the headers and reading the body, so a slow-drip response
//!   cannot hold a worker; a connect timeout (`BoundedConnector`) bounds the
//!   lookup, TCP and TLS setup.
//! - **How much it reads.** The response body is read up to a cap and the
//!   connection is then dropped, not drained.
//! - **Where it goes next.** Redirects are not followed (hyper-util's client
//!   has no redirect support): a 3xx is a failed attempt like any other
//!   non-2xx status.
//!
//! Failures are classified into the stable codes the delivery log stores
//! (`timeout`, `dns_error`, …) by walking the error's source chain, through
//! hyper-util's and hyper-rustls' wrappers, down to our own `ConnectError`,
//! a rustls error, an I/O error kind or hyper's own view.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use http_body_util::{BodyExt, Full};
use hyper::body::{Body as _, Bytes, Incoming};
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::pki_types::{CertificateDer, InvalidDnsNameError};

mod connector;

use crate::domain::ssrf::NetworkPolicy;
use connector::{tls_config, BoundedConnector, ConnectError, VettingResolver};

/// How the client behaves. `Default` is the production setting with an
/// empty allowlist.
#[derive(Debug, Clone)]
pub struct HttpClientConfig {
    /// Bound on a whole attempt: connect, send, headers and body. 5 s.
    pub timeout: Duration,
    /// Bound on establishing a connection: the lookup, TCP to every vetted
    /// address in turn (each gets an equal share), and the TLS handshake.
    /// 5 s.
    pub connect_timeout: Duration,
    /// Response bytes kept; nothing past this is read. 128 KiB.
    pub max_response_bytes: usize,
    /// Which resolved addresses may be connected to.
    pub policy: Arc<NetworkPolicy>,
    /// Sent unless the caller passes its own `user-agent`.
    pub user_agent: String,
    /// Trusted in addition to the webpki (Mozilla) roots; tests use this
    /// for a private CA.
    pub extra_root_certs: Vec<CertificateDer<'static>>,
    /// How long an unused pooled connection is kept. 30 s: shorter than
    /// most servers' keep-alive, which narrows the race where a server
    /// closes an idle connection just as a request is written to it.
    pub pool_idle_timeout: Duration,
}

impl Default for HttpClientConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            max_response_bytes: 128 * 1024,
            policy: Arc::new(NetworkPolicy::default()),
            user_agent: concat!("outbound/", env!("CARGO_PKG_VERSION")).to_owned(),
            extra_root_certs: Vec::new(),
            pool_idle_timeout: Duration::from_secs(30),
        }
    }
}

/// The client could not be built (a bad extra root certificate).
#[derive(Debug, thiserror::Error)]
pub enum HttpClientError {
    #[error("TLS configuration")]
    Tls(#[from] rustls::Error),
    #[error("user agent is not a valid header value")]
    UserAgent(#[from] header::InvalidHeaderValue),
}

/// Why an attempt produced no HTTP response. `as_str` is the code stored in
/// the delivery log and shown to tenants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureCode {
    Timeout,
    DnsError,
    ConnectionRefused,
    ConnectionReset,
    TlsError,
    NetworkError,
    /// The SSRF guard refused every address the host resolved to.
    Blocked,
    InvalidUrl,
    /// A header name or value the caller supplied is not valid HTTP.
    InvalidRequest,
}

impl FailureCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::DnsError => "dns_error",
            Self::ConnectionRefused => "connection_refused",
            Self::ConnectionReset => "connection_reset",
            Self::TlsError => "tls_error",
            Self::NetworkError => "network_error",
            Self::Blocked => "blocked_address",
            Self::InvalidUrl => "invalid_url",
            Self::InvalidRequest => "invalid_request",
        }
    }
}

impl fmt::Display for FailureCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed attempt: the code, and the error chain as text for logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpFailure {
    pub code: FailureCode,
    pub detail: String,
}

impl HttpFailure {
    fn new(code: FailureCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
        }
    }

    fn from_error(err: &(dyn StdError + 'static)) -> Self {
        Self::new(classify(err), error_chain(err))
    }
}

/// A response, whatever its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    /// In received order; names are lowercase.
    pub headers: Vec<(String, String)>,
    /// The first `max_response_bytes` of the body, decoded lossily.
    pub body: String,
    /// The body was longer than the cap (or ended in an unknown way past it).
    pub body_truncated: bool,
    /// `Retry-After`, as a delay from when the response arrived.
    pub retry_after: Option<Duration>,
}

impl HttpResponse {
    /// A final status below 300 is a delivered webhook.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The result of one attempt and how long it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpOutcome {
    pub duration: Duration,
    pub result: Result<HttpResponse, HttpFailure>,
}

/// Sends webhook POSTs. Cloning is cheap and shares the connection pool.
#[derive(Clone)]
pub struct HttpSender {
    client: Client<BoundedConnector, Full<Bytes>>,
    /// For IP-literal hosts, which never reach the resolver.
    policy: Arc<NetworkPolicy>,
    timeout: Duration,
    max_response_bytes: usize,
    user_agent: HeaderValue,
}

impl fmt::Debug for HttpSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpSender")
            .field("timeout", &self.timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish_non_exhaustive()
    }
}

/// Headers the caller may not set: they describe the framing and the target,
/// which the client owns. A tenant's custom `content-length` would corrupt
/// the request; a custom `host` would address another virtual host.
const RESERVED_HEADERS: &[HeaderName] = &[
    header::HOST,
    header::CONTENT_LENGTH,
    header::TRANSFER_ENCODING,
    header::CONNECTION,
];

impl HttpSender {
    pub fn new(cfg: HttpClientConfig) -> Result<Self, HttpClientError> {
        let mut tcp = HttpConnector::new_with_resolver(VettingResolver {
            policy: cfg.policy.clone(),
        });
        // https URLs reach it too: `HttpsConnector` has it open the TCP
        // connection and then runs the handshake on top.
        tcp.enforce_http(false);
        // Webhook requests are small and written at once; don't let Nagle
        // hold the body back waiting for an ACK.
        tcp.set_nodelay(true);
        // Shared equally by the vetted addresses, tried one after another,
        // so an unresponsive first address cannot use up all of it. Happy
        // Eyeballs would race the other address family after 300 ms instead;
        // it is off to keep that one simple rule.
        tcp.set_connect_timeout(Some(cfg.connect_timeout));
        tcp.set_happy_eyeballs_timeout(None);

        // `From<(connector, config)>` rather than hyper-rustls' builder: the
        // builder insists on writing ALPN itself and, with only HTTP/1
        // enabled, offers none; this keeps offering exactly http/1.1.
        let https = HttpsConnector::from((tcp, tls_config(cfg.extra_root_certs)?));
        let connector = BoundedConnector {
            inner: https,
            timeout: cfg.connect_timeout,
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(cfg.pool_idle_timeout)
            .build(connector);
        Ok(Self {
            client,
            policy: cfg.policy,
            timeout: cfg.timeout,
            max_response_bytes: cfg.max_response_bytes,
            user_agent: HeaderValue::from_str(&cfg.user_agent)?,
        })
    }

    /// POSTs `body` to `url`. Never fails as a Rust error: every way an
    /// attempt can go wrong is an [`HttpFailure`] in the outcome.
    pub async fn post(&self, url: &str, headers: &[(String, String)], body: Bytes) -> HttpOutcome {
        self.request(Method::POST, url, headers, body).await
    }

    /// Sends a request with any method (the cloud APIs use PUT too), under
    /// the same guard, timeouts and body cap as a webhook.
    pub async fn request(
        &self,
        method: Method,
        url: &str,
        headers: &[(String, String)],
        body: Bytes,
    ) -> HttpOutcome {
        let started = Instant::now();
        let sending = self.send(method, url, headers, body);
        let result = match tokio::time::timeout(self.timeout, sending).await {
            Ok(result) => result,
            Err(_) => Err(HttpFailure::new(
                FailureCode::Timeout,
                format!("no complete response within {:?}", self.timeout),
            )),
        };
        HttpOutcome {
            duration: started.elapsed(),
            result,
        }
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(String, String)],
        body: Bytes,
    ) -> Result<HttpResponse, HttpFailure> {
        let uri = parse_url(url).map_err(|e| HttpFailure::new(FailureCode::InvalidUrl, e))?;
        self.vet_ip_literal(&uri)?;
        let request = self.build_request(method, uri, headers, body)?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| HttpFailure::from_error(&e))?;
        self.read_response(response).await
    }

    /// Applies the policy to an IP-literal host. `HttpConnector` connects to
    /// a literal without calling its resolver, so this is the only check it
    /// gets, and it must happen before the request reaches the pool. The
    /// literal forms are the ones hyper-util recognises: brackets stripped,
    /// then whatever `IpAddr` parses (`::ffff:10.0.0.1` included, which the
    /// policy judges by the IPv4 address inside). Anything else is a name
    /// for the resolver, which vets what it resolves to.
    fn vet_ip_literal(&self, uri: &Uri) -> Result<(), HttpFailure> {
        let host = uri.host().unwrap_or_default();
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        match bare.parse::<IpAddr>() {
            Ok(ip) => self
                .policy
                .check(ip)
                .map_err(|blocked| HttpFailure::from_error(&ConnectError::from(blocked))),
            Err(_) => Ok(()),
        }
    }

    fn build_request(
        &self,
        method: Method,
        uri: Uri,
        headers: &[(String, String)],
        body: Bytes,
    ) -> Result<Request<Full<Bytes>>, HttpFailure> {
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        let map = request.headers_mut();
        for (name, value) in headers {
            let invalid = |what| {
                HttpFailure::new(
                    FailureCode::InvalidRequest,
                    format!("invalid header {what}: {name:?}"),
                )
            };
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid("name"))?;
            let value = HeaderValue::from_str(value).map_err(|_| invalid("value"))?;
            if !RESERVED_HEADERS.contains(&name) {
                map.append(name, value);
            }
        }
        if !map.contains_key(header::USER_AGENT) {
            map.insert(header::USER_AGENT, self.user_agent.clone());
        }
        Ok(request)
    }

    async fn read_response(
        &self,
        response: Response<Incoming>,
    ) -> Result<HttpResponse, HttpFailure> {
        let (parts, mut body) = response.into_parts();
        let cap = self.max_response_bytes;
        // Sized from Content-Length when there is one: most webhook
        // responses are empty or tiny, and a large buffer per response
        // costs more than the response.
        let hint = usize::try_from(body.size_hint().lower()).unwrap_or(cap);
        let mut kept = Vec::with_capacity(hint.min(cap));
        let mut truncated = false;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| HttpFailure::from_error(&e))?;
            let Ok(data) = frame.into_data() else {
                continue; // trailers carry nothing we store
            };
            let room = cap - kept.len();
            if data.len() > room {
                kept.extend_from_slice(&data[..room]);
                truncated = true;
                break;
            }
            kept.extend_from_slice(&data);
            if kept.len() == cap {
                truncated = !body.is_end_stream();
                break;
            }
        }
        // Dropping `body` unfinished makes hyper close the connection rather
        // than read the rest of a possibly endless body to reuse it.
        drop(body);

        let retry_after = parts
            .headers
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, Utc::now()));
        let headers = parts
            .headers
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_owned(), value)
            })
            .collect();
        Ok(HttpResponse {
            status: parts.status.as_u16(),
            headers,
            body: String::from_utf8_lossy(&kept).into_owned(),
            body_truncated: truncated,
            retry_after,
        })
    }
}

/// Parses and checks a destination URL: absolute, http or https, with a host.
fn parse_url(url: &str) -> Result<Uri, String> {
    let uri: Uri = url.parse().map_err(|e| format!("{url:?}: {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(format!("{url:?}: scheme must be http or https")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("{url:?}: no host"));
    }
    Ok(uri)
}

/// `Retry-After` as a delay: either delta-seconds or an HTTP-date (IMF
/// fixdate, e.g. `Wed, 21 Oct 2015 07:28:00 GMT`), relative to `now`. A
/// date in the past is a zero delay; anything unparseable is ignored.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// Maps an error to its failure code by walking the source chain from the
/// outside in; the first error that identifies a cause decides: one of our
/// [`ConnectError`]s (found beneath hyper-util's `Error` and `HttpConnector`
/// wrappers), a rustls error, a TLS server name that is not valid, a telling
/// I/O error kind, or hyper's own timeout / incomplete-message view.
/// Anything else is `network_error`.
fn classify(err: &(dyn StdError + 'static)) -> FailureCode {
    let mut current = Some(err);
    while let Some(err) = current {
        if let Some(connect) = err.downcast_ref::<ConnectError>() {
            return connect.code();
        }
        if err.is::<rustls::Error>() {
            return FailureCode::TlsError;
        }
        if err.is::<InvalidDnsNameError>() {
            return FailureCode::InvalidUrl;
        }
        if let Some(io) = err.downcast_ref::<io::Error>() {
            if let Some(code) = io_code(io.kind()) {
                return code;
            }
            // `io::Error::source` skips the error it wraps, so step into it
            // explicitly: that is where tokio-rustls (under hyper-rustls)
            // puts a `rustls::Error`.
            current = io.get_ref().map(|inner| inner as &(dyn StdError + 'static));
            continue;
        }
        if let Some(hyper) = err.downcast_ref::<hyper::Error>() {
            if hyper.is_timeout() {
                return FailureCode::Timeout;
            }
            // The peer closed the connection before the response was
            // complete: to the sender, indistinguishable from a reset.
            if hyper.is_incomplete_message() {
                return FailureCode::ConnectionReset;
            }
        }
        current = err.source();
    }
    FailureCode::NetworkError
}

fn io_code(kind: io::ErrorKind) -> Option<FailureCode> {
    use io::ErrorKind as K;
    match kind {
        K::ConnectionRefused => Some(FailureCode::ConnectionRefused),
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
            Some(FailureCode::ConnectionReset)
        }
        K::TimedOut => Some(FailureCode::Timeout),
        _ => None,
    }
}

/// `outer: inner: innermost`, for the delivery log.
fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut text = err.to_string();
    let mut current = err.source();
    while let Some(err) = current {
        let next = err.to_string();
        // Some wrappers repeat their source's message; say it once.
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        current = err.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ssrf::Blocked;
    use std::future::Future;
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::net::TcpStream;
    use tower_service::Service;

    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::PrivateKeyDer;
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;
    use tokio::sync::mpsc;

    /// A request as the test server saw it.
    #[derive(Debug)]
    struct Seen {
        method: String,
        target: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        /// The ALPN protocol negotiated, on TLS connections.
        alpn: Option<Vec<u8>>,
    }

    impl Seen {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        }
    }

    /// A raw TCP server on 127.0.0.1: port 0, so tests never collide, and raw
    /// bytes, so a test can misbehave in ways a real HTTP server would not
    /// (never answer, drip, reset).
    struct TestServer {
        addr: SocketAddr,
        accepted: Arc<AtomicUsize>,
        seen: mpsc::UnboundedReceiver<Seen>,
    }

    impl TestServer {
        async fn start<F, Fut>(handler: F) -> Self
        where
            F: Fn(TcpStream, mpsc::UnboundedSender<Seen>) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = ()> + Send + 'static,
        {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let accepted = Arc::new(AtomicUsize::new(0));
            let (tx, seen) = mpsc::unbounded_channel();
            let counter = accepted.clone();
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    counter.fetch_add(1, Ordering::SeqCst);
                    tokio::spawn(handler(stream, tx.clone()));
                }
            });
            Self {
                addr,
                accepted,
                seen,
            }
        }

        /// Answers every request on every connection with `response`.
        async fn fixed(response: &'static [u8]) -> Self {
            Self::start(move |mut stream, tx| async move {
                while let Some(seen) = read_request(&mut stream).await {
                    let _ = tx.send(seen);
                    if stream.write_all(response).await.is_err() {
                        return;
                    }
                }
            })
            .await
        }

        fn url(&self, path: &str) -> String {
            format!("http://{}{path}", self.addr)
        }
    }

    /// Reads one HTTP/1.1 request with a `content-length` body; `None` at EOF.
    async fn read_request<S: AsyncRead + Unpin>(stream: &mut S) -> Option<Seen> {
        let mut buf = Vec::new();
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8(buf[..head_end].to_vec()).ok()?;
        let mut lines = head.split("\r\n");
        let mut request_line = lines.next()?.split(' ');
        let method = request_line.next()?.to_owned();
        let target = request_line.next()?.to_owned();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .map_or(0, |(_, v)| v.parse().unwrap());
        let mut body = buf[head_end + 4..].to_vec();
        while body.len() < length {
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            body.extend_from_slice(&chunk[..n]);
        }
        Some(Seen {
            method,
            target,
            headers,
            body,
            alpn: None,
        })
    }

    fn loopback() -> Arc<NetworkPolicy> {
        Arc::new(NetworkPolicy::parse("127.0.0.0/8").unwrap())
    }

    fn sender_with(policy: Arc<NetworkPolicy>, timeout: Duration) -> HttpSender {
        HttpSender::new(HttpClientConfig {
            timeout,
            connect_timeout: timeout,
            policy,
            ..HttpClientConfig::default()
        })
        .unwrap()
    }

    fn sender() -> HttpSender {
        sender_with(loopback(), Duration::from_secs(5))
    }

    fn failure(outcome: &HttpOutcome) -> FailureCode {
        match &outcome.result {
            Ok(response) => panic!("expected a failure, got {response:?}"),
            Err(failure) => failure.code,
        }
    }

    fn response(outcome: HttpOutcome) -> HttpResponse {
        match outcome.result {
            Ok(response) => response,
            Err(failure) => panic!("expected a response, got {failure:?}"),
        }
    }

    fn hdrs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[tokio::test]
    async fn posts_body_and_headers_and_reads_the_response() {
        let mut server =
            TestServer::fixed(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-reply: yes\r\n\r\nhello")
                .await;
        let headers = hdrs(&[
            ("content-type", "application/json"),
            ("x-outpost-event-id", "evt_1"),
            ("content-length", "999"), // reserved: must not break framing
            ("host", "evil.example"),  // reserved: the URL decides
        ]);
        let outcome = sender()
            .post(
                &server.url("/hook?q=1"),
                &headers,
                Bytes::from_static(b"{\"a\":1}"),
            )
            .await;
        let response = response(outcome);
        assert_eq!(response.status, 200);
        assert!(response.is_success());
        assert_eq!(response.body, "hello");
        assert!(!response.body_truncated);
        assert_eq!(response.header("X-Reply"), Some("yes"));
        assert_eq!(response.retry_after, None);

        let seen = server.seen.recv().await.unwrap();
        assert_eq!(seen.method, "POST");
        assert_eq!(seen.target, "/hook?q=1");
        assert_eq!(seen.body, b"{\"a\":1}");
        assert_eq!(seen.header("content-type"), Some("application/json"));
        assert_eq!(seen.header("x-outpost-event-id"), Some("evt_1"));
        assert_eq!(seen.header("content-length"), Some("7"));
        assert_eq!(seen.header("host"), Some(server.addr.to_string().as_str()));
        let ua = seen.header("user-agent").unwrap();
        assert!(ua.starts_with("outbound/"), "{ua}");
    }

    #[tokio::test]
    async fn caller_user_agent_wins() {
        let mut server = TestServer::fixed(b"HTTP/1.1 204 No Content\r\n\r\n").await;
        let outcome = sender()
            .post(
                &server.url("/"),
                &hdrs(&[("user-agent", "custom/1")]),
                Bytes::new(),
            )
            .await;
        assert_eq!(response(outcome).status, 204);
        let seen = server.seen.recv().await.unwrap();
        assert_eq!(seen.header("user-agent"), Some("custom/1"));
    }

    #[tokio::test]
    async fn error_status_is_a_response_with_retry_after() {
        let server = TestServer::fixed(
            b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 120\r\ncontent-length: 4\r\n\r\nbusy",
        )
        .await;
        let response = response(sender().post(&server.url("/"), &[], Bytes::new()).await);
        assert_eq!(response.status, 503);
        assert!(!response.is_success());
        assert_eq!(response.body, "busy");
        assert_eq!(response.retry_after, Some(Duration::from_secs(120)));
    }

    #[tokio::test]
    async fn server_error_status() {
        let server =
            TestServer::fixed(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n")
                .await;
        let response = response(sender().post(&server.url("/"), &[], Bytes::new()).await);
        assert_eq!(response.status, 500);
    }

    #[tokio::test]
    async fn redirects_are_not_followed() {
        let mut server = TestServer::fixed(
            b"HTTP/1.1 302 Found\r\nlocation: http://169.254.169.254/\r\ncontent-length: 0\r\n\r\n",
        )
        .await;
        let response = response(sender().post(&server.url("/"), &[], Bytes::new()).await);
        assert_eq!(response.status, 302);
        assert!(!response.is_success());
        assert_eq!(response.header("location"), Some("http://169.254.169.254/"));
        server.seen.recv().await.unwrap();
        assert!(server.seen.try_recv().is_err(), "only one request was made");
    }

    #[tokio::test]
    async fn keep_alive_connections_are_reused() {
        let server = TestServer::fixed(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await;
        let sender = sender();
        for _ in 0..5 {
            let response = response(sender.post(&server.url("/"), &[], Bytes::new()).await);
            assert_eq!(response.status, 200);
            // The connection goes back to the pool from a background task
            // once the response is complete; let it run.
            for _ in 0..10 {
                tokio::task::yield_now().await;
            }
        }
        assert!(
            server.accepted.load(Ordering::SeqCst) < 5,
            "connections were not reused"
        );
    }

    #[tokio::test]
    async fn connection_refused() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        for url in [
            format!("http://{addr}/"),
            format!("https://{addr}/"),
            format!("https://localhost:{}/", addr.port()),
        ] {
            let outcome = sender().post(&url, &[], Bytes::new()).await;
            assert_eq!(failure(&outcome), FailureCode::ConnectionRefused, "{url}");
        }
    }

    #[tokio::test]
    async fn connection_reset() {
        let server = TestServer::start(|mut stream, _| async move {
            let _ = read_request(&mut stream).await;
            // Linger 0 turns the close into a RST.
            let _ = stream.set_zero_linger();
            drop(stream);
        })
        .await;
        let outcome = sender().post(&server.url("/"), &[], Bytes::new()).await;
        assert_eq!(failure(&outcome), FailureCode::ConnectionReset);
    }

    #[tokio::test]
    async fn closed_without_response_is_a_reset() {
        let server = TestServer::start(|mut stream, _| async move {
            let _ = read_request(&mut stream).await;
            let _ = stream.shutdown().await;
        })
        .await;
        let outcome = sender().post(&server.url("/"), &[], Bytes::new()).await;
        assert_eq!(failure(&outcome), FailureCode::ConnectionReset);
    }

    #[tokio::test]
    async fn a_server_that_never_answers_times_out() {
        let server = TestServer::start(|mut stream, _| async move {
            let _ = read_request(&mut stream).await;
            // Hold the connection open without answering.
            let mut rest = Vec::new();
            let _ = stream.read_to_end(&mut rest).await;
        })
        .await;
        let sender = sender_with(loopback(), Duration::from_millis(300));
        let outcome = sender.post(&server.url("/"), &[], Bytes::new()).await;
        assert_eq!(failure(&outcome), FailureCode::Timeout);
        assert!(outcome.duration >= Duration::from_millis(300));
        assert!(
            outcome.duration < Duration::from_secs(3),
            "{:?}",
            outcome.duration
        );
    }

    #[tokio::test]
    async fn a_huge_body_is_capped_and_not_drained() {
        const SIZE: usize = 10 * 1024 * 1024;
        let server = TestServer::start(|mut stream, _| async move {
            let _ = read_request(&mut stream).await;
            let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {SIZE}\r\n\r\n");
            if stream.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let chunk = vec![b'x'; 64 * 1024];
            for _ in 0..SIZE / chunk.len() {
                // Fails once the client has stopped reading and closed.
                if stream.write_all(&chunk).await.is_err() {
                    return;
                }
            }
        })
        .await;
        let outcome = sender().post(&server.url("/"), &[], Bytes::new()).await;
        assert!(
            outcome.duration < Duration::from_secs(3),
            "{:?}",
            outcome.duration
        );
        let response = response(outcome);
        assert_eq!(response.status, 200);
        assert_eq!(response.body.len(), 128 * 1024);
        assert!(response.body_truncated);
    }

    #[tokio::test]
    async fn a_body_of_exactly_the_cap_is_not_truncated() {
        let server = TestServer::start(|mut stream, _| async move {
            let _ = read_request(&mut stream).await;
            let body = vec![b'y'; 128 * 1024];
            let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len());
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(&body).await;
        })
        .await;
        let response = response(sender().post(&server.url("/"), &[], Bytes::new()).await);
        assert_eq!(response.body.len(), 128 * 1024);
        assert!(!response.body_truncated);
    }

    #[tokio::test]
    async fn a_slow_drip_body_is_bounded_by_the_total_timeout() {
        let server = TestServer::start(|mut stream, _| async move {
            let _ = read_request(&mut stream).await;
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n")
                .await;
            for _ in 0..1000 {
                if stream.write_all(b"x").await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        let sender = sender_with(loopback(), Duration::from_millis(500));
        let outcome = sender.post(&server.url("/"), &[], Bytes::new()).await;
        assert_eq!(failure(&outcome), FailureCode::Timeout);
        assert!(
            outcome.duration < Duration::from_secs(3),
            "{:?}",
            outcome.duration
        );
    }

    #[tokio::test]
    async fn denied_literals_are_refused_before_connecting() {
        // Nothing listens at these addresses (and this sandbox has no
        // network): a connect attempt would surface as a timeout or a network
        // error, never as `blocked_address`, and the guard answers at once.
        let sender = sender_with(loopback(), Duration::from_secs(5));
        for url in [
            "http://10.0.0.1/",
            "http://169.254.169.254/latest/meta-data/",
            "https://169.254.169.254/",
            "http://[::ffff:10.0.0.1]/",
            "http://[fd00:ec2::254]/",
            "http://[::1]:8080/",
            "http://0.0.0.0:80/",
            "http://192.168.1.1:8443/",
        ] {
            let outcome = sender.post(url, &[], Bytes::new()).await;
            assert_eq!(failure(&outcome), FailureCode::Blocked, "{url}");
            assert!(outcome.duration < Duration::from_secs(1), "{url}");
        }
    }

    #[tokio::test]
    async fn the_guard_vets_before_any_connection_exists() {
        let resolver = VettingResolver {
            policy: Arc::new(NetworkPolicy::default()),
        };
        // The resolver only looks up and filters; it is what `HttpConnector`
        // runs before it connects. Numeric forms that are not Rust IP
        // literals (`2130706433` and `0x7f.1` are 127.0.0.1 to getaddrinfo)
        // come here too, since `HttpConnector` treats them as names.
        for host in [
            "10.0.0.1",
            "169.254.169.254",
            "::ffff:127.0.0.1",
            "localhost",
            "2130706433",
            "0x7f.1",
        ] {
            let err = resolver.resolve(host).await.unwrap_err();
            assert_eq!(err.code(), FailureCode::Blocked, "{host}");
        }
        let ok = resolver.resolve("8.8.8.8").await.unwrap();
        assert_eq!(ok, vec!["8.8.8.8:0".parse().unwrap()]);
    }

    #[tokio::test]
    async fn loopback_is_refused_without_the_allowlist() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let sender = sender_with(Arc::new(NetworkPolicy::default()), Duration::from_secs(5));
        for url in [
            format!("http://{addr}/"),
            format!("http://localhost:{}/", addr.port()),
            // Through the resolver inside the TLS connector.
            format!("https://localhost:{}/", addr.port()),
            // Not IP literals to Rust: the resolver reads them.
            format!("http://2130706433:{}/", addr.port()),
            format!("http://0x7f.1:{}/", addr.port()),
        ] {
            let outcome = sender.post(&url, &[], Bytes::new()).await;
            assert_eq!(failure(&outcome), FailureCode::Blocked, "{url}");
        }
        // A connection would be waiting in the backlog by now.
        let accepted = tokio::time::timeout(Duration::from_millis(100), listener.accept()).await;
        assert!(accepted.is_err(), "the guard let a connection through");
    }

    #[tokio::test]
    async fn localhost_resolves_and_is_allowed_with_the_allowlist() {
        let server = TestServer::fixed(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await;
        let url = format!("http://localhost:{}/", server.addr.port());
        let response = response(sender().post(&url, &[], Bytes::new()).await);
        assert_eq!(response.status, 200);
    }

    #[tokio::test]
    async fn numeric_host_forms_resolve_and_are_allowed_with_the_allowlist() {
        // The refusal of these forms without the allowlist is the guard's,
        // not a lookup failure: with loopback allowed they reach the server.
        let server = TestServer::fixed(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await;
        for host in ["2130706433", "0x7f.1", "127.1"] {
            let url = format!("http://{host}:{}/", server.addr.port());
            let response = response(sender().post(&url, &[], Bytes::new()).await);
            assert_eq!(response.status, 200, "{url}");
        }
    }

    #[tokio::test]
    async fn invalid_urls_and_headers() {
        let sender = sender();
        for url in [
            "",
            "not a url",
            "ftp://example.com/",
            "/relative",
            "http:///path",
            "mailto:a@b.c",
        ] {
            let outcome = sender.post(url, &[], Bytes::new()).await;
            assert_eq!(failure(&outcome), FailureCode::InvalidUrl, "{url:?}");
        }
        for headers in [
            hdrs(&[("bad header", "v")]),
            hdrs(&[("x-ok", "line\nbreak")]),
        ] {
            let outcome = sender
                .post("http://127.0.0.1:9/", &headers, Bytes::new())
                .await;
            assert_eq!(
                failure(&outcome),
                FailureCode::InvalidRequest,
                "{headers:?}"
            );
        }
    }

    // A private CA and a leaf for `localhost` / 127.0.0.1, valid 2020–2120,
    // generated with openssl for these tests only.
    const TEST_CA: &str = "-----BEGIN CERTIFICATE-----
MIIBaTCCAQ+gAwIBAgIBATAKBggqhkjOPQQDAjAbMRkwFwYDVQQDDBBvdXRib3Vu
ZCB0ZXN0IENBMCAXDTIwMDEwMTAwMDAwMFoYDzIxMjAwMTAxMDAwMDAwWjAbMRkw
FwYDVQQDDBBvdXRib3VuZCB0ZXN0IENBMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcD
QgAEZ3nW4tR96GXGVLG7CpRxCffEB35mWstnw5W9rRuibBZ3xcdYIcNBR1V5Dzvu
iOnjWH0+ZtPMFghnfmBAyz4zDKNCMEAwDwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8B
Af8EBAMCAQYwHQYDVR0OBBYEFLe4uVd5oXJ7ZYYaBM5el6PBhxi8MAoGCCqGSM49
BAMCA0gAMEUCIQDAhTzxvZplXMq4sEqc9o5SgFzoyrnPhnszyGDpHPHrjgIgAko+
Axa9XCMqiTB8E0nEYUrF7z4YWmYyLGZK7ckFc6s=
-----END CERTIFICATE-----";
    const TEST_LEAF: &str = "-----BEGIN CERTIFICATE-----
MIIBsjCCAVmgAwIBAgIBAjAKBggqhkjOPQQDAjAbMRkwFwYDVQQDDBBvdXRib3Vu
ZCB0ZXN0IENBMCAXDTIwMDEwMTAwMDAwMFoYDzIxMjAwMTAxMDAwMDAwWjAUMRIw
EAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAATkuU7o
0AYy+r7fMZ+PAUhvLAeksugB4O3E2z5BGA7zrc12CneF4VvBXJWDIM4jQa1JDLRx
cm1rYcj0l1aT/ibyo4GSMIGPMAwGA1UdEwEB/wQCMAAwDgYDVR0PAQH/BAQDAgeA
MBMGA1UdJQQMMAoGCCsGAQUFBwMBMBoGA1UdEQQTMBGCCWxvY2FsaG9zdIcEfwAA
ATAfBgNVHSMEGDAWgBS3uLlXeaFye2WGGgTOXpejwYcYvDAdBgNVHQ4EFgQUXB4J
FC+mJIfqW1c8UD2du9/LvvYwCgYIKoZIzj0EAwIDRwAwRAIgQQDYUQbcOhjLAFMn
pzT86onTRxUNXABw2vwzBwQ+k5sCIBnhn0hq79dTcA7eJHP8nYHytkUKs8VLnoCd
YUtstAA3
-----END CERTIFICATE-----";
    const TEST_LEAF_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgO7elgvIOCBh4a/n8
kYslkAum3nCNiihFHK/G7WLx2byhRANCAATkuU7o0AYy+r7fMZ+PAUhvLAeksugB
4O3E2z5BGA7zrc12CneF4VvBXJWDIM4jQa1JDLRxcm1rYcj0l1aT/iby
-----END PRIVATE KEY-----";

    async fn tls_server() -> TestServer {
        let leaf = CertificateDer::from_pem_slice(TEST_LEAF.as_bytes()).unwrap();
        let key = PrivateKeyDer::from_pem_slice(TEST_LEAF_KEY.as_bytes()).unwrap();
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf], key)
        .unwrap();
        // h2 first: a client that offered it would get it.
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        TestServer::start(move |stream, tx| {
            let acceptor = acceptor.clone();
            async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
                while let Some(mut seen) = read_request(&mut tls).await {
                    seen.alpn = alpn.clone();
                    let _ = tx.send(seen);
                    let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nsecure";
                    if tls.write_all(reply).await.is_err() || tls.flush().await.is_err() {
                        return;
                    }
                }
            }
        })
        .await
    }

    #[tokio::test]
    async fn https_with_a_trusted_root() {
        let mut server = tls_server().await;
        let sender = HttpSender::new(HttpClientConfig {
            policy: loopback(),
            extra_root_certs: vec![CertificateDer::from_pem_slice(TEST_CA.as_bytes()).unwrap()],
            ..HttpClientConfig::default()
        })
        .unwrap();
        for host in ["localhost", "127.0.0.1"] {
            let url = format!("https://{host}:{}/tls", server.addr.port());
            let response = response(sender.post(&url, &[], Bytes::from_static(b"hi")).await);
            assert_eq!(response.status, 200, "{url}");
            assert_eq!(response.body, "secure");
            let seen = server.seen.recv().await.unwrap();
            assert_eq!(seen.target, "/tls");
            assert_eq!(seen.body, b"hi");
            assert_eq!(seen.alpn.as_deref(), Some(&b"http/1.1"[..]), "{url}");
        }
    }

    #[tokio::test]
    async fn https_with_an_untrusted_certificate_is_a_tls_error() {
        let server = tls_server().await;
        let url = format!("https://localhost:{}/", server.addr.port());
        let outcome = sender().post(&url, &[], Bytes::new()).await;
        assert_eq!(failure(&outcome), FailureCode::TlsError);
        let detail = &outcome.result.unwrap_err().detail;
        assert!(detail.contains("certificate"), "{detail}");
    }

    #[tokio::test]
    async fn https_to_a_plain_http_server_is_a_tls_error() {
        // Answers in plain HTTP at once, as a server that does not speak TLS
        // on the port does when it sees a ClientHello it cannot parse.
        let server = TestServer::start(|mut stream, _| async move {
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
            let mut rest = Vec::new();
            let _ = stream.read_to_end(&mut rest).await;
        })
        .await;
        let url = format!("https://localhost:{}/", server.addr.port());
        let outcome = sender().post(&url, &[], Bytes::new()).await;
        assert_eq!(failure(&outcome), FailureCode::TlsError);
    }

    #[tokio::test]
    async fn a_server_that_hangs_up_during_the_handshake_is_a_tls_error() {
        let server = TestServer::start(|stream, _| async move { drop(stream) }).await;
        let url = format!("https://localhost:{}/", server.addr.port());
        let outcome = sender().post(&url, &[], Bytes::new()).await;
        assert_eq!(failure(&outcome), FailureCode::TlsError);
    }

    #[tokio::test]
    async fn a_stalled_handshake_is_bounded_by_the_connect_timeout() {
        // Accepts TCP, then never answers the ClientHello.
        let server = TestServer::start(|mut stream, _| async move {
            let mut rest = Vec::new();
            let _ = stream.read_to_end(&mut rest).await;
        })
        .await;
        let sender = HttpSender::new(HttpClientConfig {
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_millis(300),
            policy: loopback(),
            ..HttpClientConfig::default()
        })
        .unwrap();
        let url = format!("https://localhost:{}/", server.addr.port());
        let outcome = sender.post(&url, &[], Bytes::new()).await;
        assert_eq!(failure(&outcome), FailureCode::Timeout);
        assert!(
            outcome.duration < Duration::from_secs(3),
            "{:?}",
            outcome.duration
        );
    }

    #[test]
    fn retry_after_forms() {
        let now = DateTime::parse_from_rfc3339("2015-10-21T07:28:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let cases = [
            ("120", Some(Duration::from_secs(120))),
            (" 0 ", Some(Duration::ZERO)),
            (
                "Wed, 21 Oct 2015 07:30:00 GMT",
                Some(Duration::from_secs(120)),
            ),
            ("Wed, 21 Oct 2015 07:00:00 GMT", Some(Duration::ZERO)), // past
            ("-5", None),
            ("soon", None),
            ("", None),
        ];
        for (value, expected) in cases {
            assert_eq!(parse_retry_after(value, now), expected, "{value:?}");
        }
    }

    #[test]
    fn classification_walks_the_source_chain() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] Box<dyn StdError + Send + Sync>);

        let io = |kind| io::Error::new(kind, "boom");
        let cases: Vec<(Box<dyn StdError + Send + Sync>, FailureCode)> = vec![
            (
                Box::new(io(io::ErrorKind::ConnectionRefused)),
                FailureCode::ConnectionRefused,
            ),
            (
                Box::new(Outer(Box::new(io(io::ErrorKind::ConnectionReset)))),
                FailureCode::ConnectionReset,
            ),
            (
                Box::new(Outer(Box::new(io(io::ErrorKind::TimedOut)))),
                FailureCode::Timeout,
            ),
            (
                Box::new(io(io::ErrorKind::Other)),
                FailureCode::NetworkError,
            ),
            (
                Box::new(io::Error::new(
                    io::ErrorKind::InvalidData,
                    rustls::Error::InvalidCertificate(rustls::CertificateError::Expired),
                )),
                FailureCode::TlsError,
            ),
            (
                Box::new(Outer(Box::new(ConnectError::Dns {
                    host: "nowhere.invalid".into(),
                    source: io(io::ErrorKind::Other),
                }))),
                FailureCode::DnsError,
            ),
            (
                Box::new(Outer(Box::new(ConnectError::NoAddresses {
                    host: "empty.example".into(),
                }))),
                FailureCode::DnsError,
            ),
            (
                Box::new(Outer(Box::new(ConnectError::Blocked(Blocked(
                    "10.0.0.1".parse().unwrap(),
                ))))),
                FailureCode::Blocked,
            ),
            (
                Box::new(ConnectError::Timeout(Duration::from_secs(5))),
                FailureCode::Timeout,
            ),
            (
                // A handshake cut short reads as EOF; it is still TLS.
                Box::new(ConnectError::Tls(Box::new(io::Error::other(io(
                    io::ErrorKind::UnexpectedEof,
                ))))),
                FailureCode::TlsError,
            ),
            (
                // How hyper-rustls wraps a handshake error.
                Box::new(io::Error::other(io::Error::new(
                    io::ErrorKind::InvalidData,
                    rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
                ))),
                FailureCode::TlsError,
            ),
            (
                Box::new(Outer(Box::new(
                    rustls::pki_types::ServerName::try_from("a..b").unwrap_err(),
                ))),
                FailureCode::InvalidUrl,
            ),
        ];
        for (err, expected) in cases {
            let err: &(dyn StdError + 'static) = &*err;
            assert_eq!(classify(err), expected, "{}", error_chain(err));
        }
    }

    #[tokio::test]
    async fn classification_sees_through_hyper_util_wrappers() {
        // Real errors, as hyper-util wraps them: our resolver's error inside
        // `HttpConnector`'s, inside the client's.
        let mut tcp = HttpConnector::new_with_resolver(VettingResolver {
            policy: Arc::new(NetworkPolicy::default()),
        });
        let uri: Uri = "http://localhost:1/".parse().unwrap();
        let err = tcp.call(uri).await.unwrap_err();
        assert_eq!(
            classify(&err),
            FailureCode::Blocked,
            "{}",
            error_chain(&err)
        );

        let request = Request::post("http://localhost:1/")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let sender = sender_with(Arc::new(NetworkPolicy::default()), Duration::from_secs(5));
        let err = sender.client.request(request).await.unwrap_err();
        assert!(err.is_connect(), "{err:?}");
        assert_eq!(
            classify(&err),
            FailureCode::Blocked,
            "{}",
            error_chain(&err)
        );

        // A TCP failure stays an I/O error inside `HttpConnector`'s.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let mut tcp = HttpConnector::new();
        let err = tcp
            .call(format!("http://{addr}/").parse().unwrap())
            .await
            .unwrap_err();
        assert_eq!(
            classify(&err),
            FailureCode::ConnectionRefused,
            "{}",
            error_chain(&err)
        );
    }

    #[test]
    fn codes_are_stable() {
        let codes = [
            (FailureCode::Timeout, "timeout"),
            (FailureCode::DnsError, "dns_error"),
            (FailureCode::ConnectionRefused, "connection_refused"),
            (FailureCode::ConnectionReset, "connection_reset"),
            (FailureCode::TlsError, "tls_error"),
            (FailureCode::NetworkError, "network_error"),
            (FailureCode::Blocked, "blocked_address"),
            (FailureCode::InvalidUrl, "invalid_url"),
            (FailureCode::InvalidRequest, "invalid_request"),
        ];
        for (code, text) in codes {
            assert_eq!(code.as_str(), text);
            assert_eq!(code.to_string(), text);
        }
    }
}
