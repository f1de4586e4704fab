//! `/api/admin/*`: accounts and counts for operators. Callers are users
//! whose role is `admin`, or an operator's short-lived token (`chatr admin`,
//! signed with the server's secret). Every change goes through the same
//! domain paths as the user's own (revocation on every node, sockets
//! disconnected at once, account deletion as in contract §6).

use axum::body::Bytes;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::openapi::{NewAccount, PasswordReset, RoleChange};
use super::{JsonBody, Params};
use crate::auth::{self, Bearer, password};
use crate::chat::validate;
use crate::error::{Error, Result};
use crate::fields::{Fields, parse_uuid};
use crate::state::AppState;
use crate::store::admin::AdminUser;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(stats))
        .routes(routes!(list, create))
        .routes(routes!(one, delete))
        .routes(routes!(reset_password))
        .routes(routes!(disable))
        .routes(routes!(enable))
        .routes(routes!(set_role))
}

/// A caller allowed to administer: an operator, or a user with role `admin`.
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let Bearer(token) = Bearer::from_request_parts(parts, state).await?;
        if token.operator {
            return Ok(Admin);
        }
        auth::admit_call(state, token.user).await?;
        match state.chat.store().account_state(token.user).await? {
            Some((role, false)) if role == "admin" => Ok(Admin),
            Some(_) => Err(Error::forbidden("administrators only")),
            None => Err(Error::Unauthorized("invalid or expired token".into())),
        }
    }
}

fn user_id(id: &str) -> Result<Uuid> {
    parse_uuid(id).ok_or_else(|| Error::not_found("user not found"))
}

async fn found(state: &AppState, id: Uuid) -> Result<AdminUser> {
    state
        .chat
        .store()
        .admin_user(id)
        .await?
        .ok_or_else(|| Error::not_found("user not found"))
}

/// `?q=` a part of a username or email, or an id; `limit`, `offset`.
#[utoipa::path(get, path = "/api/admin/users", tag = "admin", security(("bearer" = [])),
    params(("q" = Option<String>, Query, description = "part of a username or email, or an id"),
           ("limit" = Option<i64>, Query, description = "1–1000, default 50"),
           ("offset" = Option<i64>, Query, description = "default 0")),
    responses((status = 200, body = Vec<AdminUser>)))]
async fn list(
    State(state): State<AppState>,
    _: Admin,
    params: Params,
) -> Result<Json<Vec<AdminUser>>> {
    let limit = params.int("limit", 50, 1, 1000)?;
    let offset = params.int("offset", 0, 0, i64::MAX)?;
    let users = state
        .chat
        .store()
        .admin_users(params.get("q"), limit, offset)
        .await?;
    Ok(Json(users))
}

#[utoipa::path(get, path = "/api/admin/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "a user id")),
    responses((status = 200, body = AdminUser), (status = 404, body = crate::error::ErrorBody)))]
async fn one(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<Json<AdminUser>> {
    Ok(Json(found(&state, user_id(&id)?).await?))
}

/// `GET /api/admin/stats`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Stats {
    users: i64,
    admins: i64,
    disabled: i64,
    messages: i64,
    stored_files: i64,
    stored_bytes: i64,
    /// Users with a session on the node that answered.
    online_users: usize,
}

#[utoipa::path(get, path = "/api/admin/stats", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = Stats), (status = 403, body = crate::error::ErrorBody)))]
async fn stats(State(state): State<AppState>, _: Admin) -> Result<Json<Stats>> {
    let counts = state.chat.store().counts().await?;
    Ok(Json(Stats {
        users: counts.users,
        admins: counts.admins,
        disabled: counts.disabled,
        messages: counts.messages,
        stored_files: counts.stored_files,
        stored_bytes: counts.stored_bytes,
        online_users: state.chat.sessions.online_here(),
    }))
}

/// `POST /api/admin/users`: the account, and its password when one was generated.
#[derive(Serialize, ToSchema)]
struct Created {
    user: AdminUser,
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<String>,
}

/// `POST /api/admin/users/{id}/password`: the password when one was generated.
#[derive(Serialize, ToSchema)]
struct NewPassword {
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<String>,
}

