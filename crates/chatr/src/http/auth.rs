//! `/api/auth/*`: register, login, who am I, log out (here or everywhere),
//! change the password.

use axum::{Json, extract::State, http::StatusCode};
use serde::Serialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::openapi::{Login, PasswordChange, Register};
use super::{ClientIp, JsonBody};
use crate::auth::{self, AuthUser, Bearer};
use crate::error::{Error, Result};
use crate::fields::Fields;
use crate::model::User;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(me))
        .routes(routes!(logout))
        .routes(routes!(logout_all))
        .routes(routes!(password))
}

/// A token and the user it stands for.
#[derive(Serialize, utoipa::ToSchema)]
struct Session {
    token: String,
    user: User,
}

#[utoipa::path(post, path = "/api/auth/register", tag = "auth",
    request_body = Register,
    responses((status = 201, body = Session), (status = 409, description = "email or username taken", body = crate::error::ErrorBody)))]
async fn register(
    State(state): State<AppState>,
    ClientIp(addr): ClientIp,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Session>)> {
    let f = Fields::of(&body)?;
    let (username, email, password) = (f.str("username")?, f.str("email")?, f.str("password")?);
    let (token, user) = auth::register(&state, addr, email, username, password).await?;
    let id = user.id;
    Ok((
        StatusCode::CREATED,
        Json(Session {
            token,
            user: state.chat.sessions.user_view(user, id).await?,
        }),
    ))
}

#[utoipa::path(post, path = "/api/auth/login", tag = "auth",
    request_body = Login,
    responses((status = 200, body = Session), (status = 401, description = "wrong login or password", body = crate::error::ErrorBody)))]
async fn login(
    State(state): State<AppState>,
    ClientIp(addr): ClientIp,
    JsonBody(body): JsonBody,
) -> Result<Json<Session>> {
    let f = Fields::of(&body)?;
    // `login` is the documented field; `email` and `username` are accepted too.
    let login = match (
        f.opt_str("login")?,
        f.opt_str("email")?,
        f.opt_str("username")?,
    ) {
        (Some(l), _, _) | (None, Some(l), _) | (None, None, Some(l)) => l,
        (None, None, None) => return Err(Error::invalid_field("login", "login is required")),
    };
    let password = f.str("password")?;
    let (token, user) = auth::login(&state, addr, login, password).await?;
    let id = user.id;
    Ok(Json(Session {
        token,
        user: state.chat.sessions.user_view(user, id).await?,
    }))
}

/// The caller.
#[utoipa::path(get, path = "/api/auth/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = User)))]
async fn me(State(state): State<AppState>, AuthUser(user): AuthUser) -> Result<Json<User>> {
    let id = user.id;
    Ok(Json(state.chat.sessions.user_view(user, id).await?))
}

/// Revokes this token: later requests and its sockets are refused.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "revoked")))]
async fn logout(State(state): State<AppState>, Bearer(token): Bearer) -> Result<StatusCode> {
    auth::logout(&state, &token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revokes every token of the caller, on every node.
#[utoipa::path(post, path = "/api/auth/logout-all", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "all revoked")))]
async fn logout_all(State(state): State<AppState>, Bearer(token): Bearer) -> Result<StatusCode> {
    auth::revoke_all(&state, token.user).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Changes the password, revokes every other token, returns a fresh one.
#[utoipa::path(post, path = "/api/auth/password", tag = "auth", security(("bearer" = [])),
    request_body = PasswordChange,
    responses((status = 200, body = Session)))]
async fn password(
    State(state): State<AppState>,
    ClientIp(addr): ClientIp,
    AuthUser(user): AuthUser,
    JsonBody(body): JsonBody,
) -> Result<Json<Session>> {
    let f = Fields::of(&body)?;
    let (current, new) = (f.str("currentPassword")?, f.str("newPassword")?);
    let token = auth::change_password(&state, addr, &user, current, new).await?;
    let id = user.id;
    Ok(Json(Session {
        token,
        user: state.chat.sessions.user_view(user, id).await?,
    }))
}
