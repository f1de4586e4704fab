//! The REST API: one router per resource, JSON in and out, every failure a
//! JSON error body (contract §3).

mod admin;
mod auth;
mod export;
mod files;
mod health;
mod messages;
pub mod metrics;
pub mod openapi;
mod push;
mod uploads;
mod users;
mod web;

use std::collections::HashMap;

use axum::{
    Router,
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Query, Request},
    http::request::Parts,
    routing::get,
};
use serde_json::Value;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::error::{Error, Result};
use crate::state::AppState;

/// Every route of the API, with the OpenAPI document they make.
pub fn api(max_upload: u64) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(health::router())
        .merge(metrics::router())
        .merge(uploads::router(max_upload))
        .merge(files::router())
        .merge(auth::router())
        .merge(admin::router())
        .merge(users::router())
        .merge(messages::router())
        .merge(push::router())
        .split_for_parts()
}

/// The largest request body any route accepts: an upload of `max_upload`
/// bytes with its multipart framing.
pub fn largest_body(max_upload: u64) -> u64 {
    uploads::body_limit(max_upload)
}

pub fn router(max_upload: u64) -> Router<AppState> {
    let (api, mut doc) = api(max_upload);
    doc.merge(documents());
    utoipa::Modify::modify(&openapi::Common, &mut doc);
    let asyncapi = crate::protocol::asyncapi::document(env!("CARGO_PKG_VERSION"));
    // The UI's assets are in the binary; no validator badge (it would call out).
    let docs =
        SwaggerUi::new("/api/docs").config(Config::from("/api/openapi.json").validator_url("none"));
    api.merge(docs)
        .route("/api/openapi.json", document(&doc))
        .route("/api/asyncapi.json", document(&asyncapi))
        .merge(web::router())
        .method_not_allowed_fallback(async || {
            (
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                axum::Json(serde_json::json!({ "error": "method not allowed" })),
            )
        })
}

/// A document served as it was serialised at start: anyone may ask for it,
/// so no request pays for serialising it again.
fn document(value: &impl serde::Serialize) -> axum::routing::MethodRouter<AppState> {
    let body = axum::body::Bytes::from(serde_json::to_vec(value).unwrap_or_default());
    get(async move || {
        (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body.clone(),
        )
    })
}

/// The routes that serve the documents themselves and the UI over them
/// (routed by hand and by Swagger UI's router; described here so that the
/// document lists every route).
fn documents() -> utoipa::openapi::OpenApi {
    #[utoipa::path(get, path = "/api/openapi.json", tag = "operations",
        responses((status = 200, description = "this OpenAPI 3.1 document", content_type = "application/json")))]
    #[allow(dead_code)]
    async fn openapi_json() {}
    #[utoipa::path(get, path = "/api/docs/", tag = "operations",
        responses((status = 200, description = "Swagger UI for this document, served from the binary", content_type = "text/html")))]
    #[allow(dead_code)]
    async fn docs_ui() {}
    #[utoipa::path(get, path = "/api/asyncapi.json", tag = "operations",
        responses((status = 200, description = "the AsyncAPI 3 document of the Socket.IO events", content_type = "application/json")))]
    #[allow(dead_code)]
    async fn asyncapi_json() {}
    #[derive(OpenApi)]
    #[openapi(paths(openapi_json, docs_ui, asyncapi_json))]
    struct Documents;
    Documents::openapi()
}

/// A JSON value from the request body; anything that is not JSON is a 400.
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|_| Error::TooLarge("request body too large".into()))?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|_| Error::invalid("request body must be JSON"))
    }
}

/// Query-string parameters; a malformed query string is a 400.
pub struct Params(HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self> {
        Query::<HashMap<String, String>>::try_from_uri(&parts.uri)
            .map(|Query(map)| Params(map))
            .map_err(|_| Error::invalid("malformed query string"))
    }
}

impl Params {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// An integer parameter clamped to `min..=max`, `default` when absent.
    pub fn int(&self, name: &'static str, default: i64, min: i64, max: i64) -> Result<i64> {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw
                .parse::<i64>()
                .map(|n| n.clamp(min, max))
                .map_err(|_| Error::invalid_field(name, format!("{name} must be an integer"))),
        }
    }
}

/// The client's address: the connection's peer (see `serve`).
pub struct ClientIp(pub std::net::IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self> {
        // Set by `serve`: the TCP peer, or the client a trusted proxy names.
        parts
            .extensions
            .get::<chatr_sio::ClientAddr>()
            .map(|addr| ClientIp(addr.0))
            .ok_or_else(|| Error::internal("no client address on the request"))
    }
}

/// JSON 404 for any path nothing else serves.
pub async fn not_found() -> Error {
    Error::not_found("not found")
}

#[cfg(test)]
mod tests {
    /// A route added with axum's own `.route` escapes the OpenAPI document
    /// (`routes!` registers a handler and its description together), so only
    /// these may use it: the web client's pages, `/api/openapi.json` and
    /// `/api/asyncapi.json` (described in `documents`), and `/metrics` on the
    /// separate metrics listener (documented on the main one).
    #[test]
    fn only_undocumentable_routes_bypass_the_openapi_router() {
        let sources = [
            ("admin.rs", include_str!("admin.rs")),
            ("auth.rs", include_str!("auth.rs")),
            ("export.rs", include_str!("export.rs")),
            ("files.rs", include_str!("files.rs")),
            ("health.rs", include_str!("health.rs")),
            ("messages.rs", include_str!("messages.rs")),
            ("metrics.rs", include_str!("metrics.rs")),
            ("mod.rs", include_str!("mod.rs")),
            ("push.rs", include_str!("push.rs")),
            ("uploads.rs", include_str!("uploads.rs")),
            ("users.rs", include_str!("users.rs")),
            ("web.rs", include_str!("web.rs")),
        ];
        let mut plain = Vec::new();
        for (file, source) in sources {
            // The code, not its tests (this one names what it looks for).
            let mut rest = source.split("#[cfg(test)]").next().unwrap_or_default();
            while let Some(at) = rest.find(".route(") {
                rest = &rest[at + ".route(".len()..];
                let path: String = rest
                    .trim_start()
                    .trim_start_matches('"')
                    .chars()
                    .take_while(|c| *c != '"')
                    .collect();
                plain.push(format!("{file} {path}"));
            }
        }
        plain.sort();
        assert_eq!(
            plain,
            [
                "metrics.rs /metrics",
                "mod.rs /api/asyncapi.json",
                "mod.rs /api/openapi.json",
                "web.rs /",
                "web.rs /{*path}",
            ]
        );
        let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/src/http"))
            .map(|d| d.count())
            .unwrap_or_default();
        assert_eq!(
            files,
            sources.len() + 1,
            "a new module of src/http is listed here (openapi.rs is not: it routes nothing)"
        );
    }

    /// Every route in the document belongs to a handler the router serves:
    /// the paths of `api` plus the three documents.
    #[test]
    fn the_document_lists_the_documents_too() {
        let (_, doc) = super::api(1024);
        let mut all = doc;
        all.merge(super::documents());
        for path in [
            "/api/openapi.json",
            "/api/docs/",
            "/api/asyncapi.json",
            "/api/messages/upload",
        ] {
            assert!(all.paths.paths.contains_key(path), "{path}");
        }
    }
}
