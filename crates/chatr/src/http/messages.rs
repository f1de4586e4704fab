//! `GET /api/messages/conversations` and `GET /api/messages/history`.

use axum::{
    Json,
    extract::{Path, State},
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::Params;
use crate::auth::AuthUser;
use crate::clock;
use crate::error::{Error, Result};
use crate::fields::parse_uuid;
use crate::model::{Conversation, Edit, Message};
use crate::state::AppState;
use crate::store::HistoryCursor;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(conversations))
        .routes(routes!(history))
        .routes(routes!(search))
        .routes(routes!(edits))
}

/// One row per partner, newest first, with the last message and unread count.
#[utoipa::path(get, path = "/api/messages/conversations", tag = "messages", security(("bearer" = [])),
    responses((status = 200, body = Vec<Conversation>)))]
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
#[utoipa::path(get, path = "/api/messages/{id}/edits", tag = "messages", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "a message id")),
    responses((status = 200, body = Vec<Edit>), (status = 404, body = crate::error::ErrorBody)))]
async fn edits(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Vec<Edit>>> {
    let id = parse_uuid(&id).ok_or_else(|| Error::not_found("message not found"))?;
    Ok(Json(state.chat.messages.edits(me.id, id).await?))
}

/// `GET /api/messages/search?q=&with=&limit=&before=`.
#[utoipa::path(get, path = "/api/messages/search", tag = "messages", security(("bearer" = [])),
    params(("q" = String, Query, description = "words to find"),
           ("with" = Option<uuid::Uuid>, Query, description = "only the conversation with this user"),
           ("limit" = Option<i64>, Query, description = "1–100, default 20"),
           ("before" = Option<uuid::Uuid>, Query, description = "a message id: older results only")),
    responses((status = 200, body = Vec<Message>)))]
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

/// A page of the conversation with `recipientId`, oldest first.
#[utoipa::path(get, path = "/api/messages/history", tag = "messages", security(("bearer" = [])),
    params(("recipientId" = uuid::Uuid, Query, description = "the other user"),
           ("limit" = Option<i64>, Query, description = "1–200, default 50"),
           ("before" = Option<String>, Query, description = "a message id or an ISO-8601 time: older messages only")),
    responses((status = 200, body = Vec<Message>)))]
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
