//! `POST /api/auth/register`, `POST /api/auth/login`, `GET /api/auth/me`.

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    routing::{get, post},
};
use serde::Serialize;

use super::JsonBody;
use crate::auth::{self, AuthUser};
use crate::chat::model::User;
use crate::error::{Error, Result};
use crate::fields::Fields;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/register", post(register))
        .route("/api/auth/login", post(login))
        .route("/api/auth/me", get(me))
}

#[derive(Serialize)]
struct Session {
    token: String,
    user: User,
}

async fn register(
    State(state): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Session>)> {
    let f = Fields::of(&body)?;
    let (username, email, password) = (f.str("username")?, f.str("email")?, f.str("password")?);
    let (token, user) = auth::register(&state, email, username, password).await?;
    let id = user.id;
    Ok((
        StatusCode::CREATED,
        Json(Session {
            token,
            user: state.chat.sessions.user_view(user, id).await,
        }),
    ))
}

async fn login(State(state): State<AppState>, JsonBody(body): JsonBody) -> Result<Json<Session>> {
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
    let (token, user) = auth::login(&state, login, password).await?;
    let id = user.id;
    Ok(Json(Session {
        token,
        user: state.chat.sessions.user_view(user, id).await,
    }))
}

async fn me(State(state): State<AppState>, AuthUser(user): AuthUser) -> Json<User> {
    let id = user.id;
    Json(state.chat.sessions.user_view(user, id).await)
}
