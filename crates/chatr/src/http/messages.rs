//! `GET /api/messages/conversations` and `GET /api/messages/history`.

use axum::{
    Json, Router,
    extract::{Path, State},
    routing::get,
};

use super::Params;
use crate::auth::AuthUser;
use crate::chat::model::{Conversation, Edit, Message};
use crate::clock;
use crate::error::{Error, Result};
use crate::fields::parse_uuid;
use crate::state::AppState;
use crate::store::HistoryCursor;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/messages/conversations", get(conversations))
        .route("/api/messages/history", get(history))
        .route("/api/messages/search", get(search))
        .route("/api/messages/{id}/edits", get(edits))
}

async fn conversations(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
) -> Result<Json<Vec<Conversation>>> {
    let rows = state.chat.store().conversations(me.id).await?;
    let (partners, rest): (Vec<_>, Vec<_>) = rows
        .into_iter()
        .map(|(user, last_message, unread_count, blocked)| {
            (user, (last_message, unread_count, blocked))
        })
        .unzip();
    let partners = state.chat.sessions.user_views(partners, me.id).await?;
    Ok(Json(
        partners
            .into_iter()
            .zip(rest)
            .map(
                |(user, (last_message, unread_count, blocked))| Conversation {
                    user,
                    last_message,
                    unread_count,
                    blocked,
                },
            )
            .collect(),
    ))
}

/// `GET /api/messages/:id/edits`.
async fn edits(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Vec<Edit>>> {
    let id = parse_uuid(&id).ok_or_else(|| Error::not_found("message not found"))?;
    Ok(Json(state.chat.messages.edits(me.id, id).await?))
}

/// `GET /api/messages/search?q=&with=&limit=&before=`.
async fn search(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    params: Params,
) -> Result<Json<Vec<Message>>> {
    let q = params.get("q").unwrap_or_default();
    let with = match params.get("with") {
        None => None,
        Some(w) => Some(
            parse_uuid(w).ok_or_else(|| Error::invalid_field("with", "with must be a user id"))?,
        ),
    };
    let before = match params.get("before") {
        None => None,
        Some(b) => Some(
            parse_uuid(b)
                .ok_or_else(|| Error::invalid_field("before", "before must be a message id"))?,
        ),
    };
    let limit = params.int("limit", 20, 1, 100)?;
    Ok(Json(
        state
            .chat
            .messages
            .search(me.id, q, with, before, limit)
            .await?,
    ))
}

async fn history(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    params: Params,
) -> Result<Json<Vec<Message>>> {
    let other = params
        .get("recipientId")
        .and_then(parse_uuid)
        .ok_or_else(|| Error::invalid_field("recipientId", "recipientId must be a user id"))?;
    let limit = params.int("limit", 50, 1, 200)?;
    let cursor = match params.get("before") {
        None => HistoryCursor::Latest,
        Some(before) => match parse_uuid(before) {
            Some(id) => HistoryCursor::BeforeMessage(id),
            None => HistoryCursor::BeforeTime(clock::normalize(before).ok_or_else(|| {
                Error::invalid_field(
                    "before",
                    "before must be a message id or an ISO-8601 timestamp",
                )
            })?),
        },
    };
    let page = state
        .chat
        .store()
        .history(me.id, other, cursor, limit)
        .await?
        .ok_or_else(|| {
            Error::invalid_field("before", "before must be a message of this conversation")
        })?;
    Ok(Json(page))
}
