//! The REST API described from the code (issue 15): every route is added
//! through `utoipa_axum::routes!`, so a handler and its `#[utoipa::path]`
//! are registered together and the OpenAPI 3.1 document cannot miss one.
//! Served at `/api/openapi.json`, with Swagger UI at `/api/docs` (its assets
//! are in the binary: the docs work with no internet access).
//!
//! Handlers read JSON bodies field by field (`Fields`), to answer each
//! mistake with the field at fault; the shapes below describe those bodies
//! for readers of the document and are checked against what the contract
//! suite sends (tests/contract/openapi.test.js).

use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{self, ContentBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::error::ErrorBody;
use crate::model::Visibility;

pub const BEARER: &str = "bearer";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Chatr REST API",
        description = "The REST half of Chatr's contract. Real-time events travel over \
            Socket.IO and are described in /api/asyncapi.json. Every failure answers with \
            a JSON `ErrorBody`; throttled requests get `429` with `Retry-After`.",
        license(name = "MIT", identifier = "MIT"),
    ),
    components(schemas(ErrorBody)),
    tags(
        (name = "auth", description = "Accounts and tokens (contract §2)"),
        (name = "users", description = "Users, blocks and your own account"),
        (name = "messages", description = "History, search, uploads"),
        (name = "files", description = "Stored uploads"),
        (name = "admin", description = "Operators and users with role admin"),
        (name = "push", description = "Web Push subscriptions (docs/notifications.md)"),
        (name = "operations", description = "Health, readiness, metrics, these documents"),
    )
)]
pub struct ApiDoc;

/// What every operation shares, added once all routes are in: the bearer
/// scheme, and a JSON error body for any status an operation does not list
/// (the contract's `400`, `401`, `429`, `500` … all answer with one).
pub struct Common;

impl Modify for Common {
    fn modify(&self, doc: &mut openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        let error = ResponseBuilder::new()
            .description("Refused: the body says why (and `Retry-After` comes with `429`)")
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build();
        for item in doc.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.patch,
                &mut item.delete,
                &mut item.put,
            ]
            .into_iter()
            .flatten()
            {
                op.responses
                    .responses
                    .entry("default".into())
                    .or_insert_with(|| error.clone().into());
            }
        }
    }
}

/// `POST /api/auth/register`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct Register {
    /// 3–30 characters: letters, digits, `_`.
    pub username: String,
    #[schema(format = Email)]
    pub email: String,
    /// At least 8 characters with an uppercase letter and a digit.
    pub password: String,
}

/// `POST /api/auth/login`: `login` is an email or a username (`email` or
/// `username` are accepted in its place).
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct Login {
    pub login: Option<String>,
    pub email: Option<String>,
    pub username: Option<String>,
    pub password: String,
}

/// `POST /api/auth/password`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

/// `DELETE /api/users/me`: the password confirms it.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct PasswordConfirmation {
    pub password: String,
}

/// `PATCH /api/users/me`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct AccountUpdate {
    pub presence_visibility: Option<Visibility>,
}

/// `PATCH /api/messages/{id}/waveform`: peaks in `0..=1`, duration in seconds.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct WaveformUpdate {
    pub waveform: Vec<f32>,
    pub duration: f64,
}

/// `POST /api/messages/upload` (multipart/form-data).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct UploadForm {
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
    #[schema(format = Uuid)]
    pub recipient_id: String,
    /// `image`, `file`, `audio` or `voice`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A caption, at most 10,000 characters.
    pub content: Option<String>,
    #[schema(format = Uuid)]
    pub reply_to_id: Option<String>,
}

/// `POST /api/users/profile-image` (multipart/form-data).
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct ProfileImageForm {
    /// JPEG, PNG, GIF or WebP, at most 5 MiB.
    #[schema(value_type = String, format = Binary)]
    pub image: Vec<u8>,
}

/// `POST /api/admin/users`: without a password one is generated and returned.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct NewAccount {
    pub username: String,
    #[schema(format = Email)]
    pub email: String,
    pub password: Option<String>,
}

/// `POST /api/admin/users/{id}/password`: without one a password is generated.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct PasswordReset {
    pub password: Option<String>,
}

/// `POST /api/admin/users/{id}/role`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum Role {
    Admin,
    User,
}

/// `POST /api/admin/users/{id}/role`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct RoleChange {
    pub role: Role,
}

/// The keys of a push subscription.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct PushKeys {
    /// The browser's P-256 public key, base64url.
    pub p256dh: String,
    /// The browser's 16-byte authentication secret, base64url.
    pub auth: String,
}

/// `POST /api/push/subscriptions`: `PushSubscription.toJSON()` as the
/// browser gives it (`expirationTime` and other members are ignored).
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct PushSubscriptionBody {
    /// An https URL of a push service, at a public address.
    pub endpoint: String,
    pub keys: PushKeys,
}

/// `DELETE /api/push/subscriptions`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct PushUnsubscribe {
    pub endpoint: String,
}

/// `PATCH /api/push/preferences`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct PushPreferencesUpdate {
    pub previews: bool,
}