/// A password that follows the contract's rules, for an operator to hand on.
fn generated_password() -> Result<String> {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| Error::internal(format!("no randomness: {e}")))?;
    let random: String = bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    // The contract's rules: an uppercase letter and a digit, whatever came out.
    Ok(format!("{random}-A7"))
}

/// `{ username, email, password? }` → `201 { user, password? }` (the password
/// is in the answer only when it was generated).
#[utoipa::path(post, path = "/api/admin/users", tag = "admin", security(("bearer" = [])),
    request_body = NewAccount,
    responses((status = 201, body = Created), (status = 409, body = crate::error::ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    _: Admin,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Created>)> {
    let f = Fields::of(&body)?;
    let (username, email) = (f.str("username")?, f.str("email")?);
    let (password, generated) = match f.opt_str("password")? {
        Some(p) => (p.to_owned(), false),
        None => (generated_password()?, true),
    };
    let user = auth::create_account(&state, email, username, &password).await?;
    let user = found(&state, user.id).await?;
    let password = generated.then_some(password);
    Ok((StatusCode::CREATED, Json(Created { user, password })))
}

/// `{ password? }` → `{ password? }`: a new password (generated when none
/// is given), and every token of the user revoked on every node.
#[utoipa::path(post, path = "/api/admin/users/{id}/password", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "a user id")),
    request_body(content = PasswordReset, description = "optional: an empty body generates a password"),
    responses((status = 200, body = NewPassword), (status = 404, body = crate::error::ErrorBody)))]
async fn reset_password(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<NewPassword>> {
    let user = found(&state, user_id(&id)?).await?;
    let body: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(&body).map_err(|_| Error::invalid("request body must be JSON"))?
    };
    let f = Fields::of(&body)?;
    let (new, generated) = match f.opt_str("password")? {
        Some(p) => {
            validate::password(p)?;
            (p.to_owned(), false)
        }
        None => (generated_password()?, true),
    };
    let id = user_id(&user.id)?;
    let hash = password::hash(new.clone()).await?;
    state.chat.store().set_password_hash(id, &hash).await?;
    auth::revoke_all(&state, id).await?;
    Ok(Json(NewPassword {
        password: generated.then_some(new),
    }))
}

/// No login while disabled; every token revoked and every session
/// disconnected at once, on every node.
#[utoipa::path(post, path = "/api/admin/users/{id}/disable", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "a user id")),
    responses((status = 204, description = "disabled"), (status = 404, body = crate::error::ErrorBody)))]
async fn disable(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let id = user_id(&id)?;
    if !state
        .chat
        .store()
        .set_disabled(id, Some(&crate::clock::now()))
        .await?
    {
        return Err(Error::not_found("user not found"));
    }
    auth::revoke_all(&state, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/admin/users/{id}/enable", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "a user id")),
    responses((status = 204, description = "enabled"), (status = 404, body = crate::error::ErrorBody)))]
async fn enable(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    if !state.chat.store().set_disabled(user_id(&id)?, None).await? {
        return Err(Error::not_found("user not found"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `{ role: "admin" | "user" }`.
#[utoipa::path(post, path = "/api/admin/users/{id}/role", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "a user id")),
    request_body = RoleChange,
    responses((status = 204, description = "changed"), (status = 404, body = crate::error::ErrorBody)))]
async fn set_role(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<StatusCode> {
    let f = Fields::of(&body)?;
    let role = f.str("role")?;
    if !matches!(role, "admin" | "user") {
        return Err(Error::invalid_field("role", "role must be admin or user"));
    }
    if !state.chat.store().set_role(user_id(&id)?, role).await? {
        return Err(Error::not_found("user not found"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes the account as its owner would (contract §6), without its password.
#[utoipa::path(delete, path = "/api/admin/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "a user id")),
    responses((status = 204, description = "deleted"), (status = 404, body = crate::error::ErrorBody)))]
async fn delete(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let id = user_id(&id)?;
    found(&state, id).await?;
    state.revocations.cut_off(id, i64::MAX);
    state.chat.accounts.delete(id, i64::MAX).await?;
    Ok(StatusCode::NO_CONTENT)
}
