//! The HTTP client against real servers on loopback.
use super::connector::SetupError;
use super::*;
use std::future::Future;
use std::io;
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

fn failure(outcome: &HttpOutcome) -> AttemptCode {
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
        TestServer::fixed(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n").await;
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
        assert_eq!(failure(&outcome), AttemptCode::ConnectionRefused, "{url}");
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
    assert_eq!(failure(&outcome), AttemptCode::ConnectionReset);
}

#[tokio::test]
async fn closed_without_response_is_a_reset() {
    let server = TestServer::start(|mut stream, _| async move {
        let _ = read_request(&mut stream).await;
        let _ = stream.shutdown().await;
    })
    .await;
    let outcome = sender().post(&server.url("/"), &[], Bytes::new()).await;
    assert_eq!(failure(&outcome), AttemptCode::ConnectionReset);
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
    assert_eq!(failure(&outcome), AttemptCode::Timeout);
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
    assert_eq!(failure(&outcome), AttemptCode::Timeout);
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
        assert_eq!(failure(&outcome), AttemptCode::BlockedAddress, "{url}");
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
        assert_eq!(err.code(), AttemptCode::BlockedAddress, "{host}");
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
        assert_eq!(failure(&outcome), AttemptCode::BlockedAddress, "{url}");
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
        assert_eq!(failure(&outcome), AttemptCode::InvalidUrl, "{url:?}");
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
            AttemptCode::InvalidRequest,
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
    assert_eq!(failure(&outcome), AttemptCode::TlsError);
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
    assert_eq!(failure(&outcome), AttemptCode::TlsError);
}

#[tokio::test]
async fn a_server_that_hangs_up_during_the_handshake_is_a_tls_error() {
    let server = TestServer::start(|stream, _| async move { drop(stream) }).await;
    let url = format!("https://localhost:{}/", server.addr.port());
    let outcome = sender().post(&url, &[], Bytes::new()).await;
    assert_eq!(failure(&outcome), AttemptCode::TlsError);
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
    assert_eq!(failure(&outcome), AttemptCode::Timeout);
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
    let cases: Vec<(Box<dyn StdError + Send + Sync>, AttemptCode)> = vec![
        (
            Box::new(io(io::ErrorKind::ConnectionRefused)),
            AttemptCode::ConnectionRefused,
        ),
        (
            Box::new(Outer(Box::new(io(io::ErrorKind::ConnectionReset)))),
            AttemptCode::ConnectionReset,
        ),
        (
            Box::new(Outer(Box::new(io(io::ErrorKind::TimedOut)))),
            AttemptCode::Timeout,
        ),
        (
            Box::new(io(io::ErrorKind::Other)),
            AttemptCode::NetworkError,
        ),
        (
            Box::new(io::Error::new(
                io::ErrorKind::InvalidData,
                rustls::Error::InvalidCertificate(rustls::CertificateError::Expired),
            )),
            AttemptCode::TlsError,
        ),
        (
            Box::new(Outer(Box::new(SetupError::Vetting(
                crate::net::ConnectError::new(
                    AttemptCode::DnsError,
                    "DNS lookup of nowhere.invalid failed",
                ),
            )))),
            AttemptCode::DnsError,
        ),
        (
            Box::new(Outer(Box::new(SetupError::Vetting(
                crate::net::ConnectError::new(AttemptCode::BlockedAddress, "10.0.0.1"),
            )))),
            AttemptCode::BlockedAddress,
        ),
        (
            Box::new(SetupError::Timeout(Duration::from_secs(5))),
            AttemptCode::Timeout,
        ),
        (
            // A handshake cut short reads as EOF; it is still TLS.
            Box::new(SetupError::Tls(Box::new(io::Error::other(io(
                io::ErrorKind::UnexpectedEof,
            ))))),
            AttemptCode::TlsError,
        ),
        (
            // How hyper-rustls wraps a handshake error.
            Box::new(io::Error::other(io::Error::new(
                io::ErrorKind::InvalidData,
                rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
            ))),
            AttemptCode::TlsError,
        ),
        (
            Box::new(Outer(Box::new(
                rustls::pki_types::ServerName::try_from("a..b").unwrap_err(),
            ))),
            AttemptCode::InvalidUrl,
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
        AttemptCode::BlockedAddress,
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
        AttemptCode::BlockedAddress,
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
        AttemptCode::ConnectionRefused,
        "{}",
        error_chain(&err)
    );
}

#[test]
fn codes_are_stable() {
    let codes = [
        (AttemptCode::Timeout, "timeout"),
        (AttemptCode::DnsError, "dns_error"),
        (AttemptCode::ConnectionRefused, "connection_refused"),
        (AttemptCode::ConnectionReset, "connection_reset"),
        (AttemptCode::TlsError, "tls_error"),
        (AttemptCode::NetworkError, "network_error"),
        (AttemptCode::BlockedAddress, "blocked_address"),
        (AttemptCode::InvalidUrl, "invalid_url"),
        (AttemptCode::InvalidRequest, "invalid_request"),
    ];
    for (code, text) in codes {
        assert_eq!(code.to_string(), text);
    }
}

/// A CONNECT proxy on loopback that answers `answer` and, for a 200,
/// tunnels to the address asked for; sends each request head on `heads`.
async fn connect_proxy(answer: &'static str) -> (SocketAddr, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                while !head.ends_with(b"\r\n\r\n") {
                    let Ok(b) = client.read_u8().await else {
                        return;
                    };
                    head.push(b);
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let target = head
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_owned();
                let _ = tx.send(head);
                let _ = client.write_all(answer.as_bytes()).await;
                if !answer.starts_with("HTTP/1.1 200") {
                    return;
                }
                if let Ok(mut upstream) = TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                }
            });
        }
    });
    (addr, rx)
}

