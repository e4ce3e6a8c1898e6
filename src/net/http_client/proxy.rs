//! Webhooks through an HTTP proxy (`DESTINATIONS_WEBHOOK_PROXY_URL`),
//! without giving up the SSRF guard.
//!
//! A proxy asked for `CONNECT example.com:443` would resolve the name
//! itself and connect wherever the answer points, private addresses
//! included; the guard would have checked nothing. So outbound resolves the
//! destination's host itself with the vetted lookup (the same one a direct
//! connection uses: refused addresses dropped, allowlist applied), and asks
//! the proxy for a tunnel to a vetted *address*: `CONNECT 93.184.216.34:443`.
//! Inside the tunnel the request is the one a direct connection carries:
//! TLS with the host name as SNI and for the certificate check, then
//! `Host: example.com`. A host with no allowed address is refused before
//! the proxy hears of it.
//!
//! Every destination goes through a tunnel, http ones too (not the
//! absolute-form `POST http://…` forwarding, where the proxy would resolve
//! the name again). A proxy that allows CONNECT to port 443 only (Squid's
//! default `SSL_ports`) refuses http destinations on other ports; the
//! attempt then records the proxy's answer.
//!
//! The proxy itself is the operator's and is not subject to the guard (it
//! usually sits on a private network); its URL is `http://host:port`, with
//! optional `user:password@` sent as Basic `Proxy-Authorization`.

use std::fmt;
use std::net::SocketAddr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hyper::Uri;
use hyper_rustls::MaybeHttpsStream;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::connector::{BoxError, SetupError, VettingResolver};
use crate::domain::attempt_code::AttemptCode;

/// The longest CONNECT answer read (status line and headers).
const MAX_ANSWER_BYTES: usize = 8 * 1024;

/// A parsed proxy URL. `Debug` hides the credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    /// `host:port`, as connected to.
    address: String,
    /// `Basic …`, from the URL's user and password.
    authorization: Option<String>,
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("address", &self.address)
            .field("authorization", &self.authorization.as_ref().map(|_| "…"))
            .finish()
    }
}

impl Proxy {
    /// `http://[user[:password]@]host[:port]` (port 80 by default; a path
    /// of `/` at most). An https:// proxy (TLS to the proxy itself) and
    /// SOCKS are refused: outbound does not speak them to a proxy.
    pub fn parse(raw: &str) -> Result<Proxy, String> {
        let url = url::Url::parse(raw).map_err(|_| {
            "expected http://[user:password@]host:port (the URL does not parse)".to_string()
        })?;
        if url.scheme() != "http" {
            return Err(format!(
                "the proxy's scheme is {}: outbound speaks to an HTTP proxy only \
                 (http://host:port; it still tunnels https destinations)",
                url.scheme()
            ));
        }
        let host = match url.host() {
            Some(url::Host::Ipv6(ip)) => format!("[{ip}]"),
            Some(host) => host.to_string(),
            None => return Err("the proxy URL has no host".into()),
        };
        if !matches!(url.path(), "" | "/") || url.query().is_some() {
            return Err("the proxy URL has a path or query; expected http://host:port".into());
        }
        let port = url.port().unwrap_or(80);
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let authorization = (!url.username().is_empty()).then(|| {
            let user = decode(url.username());
            let password = decode(url.password().unwrap_or(""));
            format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
        });
        Ok(Proxy {
            address: format!("{host}:{port}"),
            authorization,
        })
    }
}

/// What the connector needs to reach a destination through the proxy.
#[derive(Clone)]
pub(super) struct ProxyRoute {
    pub(super) proxy: Proxy,
    pub(super) resolver: VettingResolver,
    pub(super) tls: tokio_rustls::TlsConnector,
}

type Stream = MaybeHttpsStream<TokioIo<TcpStream>>;

