//! The tenant portal: a web UI served by the same binary at `/`.
//!
//! It is standard ES modules and one stylesheet, with no build step, embedded
//! in the binary (`ui/`), and it calls only the public `/api/v1` with the
//! tenant's token: whatever the portal can do, the API can do, and the
//! tenant's isolation is the API's.
//!
//! What this module does:
//!
//! - serves `index.html`, rendered once at start-up with the run-time
//!   `PORTAL_*` settings (a JSON block the UI reads; `<` escaped so no
//!   value can close the script element);
//! - serves the assets under `/portal/<version>/…`, where the version is a
//!   hash of every asset: a new build changes every URL, so assets can be
//!   cached for a year (`immutable`) and the page itself never
//!   (`no-cache`);
//! - sends each asset gzipped to browsers that accept gzip: build.rs
//!   compresses every `.js` and `.css` under `ui/` at build time and
//!   generates the asset table, so nothing is compressed per request and a
//!   new module needs no edit here (`Vary: Accept-Encoding` on every asset);
//! - sends a strict Content-Security-Policy with every response (scripts,
//!   styles and connections from this origin only; images from here, data
//!   URLs — the destination type icons — and the configured logo and
//!   favicon hosts), `Referrer-Policy: no-referrer` (the first page load
//!   carries the token in its URL) and `X-Frame-Options: DENY`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};

use crate::config::PortalSettings;

/// One asset: its path under `/portal/<version>/`, its content type, its
/// bytes and the same bytes gzipped. The UI's modules import each other by
/// relative path, so they resolve inside the same version.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    raw: &'static [u8],
    gzip: &'static [u8],
}

// `const ASSETS: &[Asset]`: every `.js` and `.css` file under `ui/`, sorted
// by path, generated and gzipped by build.rs.
include!(concat!(env!("OUT_DIR"), "/portal_assets.rs"));

/// The modules the first screen (the destinations list) imports.
const FIRST_SCREEN: &[&str] = &[
    "api.js",
    "lib/dom.js",
    "lib/format.js",
    "lib/widgets.js",
    "screens/destinations.js",
];

const JS: &str = "text/javascript; charset=utf-8";
const INDEX: &str = include_str!("ui/index.html");

/// The portal as served: the rendered page and its headers.
struct Portal {
    version: String,
    index: String,
    csp: HeaderValue,
}

/// The version of a set of assets: a hash of all their names and bytes.
fn version() -> String {
    let mut h = Sha256::new();
    for asset in ASSETS {
        h.update(asset.path.as_bytes());
        h.update([0]);
        h.update(asset.raw);
    }
    hex::encode(&h.finalize()[..6])
}

/// The origin (`scheme://host[:port]`) of an absolute URL, for the CSP.
fn origin(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    match parsed.origin() {
        url::Origin::Tuple(..) => Some(parsed.origin().ascii_serialization()),
        url::Origin::Opaque(_) => None,
    }
}

/// JSON that is safe inside a `<script>` element: `<` escaped, so no value
/// can end the element or open a comment.
fn script_json(value: &serde_json::Value) -> String {
    value.to_string().replace('<', "\\u003c")
}

/// Text safe inside an HTML attribute or element.
fn html_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

impl Portal {
    fn new(settings: &PortalSettings) -> Portal {
        let version = version();
        let title = settings
            .organization_name
            .as_deref()
            .map(|o| format!("{o} · Webhooks"))
            .unwrap_or_else(|| "Webhooks".to_string());
        let favicon = settings
            .favicon_url
            .clone()
            .unwrap_or_else(|| format!("/portal/{version}/favicon.svg"));
        // The first screen's modules announced up front: the browser
        // fetches them in parallel instead of discovering imports one level
        // at a time. Other screens load when opened (compiling every module
        // up front cost the first screen ~100 ms on a 2-core machine).
        let preload: String = ASSETS
            .iter()
            .filter(|a| a.content_type == JS && FIRST_SCREEN.contains(&a.path))
            .map(|a| {
                let name = a.path;
                format!("<link rel=\"modulepreload\" href=\"/portal/{version}/{name}\">\n")
            })
            .collect();
        let index = INDEX
            .replace("{{preload}}", preload.trim_end())
            .replace("{{title}}", &html_text(&title))
            .replace("{{favicon}}", &html_text(&favicon))
            .replace("{{version}}", &version)
            .replace("{{settings}}", &script_json(&serde_json::json!(settings)));
        let mut images = vec!["'self'".to_string(), "data:".to_string()];
        for url in [&settings.logo, &settings.logo_dark, &settings.favicon_url]
            .into_iter()
            .flatten()
        {
            if let Some(o) = origin(url) {
                if !images.contains(&o) {
                    images.push(o);
                }
            }
        }
        let csp = format!(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src {}; \
             connect-src 'self'; font-src 'none'; object-src 'none'; base-uri 'none'; \
             form-action 'none'; frame-ancestors 'none'",
            images.join(" ")
        );
        Portal {
            version,
            index,
            csp: HeaderValue::from_str(&csp)
                .unwrap_or(HeaderValue::from_static("default-src 'none'")),
        }
    }

