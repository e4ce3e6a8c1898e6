//! A loopback SOCKS5 relay that connects through [`tcp::connect`], for
//! client crates that open their own TCP connections and take no custom
//! connector — only a SOCKS5 proxy address (the Kafka client does this).
//!
//! Such a client resolves and dials host names itself, to the bootstrap
//! brokers and then to whatever addresses the cluster advertises, which
//! would bypass the SSRF guard. Pointed at a relay, every connection it
//! makes becomes a SOCKS5 CONNECT naming the host; the relay resolves it
//! once, drops refused addresses and connects by address (`tcp.rs`), then
//! copies bytes both ways. TLS runs end to end inside the tunnel, so the
//! client still checks the certificate against the host name.
//!
//! Each relay belongs to one client: the relay remembers the last
//! connection failure (`blocked_address`, `dns_error`,
//! `connection_refused`, …) so that the sender can report it with its
//! proper code, which the client would have flattened into "the proxy
//! refused". A relay listens on 127.0.0.1 only, accepts only CONNECT, and
//! reaches nothing the SSRF policy refuses; dropping it stops the listener
//! and every connection it relays.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use super::{tcp, ConnectError};
use crate::domain::attempt_code::AttemptCode;
use crate::domain::ssrf::NetworkPolicy;

/// How long a client may take over the SOCKS5 greeting and request; it is
/// in this process, so anything slower is a bug, not a slow network.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// A running relay; stops when dropped.
pub struct VettedRelay {
    addr: SocketAddr,
    last_failure: Arc<Mutex<Option<ConnectError>>>,
    task: JoinHandle<()>,
}

impl Drop for VettedRelay {
    fn drop(&mut self) {
        // The accept task owns the JoinSet of relayed connections: aborting
        // it drops the set, which aborts them all.
        self.task.abort();
    }
}

impl VettedRelay {
    /// Starts a relay on an ephemeral loopback port. `connect_timeout`
    /// bounds each outgoing connection (lookup and TCP).
    pub async fn start(
        policy: Arc<NetworkPolicy>,
        connect_timeout: Duration,
    ) -> std::io::Result<VettedRelay> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let last_failure = Arc::new(Mutex::new(None));
        let failures = last_failure.clone();
        let task = tokio::spawn(async move {
            let mut relayed = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let (policy, failures) = (policy.clone(), failures.clone());
                        relayed.spawn(relay(stream, policy, connect_timeout, failures));
                    }
                    // Reap finished connections so the set does not grow.
                    Some(_) = relayed.join_next(), if !relayed.is_empty() => {}
                }
            }
        });
        Ok(VettedRelay {
            addr,
            last_failure,
            task,
        })
    }

    /// `127.0.0.1:<port>`, for the client's proxy setting.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The last connection the relay could not make, forgotten once read.
    pub fn take_failure(&self) -> Option<ConnectError> {
        self.last_failure.lock().ok().and_then(|mut f| f.take())
    }
}

/// SOCKS5 reply codes (RFC 1928 §6).
const REPLY_OK: u8 = 0x00;
const REPLY_GENERAL_FAILURE: u8 = 0x01;
const REPLY_NOT_ALLOWED: u8 = 0x02;
const REPLY_HOST_UNREACHABLE: u8 = 0x04;
const REPLY_CONNECTION_REFUSED: u8 = 0x05;
const REPLY_TTL_EXPIRED: u8 = 0x06;
const REPLY_COMMAND_NOT_SUPPORTED: u8 = 0x07;
const REPLY_ADDRESS_TYPE_NOT_SUPPORTED: u8 = 0x08;

