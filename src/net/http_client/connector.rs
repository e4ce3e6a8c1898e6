//! Where the client's connections come from: hyper-util's `HttpConnector`
//! with a resolver that drops the addresses the SSRF rules refuse, under
//! hyper-rustls' `HttpsConnector`, and one deadline over the whole setup.
//! See the parent module for why addresses are vetted after resolution.

use std::error::Error as StdError;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::Uri;
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, InvalidDnsNameError};
use tokio::net::TcpStream;
use tower_service::Service;

use super::proxy::ProxyRoute;
use crate::domain::attempt_code::AttemptCode;
use crate::domain::ssrf::NetworkPolicy;
use crate::net::{resolve, ConnectError};

/// The TLS settings: the webpki (Mozilla) roots plus the configured extra
/// ones, and HTTP/1.1 as the only ALPN protocol: the connection is driven as
/// HTTP/1.1, and offering h2 would let a server pick a protocol this client
/// does not speak on it.
pub(super) fn tls_config(
    extra_roots: Vec<CertificateDer<'static>>,
) -> Result<rustls::ClientConfig, rustls::Error> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for cert in extra_roots {
        roots.add(cert)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tls)
}

pub(super) type BoxError = Box<dyn StdError + Send + Sync>;

/// Why a connection could not be made, where the cause is ours to name. TCP
/// failures stay hyper-util's (an I/O error inside says which).
#[derive(Debug, thiserror::Error)]
pub(super) enum SetupError {
    /// The vetted lookup found no address to connect to.
    #[error(transparent)]
    Vetting(#[from] ConnectError),
    #[error("no connection within {0:?}")]
    Timeout(Duration),
    #[error("TLS handshake failed")]
    Tls(#[source] BoxError),
}

impl SetupError {
    pub(super) fn code(&self) -> AttemptCode {
        match self {
            Self::Vetting(e) => e.code,
            Self::Timeout(_) => AttemptCode::Timeout,
            Self::Tls(_) => AttemptCode::TlsError,
        }
    }
}

/// `HttpConnector`'s resolver: the vetted lookup ([`resolve::vetted`]), so
/// `HttpConnector` never sees an address the policy refuses.
#[derive(Clone)]
pub(super) struct VettingResolver {
    pub(super) policy: Arc<NetworkPolicy>,
}

impl VettingResolver {
    /// The allowed addresses `host` resolves to, with port 0 (which
    /// `HttpConnector` replaces with the URL's).
    pub(super) async fn resolve(&self, host: &str) -> Result<Vec<SocketAddr>, SetupError> {
        Ok(resolve::vetted(&self.policy, host, 0).await?)
    }
}

impl Service<Name> for VettingResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = SetupError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { this.resolve(name.as_str()).await.map(Vec::into_iter) })
    }
}

/// `HttpConnector`'s error type, which hyper-util does not export by name.
pub(super) type TcpError = <HttpConnector<VettingResolver> as Service<Uri>>::Error;

/// The HTTPS connector under one deadline for the whole setup: lookup, TCP
/// and TLS. `HttpConnector`'s own timeout covers only TCP; without this a
/// server that accepts and then stalls the handshake would hold the attempt
/// until the total timeout, and a connection hyper-util finishes in the
/// background (for the pool, after the request went out on another one)
/// would have no bound at all.
///
/// It also names the stage that failed. `HttpsConnector` hands TCP errors
/// through as they are but wraps handshake errors in a bare `io::Error`,
/// whose kind says "unexpected EOF" when a server that does not speak TLS
/// hangs up on the ClientHello; that is a `tls_error`, not a reset, so every
/// handshake failure is tagged as one.
///
/// With a proxy ([`ProxyRoute`]) connections are tunnels through it instead,
/// under the same deadline.
#[derive(Clone)]
pub(super) struct BoundedConnector {
    pub(super) inner: HttpsConnector<HttpConnector<VettingResolver>>,
    pub(super) timeout: Duration,
    pub(super) proxy: Option<Arc<ProxyRoute>>,
}

impl Service<Uri> for BoundedConnector {
    type Response = MaybeHttpsStream<TokioIo<TcpStream>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let limit = self.timeout;
        if let Some(route) = self.proxy.clone() {
            return Box::pin(async move {
                match tokio::time::timeout(limit, route.connect(uri)).await {
                    Ok(result) => result,
                    Err(_) => Err(SetupError::Timeout(limit).into()),
                }
            });
        }
        let connecting = self.inner.call(uri);
        Box::pin(async move {
            match tokio::time::timeout(limit, connecting).await {
                Ok(Ok(stream)) => Ok(stream),
                // The TCP stage, or a host that is no valid TLS server name
                // (refused before connecting).
                Ok(Err(err)) if err.is::<TcpError>() || err.is::<InvalidDnsNameError>() => Err(err),
                Ok(Err(err)) => Err(SetupError::Tls(err).into()),
                Err(_) => Err(SetupError::Timeout(limit).into()),
            }
        })
    }
}
