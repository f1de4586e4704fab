//! `GET /metrics`: Prometheus text, for a bearer of `CHATR_METRICS_TOKEN`
//! (or, without a token, on `CHATR_METRICS_ADDR` only).

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Router, extract::State, routing::get};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::error::Error;
use crate::state::AppState;
use crate::telemetry;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(guarded))
}

/// The router of `CHATR_METRICS_ADDR`: `/metrics` with no token.
pub fn open_router() -> Router {
    Router::new().route("/metrics", get(async || render()))
}

/// Prometheus text; the bearer is `CHATR_METRICS_TOKEN`, not a user's token.
#[utoipa::path(get, path = "/metrics", tag = "operations", security(("bearer" = [])),
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain", body = String),
              (status = 401, body = crate::error::ErrorBody)))]
async fn guarded(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let offered = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::auth::bearer);
    match (&state.config.metrics_token, offered) {
        (Some(token), Some(offered)) if same(token.as_bytes(), offered.as_bytes()) => render(),
        _ => Error::Unauthorized("metrics need CHATR_METRICS_TOKEN as a bearer token".into())
            .into_response(),
    }
}

/// Compares in time that depends on the length only, not on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn render() -> Response {
    match telemetry::install() {
        Some(handle) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            telemetry::render(&handle),
        )
            .into_response(),
        None => Error::internal("no metrics recorder").into_response(),
    }
}
