//! Connections the non-HTTP senders open themselves (AMQP, Kafka), under
//! the same SSRF rules as the HTTP client: the host is resolved once, every
//! refused address is dropped, and the connection goes to a vetted address
//! — never to a name a second lookup could answer differently.
//!
//! A sender that speaks TLS keeps the original host name for SNI and
//! certificate checks; only the TCP connection uses the vetted address.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::TcpStream;

use super::senders::Failure;
use crate::domain::ssrf::NetworkPolicy;

/// The addresses `host:port` may be reached at: an IP literal, or what the
/// name resolves to, minus what the policy refuses. Fails with
/// `blocked_address` when everything was refused, `dns_error` when the
/// name does not resolve.
pub async fn resolve(
    policy: &NetworkPolicy,
    host: &str,
    port: u16,
) -> Result<Vec<SocketAddr>, Failure> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let resolved: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((bare, port))
            .await
            .map_err(|e| {
                Failure::retryable("dns_error", format!("DNS lookup of {bare} failed: {e}"))
            })?
            .collect(),
    };
    let mut vetted: Vec<SocketAddr> = Vec::new();
    let mut refused = None;
    for addr in resolved {
        match policy.check(addr.ip()) {
            Ok(()) if !vetted.contains(&addr) => vetted.push(addr),
            Ok(()) => {}
            Err(blocked) => refused = refused.or(Some(blocked)),
        }
    }
    match (vetted.is_empty(), refused) {
        (false, _) => Ok(vetted),
        (true, Some(blocked)) => Err(Failure::retryable("blocked_address", blocked.to_string())),
        (true, None) => Err(Failure::retryable(
            "dns_error",
            format!("{bare} resolved to no addresses"),
        )),
    }
}

/// A TCP connection to `host:port` through [`resolve`]: each vetted address
/// in turn, sharing `timeout` between them.
pub async fn connect(
    policy: &NetworkPolicy,
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<TcpStream, Failure> {
    let addrs = resolve(policy, host, port).await?;
    let deadline = tokio::time::Instant::now() + timeout;
    let share = timeout / u32::try_from(addrs.len()).unwrap_or(u32::MAX).max(1);
    let mut last = Failure::retryable(
        "timeout",
        format!("no connection to {host}:{port} within {timeout:?}"),
    );
    for addr in addrs {
        let until = deadline.min(tokio::time::Instant::now() + share);
        match tokio::time::timeout_at(until, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Ok(Err(e)) => {
                let code = match e.kind() {
                    std::io::ErrorKind::ConnectionRefused => "connection_refused",
                    std::io::ErrorKind::ConnectionReset => "connection_reset",
                    std::io::ErrorKind::TimedOut => "timeout",
                    _ => "network_error",
                };
                last = Failure::retryable(code, format!("connecting to {host}:{port} failed: {e}"));
            }
            Err(_) => {}
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refused_addresses_are_never_connected_to() {
        let strict = NetworkPolicy::default();
        let err = resolve(&strict, "127.0.0.1", 5672).await.unwrap_err();
        assert_eq!(err.code, "blocked_address");
        let err = resolve(&strict, "localhost", 5672).await.unwrap_err();
        assert_eq!(err.code, "blocked_address");
        let err = connect(&strict, "[::1]", 9092, Duration::from_secs(1))
            .await
            .unwrap_err();
        assert_eq!(err.code, "blocked_address");
        let loopback = NetworkPolicy::parse("127.0.0.0/8").unwrap();
        let addrs = resolve(&loopback, "127.0.0.1", 5672).await.unwrap();
        assert_eq!(addrs, ["127.0.0.1:5672".parse::<SocketAddr>().unwrap()]);
    }

    #[tokio::test]
    async fn connects_to_a_vetted_address() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let loopback = NetworkPolicy::parse("127.0.0.0/8").unwrap();
        let stream = connect(&loopback, "127.0.0.1", port, Duration::from_secs(2))
            .await
            .unwrap();
        assert_eq!(stream.peer_addr().unwrap().port(), port);
        drop(listener);
        let err = connect(&loopback, "127.0.0.1", port, Duration::from_secs(2))
            .await
            .unwrap_err();
        assert_eq!(err.code, "connection_refused");
    }
}
