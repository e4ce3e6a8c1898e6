//! Connections the senders that speak their own protocol (AMQP, and Kafka
//! through the SOCKS relay) open themselves, under the same SSRF rules as
//! the HTTP client: the host goes through the vetted lookup ([`resolve`])
//! and the connection goes to a vetted address.
//!
//! A sender that speaks TLS keeps the original host name for SNI and
//! certificate checks; only the TCP connection uses the vetted address.

use std::time::Duration;

use tokio::net::TcpStream;

use super::{resolve, ConnectError};
use crate::domain::attempt_code::AttemptCode;
use crate::domain::ssrf::NetworkPolicy;

/// A TCP connection to `host:port` through the vetted lookup: each vetted
/// address in turn, sharing `timeout` between them.
pub async fn connect(
    policy: &NetworkPolicy,
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<TcpStream, ConnectError> {
    let addrs = resolve::vetted(policy, host, port).await?;
    let deadline = tokio::time::Instant::now() + timeout;
    let share = timeout / u32::try_from(addrs.len()).unwrap_or(u32::MAX).max(1);
    let mut last = ConnectError::new(
        AttemptCode::Timeout,
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
                    std::io::ErrorKind::ConnectionRefused => AttemptCode::ConnectionRefused,
                    std::io::ErrorKind::ConnectionReset => AttemptCode::ConnectionReset,
                    std::io::ErrorKind::TimedOut => AttemptCode::Timeout,
                    _ => AttemptCode::NetworkError,
                };
                last = ConnectError::new(code, format!("connecting to {host}:{port} failed: {e}"));
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
    async fn connects_to_a_vetted_address_and_never_to_a_refused_one() {
        let strict = NetworkPolicy::default();
        let err = connect(&strict, "[::1]", 9092, Duration::from_secs(1))
            .await
            .unwrap_err();
        assert_eq!(err.code, AttemptCode::BlockedAddress);
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
        assert_eq!(err.code, AttemptCode::ConnectionRefused);
    }
}
