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
//!   connected to. Through a proxy ([`HttpSender::through_proxy`], webhooks
//!   with `DESTINATIONS_WEBHOOK_PROXY_URL`) the same lookup picks the
//!   address, and the proxy is asked for a tunnel to it, never to the name
//!   (`proxy.rs`).
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
//! hyper-util's and hyper-rustls' wrappers, down to our own `SetupError`,
//! a rustls error, an I/O error kind or hyper's own view.

use std::error::Error as StdError;
use std::fmt;
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
use rustls::pki_types::CertificateDer;

mod classify;
mod connector;
mod proxy;

use crate::domain::attempt_code::AttemptCode;
use crate::domain::ssrf::NetworkPolicy;
use classify::{classify, error_chain};
use connector::{tls_config, BoundedConnector, VettingResolver};
pub use proxy::Proxy;
use proxy::ProxyRoute;

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

/// A failed attempt: the code, and the error chain as text for logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpFailure {
    pub code: AttemptCode,
    pub detail: String,
}

impl HttpFailure {
    fn new(code: AttemptCode, detail: impl Into<String>) -> Self {
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
    /// The body was longer than the cap.
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
    /// What [`Self::through_proxy`] builds another client from.
    connector: BoundedConnector,
    tls: Arc<rustls::ClientConfig>,
    pool_idle_timeout: Duration,
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
        let tls = Arc::new(tls_config(cfg.extra_root_certs)?);
        let https = HttpsConnector::from((tcp, tls.clone()));
        let connector = BoundedConnector {
            inner: https,
            timeout: cfg.connect_timeout,
            proxy: None,
        };
        Ok(Self {
            client: client(connector.clone(), cfg.pool_idle_timeout),
            connector,
            tls,
            pool_idle_timeout: cfg.pool_idle_timeout,
            policy: cfg.policy,
            timeout: cfg.timeout,
            max_response_bytes: cfg.max_response_bytes,
            user_agent: HeaderValue::from_str(&cfg.user_agent)?,
        })
    }

    /// The same client (guard, timeouts, TLS roots, body cap) with its own
    /// connection pool, whose connections are tunnels through `proxy` to
    /// the destination's vetted address (see `proxy.rs`).
    pub fn through_proxy(&self, proxy: Proxy) -> HttpSender {
        let resolver = VettingResolver {
            policy: self.policy.clone(),
        };
        let connector = BoundedConnector {
            proxy: Some(Arc::new(ProxyRoute {
                proxy,
                resolver,
                tls: tokio_rustls::TlsConnector::from(self.tls.clone()),
            })),
            ..self.connector.clone()
        };
        HttpSender {
            client: client(connector.clone(), self.pool_idle_timeout),
            connector,
            ..self.clone()
        }
    }

    /// The same client, sharing its pool, keeping `max` response bytes.
    pub fn with_max_response_bytes(&self, max: usize) -> HttpSender {
        HttpSender {
            max_response_bytes: max,
            ..self.clone()
        }
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
                AttemptCode::Timeout,
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
        let uri = parse_url(url).map_err(|e| HttpFailure::new(AttemptCode::InvalidUrl, e))?;
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
            Ok(ip) => self.policy.check(ip).map_err(|blocked| {
                HttpFailure::new(AttemptCode::BlockedAddress, blocked.to_string())
            }),
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
                    AttemptCode::InvalidRequest,
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
        // One byte past the cap is read, so that "longer than the cap" is
        // known, not guessed from how the body ended.
        let limit = cap.saturating_add(1);
        // Sized from Content-Length when there is one: most webhook
        // responses are empty or tiny, and a large buffer per response
        // costs more than the response.
        let hint = usize::try_from(body.size_hint().lower()).unwrap_or(limit);
        let mut kept = Vec::with_capacity(hint.min(limit));
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| HttpFailure::from_error(&e))?;
            let Ok(data) = frame.into_data() else {
                continue; // trailers carry nothing we store
            };
            let room = limit - kept.len();
            kept.extend_from_slice(&data[..data.len().min(room)]);
            if kept.len() == limit {
                break;
            }
        }
        let truncated = kept.len() > cap;
        kept.truncate(cap);
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

/// A pooled client over `connector`.
fn client(connector: BoundedConnector, idle: Duration) -> Client<BoundedConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(idle)
        .build(connector)
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

#[cfg(test)]
mod tests;
