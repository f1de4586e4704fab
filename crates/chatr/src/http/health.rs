//! `GET /api/health` (liveness: cheap, the database answers) and
//! `GET /api/health/ready` (readiness: each part a request needs, by name).

use std::future::Future;
use std::time::Duration;

use axum::{Json, Router, extract::State, http::StatusCode, routing::get};
use serde_json::{Map, Value, json};

use crate::clock;
use crate::state::AppState;

/// How long a readiness check may take before its part counts as down.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/health", get(health))
        .route("/api/health/ready", get(ready))
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

/// A check that does not answer in time failed.
async fn within(check: impl Future<Output = bool>) -> bool {
    tokio::time::timeout(CHECK_TIMEOUT, check)
        .await
        .unwrap_or(false)
}

/// `200 { status: "ready", checks }` or `503 { status: "unavailable", down, checks }`:
/// the database (reads), the writer (a commit goes through), and Redis
/// when several nodes share one. The checks run at once.
async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let store = state.chat.store();
    let (database, writer, redis) = tokio::join!(
        within(store.ping()),
        within(store.writer_ping()),
        tokio::time::timeout(CHECK_TIMEOUT, state.chat.sessions.redis_ok()),
    );
    let redis = match redis {
        Ok(answer) => answer,
        Err(_) => Some(false),
    };
    let mut checks = Map::new();
    let mut down = Vec::new();
    let parts = [
        ("database", Some(database)),
        ("writer", Some(writer)),
        ("redis", redis),
    ];
    for (name, ok) in parts {
        let Some(ok) = ok else { continue };
        checks.insert(name.into(), json!(if ok { "ok" } else { "down" }));
        if !ok {
            down.push(name);
        }
    }
    if down.is_empty() {
        (
            StatusCode::OK,
            Json(json!({ "status": "ready", "checks": checks, "timestamp": clock::now() })),
        )
    } else {
        tracing::warn!(?down, "not ready");
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({ "status": "unavailable", "down": down, "checks": checks, "timestamp": clock::now() }),
            ),
        )
    }
}
