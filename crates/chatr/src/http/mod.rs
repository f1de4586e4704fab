//! The REST API: one router per resource, JSON in and out, every failure a
//! JSON error body (contract §3).

mod admin;
mod auth;
mod export;
mod files;
mod health;
mod messages;
pub mod metrics;
mod uploads;
mod users;
mod web;

use std::collections::HashMap;

use axum::{
    Router,
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Query, Request},
    http::request::Parts,
};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::state::AppState;

pub fn router(max_upload: u64) -> Router<AppState> {
    Router::new()
        .merge(health::router())
        .merge(metrics::router())
        .merge(uploads::router(max_upload))
        .merge(files::router())
        .merge(auth::router())
        .merge(admin::router())
        .merge(users::router())
        .merge(messages::router())
        .merge(web::router())
        .method_not_allowed_fallback(async || {
            (
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                axum::Json(serde_json::json!({ "error": "method not allowed" })),
            )
        })
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