impl ProxyRoute {
    /// A connection to `uri`'s host through a tunnel to one of its vetted
    /// addresses, TLS on top for https. Addresses are tried in turn, each
    /// with a new proxy connection, as a direct connection tries them.
    pub(super) async fn connect(&self, uri: Uri) -> Result<Stream, BoxError> {
        let host = uri.host().unwrap_or_default();
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let https = uri.scheme_str() == Some("https");
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        // An IP literal was vetted by the sender before the request reached
        // the pool; a name is resolved and vetted here.
        let addresses: Vec<SocketAddr> = match bare.parse() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => self
                .resolver
                .resolve(bare)
                .await?
                .into_iter()
                .map(|a| SocketAddr::new(a.ip(), port))
                .collect(),
        };
        let mut last: Option<BoxError> = None;
        for address in addresses {
            match self.tunnel(address).await {
                Ok(tcp) => return self.finish(tcp, bare, https).await,
                Err(err) => last = Some(err),
            }
        }
        Err(last.unwrap_or_else(|| {
            ProxyError::new(AttemptCode::DnsError, format!("{bare} has no address")).into()
        }))
    }

    /// A TCP connection to the proxy, turned into a tunnel to `target`.
    async fn tunnel(&self, target: SocketAddr) -> Result<TcpStream, BoxError> {
        let mut tcp = TcpStream::connect(&self.proxy.address).await.map_err(|e| {
            ProxyError::new(
                AttemptCode::NetworkError,
                format!("cannot connect to the proxy {}: {e}", self.proxy.address),
            )
        })?;
        tcp.set_nodelay(true)?;
        let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
        if let Some(auth) = &self.proxy.authorization {
            request.push_str(&format!("Proxy-Authorization: {auth}\r\n"));
        }
        request.push_str("\r\n");
        tcp.write_all(request.as_bytes()).await?;

        // Read the answer byte by byte up to its blank line: nothing of the
        // tunnel's own bytes may be consumed (the server speaks first in
        // no protocol used here, but a proxy may be eager).
        let mut answer = Vec::with_capacity(256);
        while !answer.ends_with(b"\r\n\r\n") {
            if answer.len() >= MAX_ANSWER_BYTES {
                return Err(ProxyError::new(
                    AttemptCode::NetworkError,
                    "the proxy's answer to CONNECT is too long".into(),
                )
                .into());
            }
            let byte = tcp.read_u8().await.map_err(|e| {
                ProxyError::new(
                    AttemptCode::NetworkError,
                    format!("the proxy closed the connection before answering CONNECT: {e}"),
                )
            })?;
            answer.push(byte);
        }
        let status_line = String::from_utf8_lossy(&answer);
        let status_line = status_line.lines().next().unwrap_or_default();
        let status = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok());
        match status {
            Some(200..=299) => Ok(tcp),
            Some(status) => {
                // What the proxy says about the destination: its gateway
                // timeout is the destination's timeout, its bad gateway a
                // destination that did not accept; anything else (403, 407)
                // is the proxy's own refusal.
                let code = match status {
                    504 => AttemptCode::Timeout,
                    502 | 503 => AttemptCode::ConnectionRefused,
                    _ => AttemptCode::NetworkError,
                };
                Err(ProxyError::new(
                    code,
                    format!("the proxy answered CONNECT {target} with {status_line:?}"),
                )
                .into())
            }
            None => Err(ProxyError::new(
                AttemptCode::InvalidResponse,
                format!("the proxy's answer to CONNECT is not HTTP: {status_line:?}"),
            )
            .into()),
        }
    }

    /// The tunnel as hyper's stream: TLS for `host` on top for https.
    async fn finish(&self, tcp: TcpStream, host: &str, https: bool) -> Result<Stream, BoxError> {
        let io = TokioIo::new(tcp);
        if !https {
            return Ok(MaybeHttpsStream::Http(io));
        }
        let name = ServerName::try_from(host.to_owned())?;
        let tls = self
            .tls
            .connect(name, TokioIo::new(io))
            .await
            .map_err(|e| SetupError::Tls(e.into()))?;
        Ok(MaybeHttpsStream::from(tls))
    }
}

/// A failure at the proxy, with the attempt code it means.
#[derive(Debug, thiserror::Error)]
#[error("{detail}")]
pub(super) struct ProxyError {
    pub(super) code: AttemptCode,
    detail: String,
}

impl ProxyError {
    fn new(code: AttemptCode, detail: String) -> ProxyError {
        ProxyError { code, detail }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_urls() {
        let p = Proxy::parse("http://proxy.local:3128").unwrap();
        assert_eq!(p.address, "proxy.local:3128");
        assert_eq!(p.authorization, None);
        let p = Proxy::parse("http://us%40er:p%3Ass@10.0.0.1/").unwrap();
        assert_eq!(p.address, "10.0.0.1:80");
        assert_eq!(
            p.authorization.as_deref(),
            Some(format!("Basic {}", STANDARD.encode("us@er:p:ss")).as_str())
        );
        assert!(!format!("{p:?}").contains("Basic"));
        let p = Proxy::parse("http://[::1]:8080").unwrap();
        assert_eq!(p.address, "[::1]:8080");
        for (raw, message) in [
            ("https://proxy:443", "HTTP proxy only"),
            ("socks5://proxy:1080", "HTTP proxy only"),
            ("proxy:3128", "scheme is proxy"),
            ("http://proxy:3128/path", "path"),
            ("not a url", "does not parse"),
        ] {
            let err = Proxy::parse(raw).unwrap_err();
            assert!(err.contains(message), "{raw}: {err}");
        }
    }
}
