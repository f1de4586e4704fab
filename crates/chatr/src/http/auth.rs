//! `/api/auth/*`: register, login, who am I, log out (here or everywhere),
//! change the password.

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    routing::{get, post},
};
use serde::Serialize;

use super::{ClientIp, JsonBody};
use crate::auth::{self, AuthUser, Bearer};
use crate::chat::model::User;
use crate::error::{Error, Result};
use crate::fields::Fields;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/register", post(register))
        .route("/api/auth/login", post(login))
        .route("/api/auth/me", get(me))
        .route("/api/auth/logout", post(logout))
        .route("/api/auth/logout-all", post(logout_all))
        .route("/api/auth/password", post(password))
}

#[derive(Serialize)]
struct Session {
    token: String,
    user: User,
}

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

async fn me(State(state): State<AppState>, AuthUser(user): AuthUser) -> Result<Json<User>> {
    let id = user.id;
    Ok(Json(state.chat.sessions.user_view(user, id).await?))
}

async fn logout(State(state): State<AppState>, Bearer(token): Bearer) -> Result<StatusCode> {
    auth::logout(&state, &token).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn logout_all(State(state): State<AppState>, Bearer(token): Bearer) -> Result<StatusCode> {
    auth::revoke_all(&state, token.user).await?;
    Ok(StatusCode::NO_CONTENT)
}

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