fn proxied(proxy: SocketAddr) -> HttpSender {
    HttpSender::new(HttpClientConfig {
        policy: loopback(),
        extra_root_certs: vec![CertificateDer::from_pem_slice(TEST_CA.as_bytes()).unwrap()],
        ..HttpClientConfig::default()
    })
    .unwrap()
    .through_proxy(Proxy::parse(&format!("http://{proxy}")).unwrap())
}

#[tokio::test]
async fn https_through_a_proxy_tunnel_to_the_vetted_address() {
    let mut server = tls_server().await;
    let (proxy, mut heads) = connect_proxy("HTTP/1.1 200 Connection established\r\n\r\n").await;
    let sender = proxied(proxy);
    let port = server.addr.port();
    let url = format!("https://localhost:{port}/tls");
    let response = response(sender.post(&url, &[], Bytes::from_static(b"hi")).await);
    assert_eq!(response.status, 200);
    assert_eq!(response.body, "secure");
    let seen = server.seen.recv().await.unwrap();
    assert_eq!(
        seen.header("host"),
        Some(format!("localhost:{port}").as_str())
    );
    // The certificate was checked for `localhost` (the test CA's name),
    // and the proxy asked for the address outbound resolved.
    let head = heads.recv().await.unwrap();
    assert!(
        head.starts_with(&format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\n")),
        "{head}"
    );
}

#[tokio::test]
async fn a_proxy_refusal_is_recorded_with_its_answer() {
    let (proxy, _heads) = connect_proxy("HTTP/1.1 403 Forbidden\r\n\r\n").await;
    let outcome = proxied(proxy)
        .post("http://localhost:9/", &[], Bytes::new())
        .await;
    assert_eq!(failure(&outcome), AttemptCode::NetworkError);
    let detail = outcome.result.unwrap_err().detail;
    assert!(detail.contains("403 Forbidden"), "{detail}");

    let (proxy, _heads) = connect_proxy("HTTP/1.1 504 Gateway Timeout\r\n\r\n").await;
    let outcome = proxied(proxy)
        .post("http://localhost:9/", &[], Bytes::new())
        .await;
    assert_eq!(failure(&outcome), AttemptCode::Timeout);

    // No proxy listening: the proxy's failure, not the destination's.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let outcome = proxied(addr)
        .post("http://localhost:9/", &[], Bytes::new())
        .await;
    assert_eq!(failure(&outcome), AttemptCode::NetworkError);
    let detail = outcome.result.unwrap_err().detail;
    assert!(detail.contains("cannot connect to the proxy"), "{detail}");
}

#[tokio::test]
async fn a_refused_address_never_reaches_the_proxy() {
    let (proxy, mut heads) = connect_proxy("HTTP/1.1 200 Connection established\r\n\r\n").await;
    let sender = HttpSender::new(HttpClientConfig::default())
        .unwrap()
        .through_proxy(Proxy::parse(&format!("http://{proxy}")).unwrap());
    for url in ["http://localhost:9/", "http://10.0.0.1/", "https://[::1]/"] {
        let outcome = sender.post(url, &[], Bytes::new()).await;
        assert_eq!(failure(&outcome), AttemptCode::BlockedAddress, "{url}");
    }
    assert!(heads.try_recv().is_err(), "the proxy heard nothing");
}
