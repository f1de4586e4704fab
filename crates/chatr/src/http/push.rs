//! `/api/push/*` (issue 14): the server's VAPID public key, a browser's
//! push subscription saved or removed for the caller's session, and whether
//! pushes show previews.

use axum::{Json, extract::State, http::StatusCode};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::JsonBody;
use super::openapi::{PushPreferencesUpdate, PushSubscriptionBody, PushUnsubscribe};
use crate::auth::{AuthSession, AuthUser};
use crate::error::{Error, Result};
use crate::fields::Fields;
use crate::state::AppState;
use crate::store::push::Subscription;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(vapid_public_key))
        .routes(routes!(subscribe, unsubscribe))
        .routes(routes!(preferences, set_preferences))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct PublicKey {
    /// The uncompressed P-256 point, base64url: `applicationServerKey`.
    public_key: String,
}

/// What `PushManager.subscribe` needs as `applicationServerKey`.
#[utoipa::path(get, path = "/api/push/vapid-public-key", tag = "push",
    responses((status = 200, body = PublicKey)))]
async fn vapid_public_key(State(state): State<AppState>) -> Json<PublicKey> {
    Json(PublicKey {
        public_key: state.chat.notifications.pusher().public_key().to_owned(),
    })
}

/// The subscription of a body: `PushSubscription.toJSON()`.
fn subscription(body: &Value) -> Result<Subscription> {
    let f = Fields::of(body)?;
    let endpoint = f.str("endpoint")?;
    let keys = Fields::of(
        f.get("keys")
            .ok_or_else(|| Error::invalid_field("keys", "keys is required"))?,
    )
    .map_err(|_| Error::invalid_field("keys", "keys must be an object"))?;
    let field = |name: &'static str, key: &'static str| {
        keys.str(key)
            .map_err(|_| Error::invalid_field(name, format!("{name} must be a string")))
            .map(str::to_owned)
    };
    Ok(Subscription {
        endpoint: endpoint.to_owned(),
        p256dh: field("keys.p256dh", "p256dh")?,
        auth: field("keys.auth", "auth")?,
    })
}

#[derive(Serialize, ToSchema)]
struct Subscribed {
    endpoint: String,
}

/// Saves the browser's subscription for the caller's session: it goes away
/// when the session does (logout, logout everywhere, a new password).
#[utoipa::path(post, path = "/api/push/subscriptions", tag = "push", security(("bearer" = [])),
    request_body = PushSubscriptionBody,
    responses((status = 201, body = Subscribed),
              (status = 400, description = "not https, a private address, or malformed keys", body = crate::error::ErrorBody)))]
async fn subscribe(
    State(state): State<AppState>,
    AuthSession(me, token): AuthSession,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Subscribed>)> {
    let sub = subscription(&body)?;
    state.chat.notifications.pusher().check(&sub)?;
    let expires = i64::try_from(token.exp).unwrap_or(i64::MAX);
    state
        .chat
        .store()
        .save_subscription(me.id, token.jti, expires, &sub)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(Subscribed {
            endpoint: sub.endpoint,
        }),
    ))
}

/// Removes one of the caller's subscriptions (removing one that is not
/// there succeeds too).
#[utoipa::path(delete, path = "/api/push/subscriptions", tag = "push", security(("bearer" = [])),
    request_body = PushUnsubscribe,
    responses((status = 204, description = "removed")))]
async fn unsubscribe(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    JsonBody(body): JsonBody,
) -> Result<StatusCode> {
    let endpoint = Fields::of(&body)?.str("endpoint")?;
    state
        .chat
        .store()
        .remove_subscription(me.id, endpoint)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
struct Preferences {
    /// Pushes show the sender and a preview (`true`), or only "New message".
    previews: bool,
}

#[utoipa::path(get, path = "/api/push/preferences", tag = "push", security(("bearer" = [])),
    responses((status = 200, body = Preferences)))]
async fn preferences(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
) -> Result<Json<Preferences>> {
    let previews = state.chat.store().push_previews(me.id).await?;
    Ok(Json(Preferences { previews }))
}

#[utoipa::path(patch, path = "/api/push/preferences", tag = "push", security(("bearer" = [])),
    request_body = PushPreferencesUpdate,
    responses((status = 200, body = Preferences)))]
async fn set_preferences(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    JsonBody(body): JsonBody,
) -> Result<Json<Preferences>> {
    let previews = match Fields::of(&body)?.get("previews") {
        Some(Value::Bool(on)) => *on,
        _ => {
            return Err(Error::invalid_field(
                "previews",
                "previews must be true or false",
            ));
        }
    };
    state
        .chat
        .store()
        .set_push_previews(me.id, previews)
        .await?;
    Ok(Json(Preferences { previews }))
}
