//! What went wrong with a request, in the attempt log's words: the
//! error's source chain walked to the first cause it can name.

use std::error::Error as StdError;
use std::io;

use rustls::pki_types::InvalidDnsNameError;

use super::connector::SetupError;
use super::proxy::ProxyError;
use crate::domain::attempt_code::AttemptCode;

/// Maps an error to its failure code by walking the source chain from the
/// outside in; the first error that identifies a cause decides: one of our
/// [`SetupError`]s (found beneath hyper-util's `Error` and `HttpConnector`
/// wrappers), a rustls error, a TLS server name that is not valid, a telling
/// I/O error kind, or hyper's own timeout / incomplete-message view.
/// Anything else is `network_error`.
pub(super) fn classify(err: &(dyn StdError + 'static)) -> AttemptCode {
    let mut current = Some(err);
    while let Some(err) = current {
        if let Some(setup) = err.downcast_ref::<SetupError>() {
            return setup.code();
        }
        if let Some(proxy) = err.downcast_ref::<ProxyError>() {
            return proxy.code;
        }
        if err.is::<rustls::Error>() {
            return AttemptCode::TlsError;
        }
        if err.is::<InvalidDnsNameError>() {
            return AttemptCode::InvalidUrl;
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
                return AttemptCode::Timeout;
            }
            // The peer closed the connection before the response was
            // complete: to the sender, indistinguishable from a reset.
            if hyper.is_incomplete_message() {
                return AttemptCode::ConnectionReset;
            }
        }
        current = err.source();
    }
    AttemptCode::NetworkError
}

fn io_code(kind: io::ErrorKind) -> Option<AttemptCode> {
    use io::ErrorKind as K;
    match kind {
        K::ConnectionRefused => Some(AttemptCode::ConnectionRefused),
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
            Some(AttemptCode::ConnectionReset)
        }
        K::TimedOut => Some(AttemptCode::Timeout),
        _ => None,
    }
}

/// `outer: inner: innermost`, for the delivery log.
pub(super) fn error_chain(err: &(dyn StdError + 'static)) -> String {
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
