//! `/api/users/*`: other users (list, search, one), blocks, and the
//! caller's own account (`me`: presence visibility, export, deletion).

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    routing::{get, post},
};

use super::{ClientIp, JsonBody, Params, export};
use crate::auth::{self, AuthUser};
use crate::chat::model::{User, Visibility};
use crate::error::{Error, Result};
use crate::fields::{Fields, parse_uuid};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/users", get(list))
        .route("/api/users/search", get(search))
        .route("/api/users/blocked", get(blocked))
        .route("/api/users/me", get(me).patch(update_me).delete(delete_me))
        .route("/api/users/me/export", get(export::export))
        .route("/api/users/{id}", get(one))
        .route("/api/users/{id}/block", post(block).delete(unblock))
}

async fn list(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    params: Params,
) -> Result<Json<Vec<User>>> {
    let limit = params.int("limit", 50, 1, 200)?;
    let offset = params.int("offset", 0, 0, i64::MAX)?;
    let users = state.chat.store().list_users(me.id, limit, offset).await?;
    Ok(Json(state.chat.sessions.user_views(users, me.id).await?))
}

async fn search(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    params: Params,
) -> Result<Json<Vec<User>>> {
    let term = params.get("q").unwrap_or_default();
    let users = state.chat.accounts.search(me.id, term).await?;
    Ok(Json(state.chat.sessions.user_views(users, me.id).await?))
}

fn user_id(id: &str) -> Result<uuid::Uuid> {
    parse_uuid(id).ok_or_else(|| Error::not_found("user not found"))
}

async fn one(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<User>> {
    let id = user_id(&id)?;
    let user = state
        .chat
        .store()
        .user_by_id(id)
        .await?
        .ok_or_else(|| Error::not_found("user not found"))?;
    Ok(Json(state.chat.sessions.user_view(user, me.id).await?))
}

async fn block(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    state
        .chat
        .accounts
        .block(me.id, user_id(&id)?, true)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn unblock(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    state
        .chat
        .accounts
        .block(me.id, user_id(&id)?, false)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn blocked(State(state): State<AppState>, AuthUser(me): AuthUser) -> Result<Json<Vec<User>>> {
    let users = state.chat.accounts.blocked(me.id).await?;
    Ok(Json(state.chat.sessions.user_views(users, me.id).await?))
}

async fn me(State(state): State<AppState>, AuthUser(me): AuthUser) -> Result<Json<User>> {
    let id = me.id;
    Ok(Json(state.chat.sessions.user_view(me, id).await?))
}

/// `PATCH /api/users/me` `{ presenceVisibility }`.
async fn update_me(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    JsonBody(body): JsonBody,
) -> Result<Json<User>> {
    let f = Fields::of(&body)?;
    if let Some(v) = f.opt_str("presenceVisibility")? {
        let visibility = Visibility::parse(v).ok_or_else(|| {
            Error::invalid_field(
                "presenceVisibility",
                "presenceVisibility must be everyone, contacts or nobody",
            )
        })?;
        state
            .chat
            .accounts
            .set_visibility(me.id, visibility)
            .await?;
    }
    let user = state
        .chat
        .store()
        .user_by_id(me.id)
        .await?
        .ok_or_else(|| Error::not_found("user not found"))?;
    Ok(Json(state.chat.sessions.user_view(user, me.id).await?))
}

/// `DELETE /api/users/me` `{ password }`.
async fn delete_me(
    State(state): State<AppState>,
    ClientIp(addr): ClientIp,
    AuthUser(me): AuthUser,
    JsonBody(body): JsonBody,
) -> Result<StatusCode> {
    let password = Fields::of(&body)?.str("password")?;
    auth::delete_account(&state, addr, &me, password).await?;
    Ok(StatusCode::NO_CONTENT)
}
