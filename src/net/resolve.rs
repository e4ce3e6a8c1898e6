//! The vetted lookup: the addresses a host may be reached at.
//!
//! The SSRF rules are applied to the *resolved* addresses, not to the host
//! name, because the address is what a socket reaches: a harmless-looking
//! name can point at 10.0.0.1. A host is looked up once; the addresses the
//! policy refuses are dropped, and the caller connects to the survivors by
//! address.

use std::net::{IpAddr, SocketAddr};

use super::ConnectError;
use crate::domain::attempt_code::AttemptCode;
use crate::domain::ssrf::NetworkPolicy;

/// The addresses `host:port` may be reached at: an IP literal (bracketed or
/// not), or what the name resolves to, minus what the policy refuses.
/// Fails with `blocked_address` when everything was refused, `dns_error`
/// when the name does not resolve.
pub async fn vetted(
    policy: &NetworkPolicy,
    host: &str,
    port: u16,
) -> Result<Vec<SocketAddr>, ConnectError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let resolved: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((bare, port))
            .await
            .map_err(|e| {
                ConnectError::new(
                    AttemptCode::DnsError,
                    format!("DNS lookup of {bare} failed: {e}"),
                )
            })?
            .collect(),
    };
    let mut vetted: Vec<SocketAddr> = Vec::new();
    let mut refused = None;
    for addr in resolved {
        match policy.check(addr.ip()) {
            Ok(()) if !vetted.contains(&addr) => vetted.push(addr),
            Ok(()) => {}
            Err(blocked) => {
                tracing::debug!(host = bare, %addr, "address refused by the SSRF guard");
                refused = refused.or(Some(blocked));
            }
        }
    }
    match (vetted.is_empty(), refused) {
        (false, _) => Ok(vetted),
        (true, Some(blocked)) => Err(ConnectError::new(
            AttemptCode::BlockedAddress,
            blocked.to_string(),
        )),
        (true, None) => Err(ConnectError::new(
            AttemptCode::DnsError,
            format!("{bare} resolved to no addresses"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refused_addresses_are_dropped() {
        let strict = NetworkPolicy::default();
        let err = vetted(&strict, "127.0.0.1", 5672).await.unwrap_err();
        assert_eq!(err.code, AttemptCode::BlockedAddress);
        let err = vetted(&strict, "localhost", 5672).await.unwrap_err();
        assert_eq!(err.code, AttemptCode::BlockedAddress);
        let err = vetted(&strict, "[::1]", 5672).await.unwrap_err();
        assert_eq!(err.code, AttemptCode::BlockedAddress);
        let loopback = NetworkPolicy::parse("127.0.0.0/8").unwrap();
        let addrs = vetted(&loopback, "127.0.0.1", 5672).await.unwrap();
        assert_eq!(addrs, ["127.0.0.1:5672".parse::<SocketAddr>().unwrap()]);
    }
}
