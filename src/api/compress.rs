//! gzip for the API's larger JSON answers: a list of events, the
//! destination types with their instructions, the topic catalog. A client
//! that says it accepts gzip (browsers, Outpost's SDKs, curl
//! `--compressed`) gets them compressed; small answers (a publish's ids,
//! an error) go as they are, so the hot path pays one size check.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::BodyExt;
use hyper::body::Body as _;

/// Below about one packet, compressing saves no round trip.
const MIN_BYTES: u64 = 1400;

/// Compresses a JSON answer of at least [`MIN_BYTES`] when the request
/// accepts gzip.
pub async fn gzip_json(request: Request, next: Next) -> Response {
    let accepts = accepts_gzip(request.headers());
    let response = next.run(request).await;
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    // Only answers whose whole size is known: a stream stays a stream.
    let size = response.body().size_hint().exact();
    if !accepts
        || !json
        || response.headers().contains_key(header::CONTENT_ENCODING)
        || size.is_none_or(|n| n < MIN_BYTES)
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(collected) = body.collect().await else {
        // A JSON answer is in memory already; should it fail to read,
        // the client sees a broken answer either way.
        return Response::from_parts(parts, Body::empty());
    };
    let plain = collected.to_bytes();
    let mut gz = flate2::write::GzEncoder::new(
        Vec::with_capacity(plain.len() / 4),
        flate2::Compression::new(5),
    );
    let compressed = std::io::Write::write_all(&mut gz, &plain).and_then(|()| gz.finish());
    let Ok(compressed) = compressed else {
        return Response::from_parts(parts, Body::from(plain));
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    parts
        .headers
        .append(header::VARY, HeaderValue::from_static("accept-encoding"));
    Response::from_parts(parts, Body::from(compressed))
}

/// Whether a request's `Accept-Encoding` accepts gzip (RFC 9110 §12.5.3):
/// codings separated by commas, each with an optional `;q=` weight; `gzip`
/// (or its old alias `x-gzip`) decides by its own weight, else `*` does,
/// and a weight of 0 refuses. No header, or one that names neither, means
/// the plain bytes. A weight that does not parse refuses too: the plain
/// bytes are always a safe answer.
pub fn accepts_gzip(request: &HeaderMap) -> bool {
    let mut gzip = None;
    let mut any = None;
    let values = request.get_all(header::ACCEPT_ENCODING).iter();
    for value in values.filter_map(|v| v.to_str().ok()) {
        for item in value.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let mut accepted = true;
            for param in parts {
                if let Some((name, q)) = param.split_once('=') {
                    if name.trim().eq_ignore_ascii_case("q") {
                        accepted = q.trim().parse::<f32>().is_ok_and(|q| q > 0.0);
                    }
                }
            }
            if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
                gzip = Some(accepted);
            } else if coding == "*" {
                any = Some(accepted);
            }
        }
    }
    gzip.or(any).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepts(values: &[&str]) -> bool {
        let mut request = HeaderMap::new();
        for v in values {
            request.append(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
        }
        accepts_gzip(&request)
    }

    #[test]
    fn accept_encoding_is_read_by_coding_and_weight() {
        assert!(accepts(&["gzip"]));
        assert!(accepts(&["gzip, deflate, br, zstd"]), "a browser's");
        assert!(accepts(&["GZip"]), "case-insensitive");
        assert!(accepts(&["x-gzip"]));
        assert!(!accepts(&["gzip;q=0"]));
        assert!(!accepts(&["gzip; q=0.000"]));
        assert!(accepts(&["gzip;q=0.001"]));
        assert!(accepts(&["*"]));
        assert!(!accepts(&["*;q=0"]));
        assert!(!accepts(&["gzip;q=0, *"]), "gzip named decides over *");
        assert!(accepts(&["identity;q=0, *;q=0.1"]));
        assert!(accepts(&["br, gzip;q=0.5"]));
        assert!(accepts(&["br", "gzip;q=0.5"]), "two header lines");
        assert!(!accepts(&[]), "absent");
        assert!(!accepts(&[""]));
        assert!(!accepts(&["identity"]));
        assert!(!accepts(&["br, deflate"]));
        assert!(!accepts(&["gzip;q=x"]), "a weight that does not parse");
        assert!(!accepts(&["gzipped"]));
    }
}