    fn headers(
        &self,
        content_type: &'static str,
        cache: &'static str,
    ) -> [(header::HeaderName, HeaderValue); 6] {
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
            (header::CONTENT_SECURITY_POLICY, self.csp.clone()),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        ]
    }
}

/// The portal's routes: `/` and `/portal/<version>/<asset>`.
pub fn router(settings: &PortalSettings) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/portal/{version}/{*file}", get(asset))
        .with_state(Arc::new(Portal::new(settings)))
}

async fn index(State(portal): State<Arc<Portal>>) -> Response {
    (
        portal.headers("text/html; charset=utf-8", "no-cache"),
        portal.index.clone(),
    )
        .into_response()
}

async fn asset(
    State(portal): State<Arc<Portal>>,
    Path((version, file)): Path<(String, String)>,
    request: HeaderMap,
) -> Response {
    if file == "favicon.svg" {
        return (
            portal.headers("image/svg+xml", "public, max-age=86400"),
            FAVICON,
        )
            .into_response();
    }
    let Some(asset) = ASSETS.iter().find(|a| a.path == file) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    // An asset of another version (a page from before a deploy) is still
    // served, but not cached as that version's.
    let cache = if version == portal.version {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    // gzip only where it saves bytes: a tiny file can come out larger.
    let gzip = crate::api::compress::accepts_gzip(&request) && asset.gzip.len() < asset.raw.len();
    let body = if gzip { asset.gzip } else { asset.raw };
    let mut response = (portal.headers(asset.content_type, cache), body).into_response();
    let headers = response.headers_mut();
    // Caches keep the gzipped and the plain answer apart.
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if gzip {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

const FAVICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="4" fill="#4f46e5"/><path d="M4 8h6M8 5l3 3-3 3" stroke="white" stroke-width="1.6" fill="none" stroke-linecap="round" stroke-linejoin="round"/></svg>"##;

/// Every asset's path, for tests and the size budget.
pub fn asset_paths() -> Vec<&'static str> {
    ASSETS.iter().map(|a| a.path).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_screens_modules_are_preloaded_and_no_others() {
        let p = Portal::new(&PortalSettings::default());
        for name in FIRST_SCREEN {
            assert!(
                ASSETS.iter().any(|a| a.path == *name),
                "{name} is not an asset"
            );
            assert!(p.index.contains(&format!("/{name}\">")), "{name} preloaded");
        }
        assert!(!p.index.contains("screens/events.js"));
    }

    #[test]
    fn settings_cannot_break_out_of_the_page() {
        let settings = PortalSettings {
            organization_name: Some("</script><script>alert(1)</script>".into()),
            logo: Some("https://cdn.example.com/logo.svg".into()),
            ..PortalSettings::default()
        };
        let p = Portal::new(&settings);
        assert!(!p.index.contains("</script><script>alert(1)"));
        assert!(p.index.contains("\\u003c/script>"));
        assert!(p.index.contains("&lt;/script&gt;"), "title escaped");
        let csp = p.csp.to_str().unwrap();
        assert!(
            csp.contains("img-src 'self' data: https://cdn.example.com;"),
            "{csp}"
        );
        assert!(csp.contains("script-src 'self';"), "{csp}");
    }

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(bytes), &mut out).unwrap();
        out
    }

    #[test]
    fn every_assets_gzip_is_its_bytes() {
        for asset in ASSETS {
            assert_eq!(gunzip(asset.gzip), asset.raw, "{}", asset.path);
        }
    }

    /// The `.js` and `.css` files under `dir`, by path below `ui/`.
    fn files(dir: &std::path::Path, prefix: &str, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = format!("{prefix}{}", entry.file_name().to_str().unwrap());
            if entry.file_type().unwrap().is_dir() {
                files(&entry.path(), &format!("{name}/"), found);
            } else if name.ends_with(".js") || name.ends_with(".css") {
                found.push(name);
            }
        }
    }

    #[test]
    fn the_table_lists_every_file_under_ui() {
        let ui = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/portal/ui");
        let mut found = Vec::new();
        files(&ui, "", &mut found);
        found.sort();
        assert_eq!(asset_paths(), found);
        assert!(found.contains(&"lib/dom.js".to_string()), "{found:?}");
        for asset in ASSETS {
            let css = asset.path.ends_with(".css");
            assert_eq!(asset.content_type == JS, !css, "{}", asset.path);
            assert_eq!(
                asset.content_type == "text/css; charset=utf-8",
                css,
                "{}",
                asset.path
            );
        }
    }

    #[test]
    fn the_version_names_the_assets() {
        assert_eq!(version(), version());
        assert_eq!(version().len(), 12);
    }
}
