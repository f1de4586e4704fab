//! `GET /api/health`.

use axum::{Json, Router, extract::State, http::StatusCode, routing::get};
use serde_json::{Value, json};

use crate::clock;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/health", get(health))
}

async fn health(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    if state.chat.store().ping().await {
        (
            StatusCode::OK,
            Json(json!({ "status": "ok", "timestamp": clock::now() })),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({ "status": "degraded", "error": "database unreachable", "timestamp": clock::now() }),
            ),
        )
    }
}
