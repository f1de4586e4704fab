//! `GET /uploads/…`: stored files with their type and length, range requests
//! (audio seeking), strong caching (stored files never change), `nosniff`, and
//! `file` attachments always as downloads under their original name.

use axum::{
    extract::{Path, Request, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use tower::ServiceExt;
use tower_http::services::ServeFile;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::error::Error;
use crate::media::sniff;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(serve))
}

fn content_type(folder: &str, ext: &str) -> &'static str {
    match folder {
        // Plain files are always downloads, whatever they contain.
        "files" => "application/octet-stream",
        _ => sniff::mime_of(ext).unwrap_or("application/octet-stream"),
    }
}

/// A stored file, as the `fileUrl`, `thumbnailUrl` or `profileImage` of a
/// record names it. No token: the names are unguessable.
#[utoipa::path(get, path = "/uploads/{folder}/{name}", tag = "files",
    params(("folder" = String, Path, description = "images, files, audio or profiles"),
           ("name" = String, Path, description = "the stored name")),
    responses((status = 200, description = "the file (ranges allowed)", content_type = "application/octet-stream", body = Vec<u8>),
              (status = 206, description = "a range of it"),
              (status = 304, description = "not modified (ETag)"),
              (status = 404, body = crate::error::ErrorBody)))]
async fn serve(
    State(state): State<AppState>,
    Path((folder, name)): Path<(String, String)>,
    request: Request,
) -> Response {
    let url = format!("/uploads/{folder}/{name}");
    let Some(file) = state.storage.resolve(&url) else {
        return Error::not_found("file not found").into_response();
    };
    // A validator only stands for a file that exists (`If-None-Match: *`
    // must not answer 304 for one that does not).
    if !tokio::fs::try_exists(&file).await.unwrap_or(false) {
        return Error::not_found("file not found").into_response();
    }
    let (folder, name) = (folder.as_str(), name.as_str());
    let ext = name.rsplit('.').next().unwrap_or_default();
    // Names are random and files immutable, so the name is a strong validator.
    let etag = format!("\"{}\"", name.replace('"', ""));
    let matches_etag = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        });

    let mut response = if matches_etag {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        match ServeFile::new(&file).oneshot(request).await {
            Ok(r) if r.status() == StatusCode::NOT_FOUND => {
                return Error::not_found("file not found").into_response();
            }
            Ok(r) => r.map(axum::body::Body::new),
            Err(never) => match never {},
        }
    };
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, v);
    }
    // Private: a shared cache (a proxy, a CDN) must not keep people's
    // pictures and files; the browser may keep them, they never change.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    if response.status() != StatusCode::NOT_MODIFIED {
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(content_type(folder, ext)),
        );
    }
    if folder == "files" {
        let original = state
            .chat
            .store()
            .attachment_name(&url)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| "file".into());
        if let Ok(v) = HeaderValue::from_str(&content_disposition(&original)) {
            response
                .headers_mut()
                .insert(header::CONTENT_DISPOSITION, v);
        }
    }
    response
}

/// `attachment` with an ASCII fallback name and the exact UTF-8 name (RFC 6266).
fn content_disposition(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "attachment; filename=\"{fallback}\"; filename*=UTF-8''{}",
        utf8_percent_encode(name, NON_ALPHANUMERIC)
    )
}

#[cfg(test)]
mod tests {
    use super::content_disposition;

    #[test]
    fn content_disposition_keeps_the_name_and_quotes_it_safely() {
        let v = content_disposition("résumé \"final\".pdf");
        assert!(
            v.starts_with(
                "attachment; filename=\"r_sum_ _final_.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9"
            ),
            "{v}"
        );
    }
}
