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

/// How long one readiness answer serves every caller: the endpoint needs no
/// token, and each check costs a commit, so repeating it must not.
const READY_FOR: Duration = Duration::from_secs(1);

/// The last readiness answer and when it was made; the lock also makes
/// concurrent callers wait for one round of checks instead of each running one.
static LAST_READY: tokio::sync::Mutex<Option<(std::time::Instant, StatusCode, Value)>> =
    tokio::sync::Mutex::const_new(None);

/// `200 { status: "ready", checks }` or `503 { status: "unavailable", down, checks }`:
/// the database (reads), the writer (a commit goes through), and Redis
/// when several nodes share one. The checks run at once, at most once a second.
async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let mut last = LAST_READY.lock().await;
    if let Some((at, status, body)) = last.as_ref()
        && at.elapsed() < READY_FOR
    {
        return (*status, Json(body.clone()));
    }
    let (status, body) = check_ready(&state).await;
    *last = Some((std::time::Instant::now(), status, body.clone()));
    (status, Json(body))
}

async fn check_ready(state: &AppState) -> (StatusCode, Value) {
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
            json!({ "status": "ready", "checks": checks, "timestamp": clock::now() }),
        )
    } else {
        tracing::warn!(?down, "not ready");
        (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "status": "unavailable", "down": down, "checks": checks, "timestamp": clock::now() }),
        )
    }
}
