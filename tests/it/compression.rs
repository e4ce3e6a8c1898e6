//! Compressed answers from a real `outbound serve`: the portal's assets
//! (gzipped at build time) and the API's larger JSON answers, gzipped when
//! the request accepts gzip and plain otherwise.

use std::io::Read;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::HeaderMap;

use crate::helpers::db::TestDb;
use crate::serve::start_serve;

/// GET `path` with `Accept-Encoding: accept_encoding` if given: (status,
/// headers, body as sent).
async fn get(addr: &str, path: &str, accept_encoding: Option<&str>) -> (u16, HeaderMap, Bytes) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let mut req = hyper::Request::builder()
        .uri(format!("http://{addr}{path}"))
        .header("authorization", "Bearer test-api-key");
    if let Some(value) = accept_encoding {
        req = req.header("accept-encoding", value);
    }
    let resp = client
        .request(req.body(Full::new(Bytes::new())).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, headers, body)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers.get(name).map(|v| v.to_str().unwrap()).unwrap_or("")
}

#[tokio::test]
async fn portal_assets_are_sent_gzipped_to_browsers_that_accept_gzip() {
    let db = TestDb::new().await;
    let (_serve, addr) = start_serve(&db, &[]).await;

    let (status, _, page) = get(&addr, "/", Some("gzip")).await;
    assert_eq!(status, 200);
    let page = String::from_utf8(page.to_vec()).unwrap();
    // The stylesheet, the entry module and the first screen's preloads.
    let assets: Vec<&str> = page
        .split('"')
        .filter(|s| s.starts_with("/portal/") && !s.ends_with("favicon.svg"))
        .collect();
    assert!(assets.iter().any(|a| a.ends_with("/app.js")), "{page}");
    assert!(assets.iter().any(|a| a.ends_with("/theme.css")), "{page}");
    assert!(assets.len() > 2, "{assets:?}");

    for path in assets {
        let content_type = if path.ends_with(".css") {
            "text/css; charset=utf-8"
        } else {
            "text/javascript; charset=utf-8"
        };

        let (status, plain_headers, plain) = get(&addr, path, None).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(header(&plain_headers, "content-encoding"), "", "{path}");
        assert_eq!(
            header(&plain_headers, "content-type"),
            content_type,
            "{path}"
        );
        assert!(
            header(&plain_headers, "vary").eq_ignore_ascii_case("accept-encoding"),
            "{path}: {plain_headers:?}"
        );

        let (status, headers, gzipped) = get(&addr, path, Some("br, gzip;q=0.5")).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(header(&headers, "content-encoding"), "gzip", "{path}");
        assert_eq!(header(&headers, "content-type"), content_type, "{path}");
        assert!(
            header(&headers, "vary").eq_ignore_ascii_case("accept-encoding"),
            "{path}: {headers:?}"
        );
        assert!(
            header(&headers, "content-security-policy").contains("script-src 'self'"),
            "{path}: {headers:?}"
        );
        assert!(gzipped.len() < plain.len(), "{path}");
        let mut gunzipped = Vec::new();
        flate2::read::GzDecoder::new(&gzipped[..])
            .read_to_end(&mut gunzipped)
            .unwrap();
        assert_eq!(gunzipped, plain, "{path}");

        // Refused by weight: the plain bytes.
        let (_, headers, body) = get(&addr, path, Some("gzip;q=0")).await;
        assert_eq!(header(&headers, "content-encoding"), "", "{path}");
        assert_eq!(body, plain, "{path}");
    }
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[tokio::test]
async fn larger_json_answers_are_gzipped_for_clients_that_accept_gzip() {
    let db = TestDb::new().await;
    let (_serve, addr) = start_serve(&db, &[]).await;

    // The destination types with their instructions: tens of kB of JSON.
    let path = "/api/v1/destination-types";
    let (status, plain_headers, plain) = get(&addr, path, None).await;
    assert_eq!(status, 200);
    assert_eq!(header(&plain_headers, "content-encoding"), "");
    let types: serde_json::Value = serde_json::from_slice(&plain).unwrap();
    assert!(types.as_array().unwrap().len() >= 9, "{types}");

    let (status, headers, gzipped) = get(&addr, path, Some("gzip, deflate, br")).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-encoding"), "gzip");
    assert!(header(&headers, "content-type").starts_with("application/json"));
    assert!(header(&headers, "vary")
        .to_ascii_lowercase()
        .contains("accept-encoding"));
    assert!(
        gzipped.len() * 3 < plain.len(),
        "{} bytes gzipped of {}",
        gzipped.len(),
        plain.len()
    );
    assert_eq!(gunzip(&gzipped), plain.to_vec());

    // Refused by weight, or not asked for: as it is.
    let (_, headers, body) = get(&addr, path, Some("gzip;q=0")).await;
    assert_eq!(header(&headers, "content-encoding"), "");
    assert_eq!(body, plain);

    // A small answer (an error here) goes as it is even when gzip is accepted.
    let (status, headers, body) = get(&addr, "/api/v1/tenants/nobody", Some("gzip")).await;
    assert_eq!(status, 404);
    assert_eq!(header(&headers, "content-encoding"), "");
    let error: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(error["message"].is_string(), "{error}");
}