/// Serves one client connection: handshake, vetted connect, then copies.
async fn relay(
    mut client: TcpStream,
    policy: Arc<NetworkPolicy>,
    connect_timeout: Duration,
    failures: Arc<Mutex<Option<ConnectError>>>,
) {
    let request = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(&mut client)).await {
        Ok(Ok(request)) => request,
        Ok(Err(Some(reply))) => {
            let _ = client.write_all(&reply_bytes(reply)).await;
            return;
        }
        Ok(Err(None)) => return,
        Err(_) => return,
    };
    let (host, port) = request;
    let mut upstream = match tcp::connect(&policy, &host, port, connect_timeout).await {
        Ok(stream) => stream,
        Err(failure) => {
            let reply = match failure.code {
                AttemptCode::BlockedAddress => REPLY_NOT_ALLOWED,
                AttemptCode::DnsError => REPLY_HOST_UNREACHABLE,
                AttemptCode::ConnectionRefused => REPLY_CONNECTION_REFUSED,
                AttemptCode::Timeout => REPLY_TTL_EXPIRED,
                _ => REPLY_GENERAL_FAILURE,
            };
            if let Ok(mut last) = failures.lock() {
                *last = Some(failure);
            }
            let _ = client.write_all(&reply_bytes(reply)).await;
            return;
        }
    };
    if client.write_all(&reply_bytes(REPLY_OK)).await.is_err() {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

/// Reads the greeting (answering "no authentication") and the CONNECT
/// request. On a request this relay does not serve, the reply code to
/// send before closing (None: just close, the client is not speaking
/// SOCKS5 or is gone).
async fn handshake(client: &mut TcpStream) -> Result<(String, u16), Option<u8>> {
    let io = |_| None;
    let mut head = [0u8; 2];
    client.read_exact(&mut head).await.map_err(io)?;
    if head[0] != 5 {
        return Err(None);
    }
    let mut methods = vec![0u8; usize::from(head[1])];
    client.read_exact(&mut methods).await.map_err(io)?;
    if !methods.contains(&0x00) {
        // "No acceptable methods": the relay only offers no-auth.
        let _ = client.write_all(&[5, 0xff]).await;
        return Err(None);
    }
    client.write_all(&[5, 0x00]).await.map_err(io)?;

    let mut req = [0u8; 4];
    client.read_exact(&mut req).await.map_err(io)?;
    let [version, command, _reserved, address_type] = req;
    if version != 5 {
        return Err(None);
    }
    let host = match address_type {
        0x01 => {
            let mut ip = [0u8; 4];
            client.read_exact(&mut ip).await.map_err(io)?;
            IpAddr::V4(Ipv4Addr::from(ip)).to_string()
        }
        0x03 => {
            let len = client.read_u8().await.map_err(io)?;
            let mut name = vec![0u8; usize::from(len)];
            client.read_exact(&mut name).await.map_err(io)?;
            String::from_utf8(name).map_err(|_| Some(REPLY_ADDRESS_TYPE_NOT_SUPPORTED))?
        }
        0x04 => {
            let mut ip = [0u8; 16];
            client.read_exact(&mut ip).await.map_err(io)?;
            IpAddr::V6(Ipv6Addr::from(ip)).to_string()
        }
        _ => return Err(Some(REPLY_ADDRESS_TYPE_NOT_SUPPORTED)),
    };
    let port = client.read_u16().await.map_err(io)?;
    if command != 0x01 {
        return Err(Some(REPLY_COMMAND_NOT_SUPPORTED));
    }
    Ok((host, port))
}

/// A reply with an unspecified bound address, which clients ignore.
fn reply_bytes(code: u8) -> [u8; 10] {
    [5, code, 0, 0x01, 0, 0, 0, 0, 0, 0]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A SOCKS5 CONNECT to `host:port` through `relay`: the reply code.
    async fn connect_via(relay: &VettedRelay, host: &str, port: u16) -> (u8, TcpStream) {
        let mut s = TcpStream::connect(relay.addr()).await.unwrap();
        s.write_all(&[5, 1, 0]).await.unwrap();
        let mut choice = [0u8; 2];
        s.read_exact(&mut choice).await.unwrap();
        assert_eq!(choice, [5, 0]);
        let mut req = vec![5, 1, 0, 3, host.len() as u8];
        req.extend_from_slice(host.as_bytes());
        req.extend_from_slice(&port.to_be_bytes());
        s.write_all(&req).await.unwrap();
        let mut reply = [0u8; 10];
        s.read_exact(&mut reply).await.unwrap();
        (reply[1], s)
    }

    #[tokio::test]
    async fn relays_to_vetted_addresses_only() {
        let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = echo.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut s, _) = echo.accept().await.unwrap();
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).await.unwrap();
            s.write_all(&buf).await.unwrap();
        });
        let loopback = Arc::new(NetworkPolicy::parse("127.0.0.0/8").unwrap());
        let relay = VettedRelay::start(loopback, Duration::from_secs(2))
            .await
            .unwrap();
        let (code, mut s) = connect_via(&relay, "127.0.0.1", port).await;
        assert_eq!(code, REPLY_OK);
        s.write_all(b"hello").await.unwrap();
        let mut back = [0u8; 5];
        s.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"hello");
        assert!(relay.take_failure().is_none());

        let strict = Arc::new(NetworkPolicy::default());
        let relay = VettedRelay::start(strict, Duration::from_secs(2))
            .await
            .unwrap();
        let (code, _) = connect_via(&relay, "localhost", port).await;
        assert_eq!(code, REPLY_NOT_ALLOWED);
        let failure = relay.take_failure().expect("recorded");
        assert_eq!(failure.code, AttemptCode::BlockedAddress);
        assert!(relay.take_failure().is_none(), "read once");
    }

    #[tokio::test]
    async fn refused_connections_are_recorded_and_other_commands_refused() {
        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let loopback = Arc::new(NetworkPolicy::parse("127.0.0.0/8").unwrap());
        let relay = VettedRelay::start(loopback, Duration::from_secs(2))
            .await
            .unwrap();
        let (code, _) = connect_via(&relay, "127.0.0.1", port).await;
        assert_eq!(code, REPLY_CONNECTION_REFUSED);
        assert_eq!(
            relay.take_failure().unwrap().code,
            AttemptCode::ConnectionRefused
        );

        // BIND (2) is not served.
        let mut s = TcpStream::connect(relay.addr()).await.unwrap();
        s.write_all(&[5, 1, 0]).await.unwrap();
        let mut choice = [0u8; 2];
        s.read_exact(&mut choice).await.unwrap();
        s.write_all(&[5, 2, 0, 1, 127, 0, 0, 1, 0, 80])
            .await
            .unwrap();
        let mut reply = [0u8; 10];
        s.read_exact(&mut reply).await.unwrap();
        assert_eq!(reply[1], REPLY_COMMAND_NOT_SUPPORTED);
    }
}
