//! `/api/users/*`: other users (list, search, one), blocks, and the
//! caller's own account (`me`: presence visibility, export, deletion).

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::openapi::{AccountUpdate, PasswordConfirmation};
use super::{ClientIp, JsonBody, Params, export};
use crate::auth::{self, AuthUser};
use crate::error::{Error, Result};
use crate::fields::{Fields, parse_uuid};
use crate::model::{User, Visibility};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(search))
        .routes(routes!(blocked))
        .routes(routes!(me, update_me, delete_me))
        .routes(routes!(export::export))
        .routes(routes!(one))
        .routes(routes!(block, unblock))
}

/// Other users, by username.
#[utoipa::path(get, path = "/api/users", tag = "users", security(("bearer" = [])),
    params(("limit" = Option<i64>, Query, description = "1–200, default 50"),
           ("offset" = Option<i64>, Query, description = "default 0")),
    responses((status = 200, body = Vec<User>)))]
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

/// Users whose username contains `q`.
#[utoipa::path(get, path = "/api/users/search", tag = "users", security(("bearer" = [])),
    params(("q" = Option<String>, Query, description = "part of a username")),
    responses((status = 200, body = Vec<User>)))]
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

#[utoipa::path(get, path = "/api/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "a user id")),
    responses((status = 200, body = User), (status = 404, body = crate::error::ErrorBody)))]
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

/// Blocks a user (contract §6).
#[utoipa::path(post, path = "/api/users/{id}/block", tag = "users", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "a user id")),
    responses((status = 204, description = "blocked"), (status = 404, body = crate::error::ErrorBody)))]
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

#[utoipa::path(delete, path = "/api/users/{id}/block", tag = "users", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "a user id")),
    responses((status = 204, description = "unblocked"), (status = 404, body = crate::error::ErrorBody)))]
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

/// The users the caller blocks.
#[utoipa::path(get, path = "/api/users/blocked", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = Vec<User>)))]
async fn blocked(State(state): State<AppState>, AuthUser(me): AuthUser) -> Result<Json<Vec<User>>> {
    let users = state.chat.accounts.blocked(me.id).await?;
    Ok(Json(state.chat.sessions.user_views(users, me.id).await?))
}

/// The caller's own record (with `email` and `presenceVisibility`).
#[utoipa::path(get, path = "/api/users/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = User)))]
async fn me(State(state): State<AppState>, AuthUser(me): AuthUser) -> Result<Json<User>> {
    let id = me.id;
    Ok(Json(state.chat.sessions.user_view(me, id).await?))
}

/// `PATCH /api/users/me` `{ presenceVisibility }`.
#[utoipa::path(patch, path = "/api/users/me", tag = "users", security(("bearer" = [])),
    request_body = AccountUpdate,
    responses((status = 200, body = User)))]
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
#[utoipa::path(delete, path = "/api/users/me", tag = "users", security(("bearer" = [])),
    request_body = PasswordConfirmation,
    responses((status = 204, description = "the account is gone")))]
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
