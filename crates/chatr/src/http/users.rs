//! `GET /api/users`, `/api/users/search`, `/api/users/:id`.

use axum::{
    Json, Router,
    extract::{Path, State},
    routing::get,
};

use super::Params;
use crate::auth::AuthUser;
use crate::chat::model::User;
use crate::error::{Error, Result};
use crate::fields::parse_uuid;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/users", get(list))
        .route("/api/users/search", get(search))
        .route("/api/users/{id}", get(one))
}

async fn list(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    params: Params,
) -> Result<Json<Vec<User>>> {
    let limit = params.int("limit", 50, 1, 200)?;
    let offset = params.int("offset", 0, 0, i64::MAX)?;
    let users = state.chat.store().list_users(me.id, limit, offset).await?;
    Ok(Json(state.chat.sessions.user_views(users, me.id).await))
}

async fn search(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    params: Params,
) -> Result<Json<Vec<User>>> {
    let term = params.get("q").unwrap_or_default();
    let users = state.chat.accounts.search(me.id, term).await?;
    Ok(Json(state.chat.sessions.user_views(users, me.id).await))
}

async fn one(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<User>> {
    let not_found = || Error::not_found("user not found");
    let id = parse_uuid(&id).ok_or_else(not_found)?;
    let user = state
        .chat
        .store()
        .user_by_id(id)
        .await?
        .ok_or_else(not_found)?;
    Ok(Json(state.chat.sessions.user_view(user, me.id).await))
}
