//! `GET /api/health` (liveness: cheap, the database answers) and
//! `GET /api/health/ready` (readiness: each part a request needs, by name).

use std::future::Future;
use std::time::Duration;

use std::collections::BTreeMap;

use axum::{Json, extract::State, http::StatusCode};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::clock;
use crate::state::AppState;

/// How long a readiness check may take before its part counts as down.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(ready))
}

/// `GET /api/health`.
#[derive(Clone, Serialize, ToSchema)]
struct Health {
    /// `ok`, or `degraded` when the database does not answer.
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'static str>,
    timestamp: String,
}

/// Liveness: the process serves and its database answers.
#[utoipa::path(get, path = "/api/health", tag = "operations",
    responses((status = 200, body = Health), (status = 503, description = "degraded", body = Health)))]
async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let timestamp = clock::now();
    if state.chat.store().ping().await {
        let ok = Health {
            status: "ok",
            error: None,
            timestamp,
        };
        (StatusCode::OK, Json(ok))
    } else {
        let degraded = Health {
            status: "degraded",
            error: Some("database unreachable"),
            timestamp,
        };
        (StatusCode::SERVICE_UNAVAILABLE, Json(degraded))
    }
}

/// A part a request needs, as readiness saw it.
#[derive(Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum Check {
    Ok,
    Down,
}

/// `GET /api/health/ready`.
#[derive(Clone, Serialize, ToSchema)]
struct Readiness {
    /// `ready` or `unavailable`.
    status: &'static str,
    /// The parts that are down, by name (only when some are).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    down: Vec<&'static str>,
    /// `database`, `writer`, and `redis` when several nodes share one.
    checks: BTreeMap<&'static str, Check>,
    timestamp: String,
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
static LAST_READY: tokio::sync::Mutex<Option<(std::time::Instant, StatusCode, Readiness)>> =
    tokio::sync::Mutex::const_new(None);

/// `200 { status: "ready", checks }` or `503 { status: "unavailable", down, checks }`:
/// the database (reads), the writer (a commit goes through), and Redis
/// when several nodes share one. The checks run at once, at most once a second.
#[utoipa::path(get, path = "/api/health/ready", tag = "operations",
    responses((status = 200, body = Readiness), (status = 503, description = "a part is down", body = Readiness)))]
async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
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

async fn check_ready(state: &AppState) -> (StatusCode, Readiness) {
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
    let mut checks = BTreeMap::new();
    let mut down = Vec::new();
    let parts = [
        ("database", Some(database)),
        ("writer", Some(writer)),
        ("redis", redis),
    ];
    for (name, ok) in parts {
        let Some(ok) = ok else { continue };
        checks.insert(name, if ok { Check::Ok } else { Check::Down });
        if !ok {
            down.push(name);
        }
    }
    let timestamp = clock::now();
    if down.is_empty() {
        let ready = Readiness {
            status: "ready",
            down,
            checks,
            timestamp,
        };
        (StatusCode::OK, ready)
    } else {
        tracing::warn!(?down, "not ready");
        let unavailable = Readiness {
            status: "unavailable",
            down,
            checks,
            timestamp,
        };
        (StatusCode::SERVICE_UNAVAILABLE, unavailable)
    }
}
