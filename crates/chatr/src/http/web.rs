//! The web client at `/`: files embedded at build time (see `build.rs`), and
//! `index.html` for every other page path, so that client-side routes reload.

use axum::{
    Router,
    http::{HeaderValue, StatusCode, Uri, header},
    response::{IntoResponse, Response},
    routing::get,
};

use crate::state::AppState;

mod assets {
    include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(page))
        .route("/{*path}", get(page))
}

fn asset(path: &str) -> Option<&'static [u8]> {
    assets::ASSETS
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, bytes)| *bytes)
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" => "application/json",
        "webmanifest" => "application/manifest+json",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

async fn page(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    // API, uploads and Socket.IO never fall back to the page.
    if ["api/", "uploads/", "socket.io/"]
        .iter()
        .any(|p| path.starts_with(p))
        || path == "api"
    {
        return crate::error::Error::not_found("not found").into_response();
    }
    let (name, bytes) = match asset(path) {
        Some(bytes) if !path.is_empty() => (path, bytes),
        _ => match asset("index.html") {
            Some(bytes) => ("index.html", bytes),
            None => {
                let hint = "<!doctype html><title>Chatr</title><p>The web client is not built. Run <code>make build</code> (or <code>make run</code>).</p>";
                return (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                    hint,
                )
                    .into_response();
            }
        },
    };
    let mut response = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, content_type(name))],
        bytes,
    )
        .into_response();
    // Vite names assets by content hash: they can be cached forever; the page cannot.
    let cache = if name.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if name == "index.html" {
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_POLICY),
        );
    }
    response
}

/// What the page may load and do: its own scripts, styles and fonts; images
/// and media from this server or made in the page (previews, recordings);
/// connections to this server only; never framed, no plugins.
const PAGE_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self'; font-src 'self'; \
     worker-src 'self'; manifest-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";
