//! `POST /api/messages/upload`, `PATCH /api/messages/:id/waveform`,
//! `POST|DELETE /api/users/profile-image`. Uploads stream to a temp file, so
//! a 50 MiB file never sits in memory; content decides what a file is.

use std::path::PathBuf;

use axum::{
    Json,
    extract::{DefaultBodyLimit, Multipart, Path, State, multipart::MultipartRejection},
    http::{HeaderMap, StatusCode, header},
};
use serde::Serialize;
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use utoipa_axum::{
    router::{OpenApiRouter, UtoipaMethodRouterExt},
    routes,
};
use uuid::Uuid;

use super::JsonBody;
use super::openapi::{ProfileImageForm, UploadForm, WaveformUpdate};
use crate::auth::AuthUser;
use crate::chat::{Attachment, validate};
use crate::error::{Error, Result};
use crate::fields::{Fields, parse_uuid};
use crate::media::{
    self, audio, images, sniff,
    storage::{Folder, Stored, sanitize_file_name, small_avatar_url},
};
use crate::model::{Message, MessageType};
use crate::state::AppState;

/// Room for the multipart framing and the small fields around the file.
const MULTIPART_OVERHEAD: u64 = 256 * 1024;
const MAX_PROFILE_IMAGE: u64 = 5 * 1024 * 1024;
const MAX_TEXT_FIELD: usize = 64 * 1024;

/// The body limit of an upload route whose file may be `file_bytes` long.
pub fn body_limit(file_bytes: u64) -> u64 {
    file_bytes.saturating_add(MULTIPART_OVERHEAD)
}

pub fn router(max_upload: u64) -> OpenApiRouter<AppState> {
    let limit = |bytes: u64| {
        DefaultBodyLimit::max(usize::try_from(body_limit(bytes)).unwrap_or(usize::MAX))
    };
    OpenApiRouter::new()
        .routes(routes!(upload).layer(limit(max_upload)))
        .routes(routes!(waveform))
        .routes(routes!(profile_image, remove_profile_image).layer(limit(MAX_PROFILE_IMAGE)))
}

/// A temp file that is deleted unless it was moved into place.
struct Temp(Option<PathBuf>);

impl Temp {
    fn path(&self) -> Option<&std::path::Path> {
        self.0.as_deref()
    }

    fn keep(&mut self) {
        self.0 = None;
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        if let Some(path) = self.0.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(async move {
                let _ = tokio::fs::remove_file(path).await;
            });
        }
    }
}

/// A file part streamed to disk.
struct Received {
    temp: Temp,
    size: u64,
    head: Vec<u8>,
    name: Option<String>,
    declared_type: Option<String>,
}

fn too_large(limit: u64) -> Error {
    Error::TooLarge(format!("the file is larger than the limit of {limit} bytes").into())
}

fn multipart_error(e: axum::extract::multipart::MultipartError, limit: u64) -> Error {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large(limit)
    } else {
        Error::invalid("malformed multipart body")
    }
}

/// Refuses a body whose declared length is over the limit before reading
/// any of it; returns the declared length.
fn check_length(headers: &HeaderMap, limit: u64) -> Result<Option<u64>> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > body_limit(limit) => Err(too_large(limit)),
        _ => Ok(declared),
    }
}

async fn receive_file(
    state: &AppState,
    mut field: axum::extract::multipart::Field<'_>,
    limit: u64,
) -> Result<Received> {
    let name = field.file_name().map(str::to_owned);
    let declared_type = field.content_type().map(str::to_owned);
    let temp = Temp(Some(state.storage.temp_path()));
    let path = temp.path().map(PathBuf::from).unwrap_or_default();
    let io = |e: std::io::Error| Error::internal(format!("writing an upload: {e}"));
    let mut file = tokio::fs::File::create(&path).await.map_err(io)?;
    let (mut size, mut head) = (0u64, Vec::with_capacity(sniff::HEAD_BYTES));
    while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(e, limit))? {
        size += chunk.len() as u64;
        if size > limit {
            return Err(too_large(limit));
        }
        if head.len() < sniff::HEAD_BYTES {
            let take = (sniff::HEAD_BYTES - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..take]);
        }
        file.write_all(&chunk).await.map_err(io)?;
    }
    // The message is acknowledged only once its file is on disk too.
    file.sync_all().await.map_err(io)?;
    Ok(Received {
        temp,
        size,
        head,
        name,
        declared_type,
    })
}

async fn text_field(mut field: axum::extract::multipart::Field<'_>, limit: u64) -> Result<String> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(e, limit))? {
        bytes.extend_from_slice(&chunk);
        if bytes.len() > MAX_TEXT_FIELD {
            return Err(Error::invalid("a text field is too long"));
        }
    }
    String::from_utf8(bytes).map_err(|_| Error::invalid("text fields must be UTF-8"))
}

/// The message an upload became.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct Uploaded {
    message_id: Uuid,
    #[schema(required = true)]
    file_url: Option<String>,
    /// The server could not decode the audio: the client should send one.
    needs_waveform_generation: bool,
    message: Message,
}

/// Sends a file as a message: stored, sniffed (an image gets a thumbnail,
/// audio a waveform), then delivered like `message:send`.
#[utoipa::path(post, path = "/api/messages/upload", tag = "messages", security(("bearer" = [])),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 201, body = Uploaded), (status = 413, body = crate::error::ErrorBody)))]
async fn upload(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    headers: HeaderMap,
    multipart: std::result::Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<Uploaded>)> {
    let limit = state.config.max_upload_bytes;
    let declared = check_length(&headers, limit)?;
    state.chat.messages.admit_upload(me.id, declared).await?;
    let mut multipart =
        multipart.map_err(|_| Error::invalid("expected a multipart/form-data body"))?;
    let (mut file, mut recipient, mut kind, mut caption, mut reply) =
        (None, None, None, None, None);
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| multipart_error(e, limit))?
    {
        match field.name().unwrap_or_default() {
            "file" if file.is_none() => file = Some(receive_file(&state, field, limit).await?),
            "recipientId" => recipient = Some(text_field(field, limit).await?),
            "type" => kind = Some(text_field(field, limit).await?),
            "content" => caption = Some(text_field(field, limit).await?),
            "replyToId" => reply = Some(text_field(field, limit).await?),
            // Unknown parts are read and dropped (the body limit bounds them).
            _ => drop(text_field(field, limit).await),
        }
    }

    let kind = match kind.as_deref().map(MessageType::parse) {
        Some(Some(kind)) if kind != MessageType::Text => kind,
        _ => {
            return Err(Error::invalid_field(
                "type",
                "type must be image, file, audio or voice",
            ));
        }
    };
    let recipient = recipient
        .as_deref()
        .and_then(parse_uuid)
        .ok_or_else(|| Error::invalid_field("recipientId", "recipientId must be a user id"))?;
    let caption = caption.map(|c| c.trim().to_owned()).unwrap_or_default();
    let reply_to_id =
        match reply.as_deref().filter(|r| !r.is_empty()) {
            None => None,
            Some(r) => Some(parse_uuid(r).ok_or_else(|| {
                Error::invalid_field("replyToId", "replyToId must be a message id")
            })?),
        };
    if caption.chars().count() > validate::MAX_CONTENT_CHARS {
        return Err(Error::invalid_field(
            "content",
            "content is at most 10,000 characters",
        ));
    }
    let mut file =
        file.ok_or_else(|| Error::invalid_field("file", "multipart field \"file\" is required"))?;
    if file.size == 0 {
        return Err(Error::invalid_field("file", "the file is empty"));
    }
    let undeclared = declared.is_none().then_some(file.size);
    state
        .chat
        .messages
        .check_attachment(me.id, recipient, undeclared)
        .await?;

    let file_name = sanitize_file_name(file.name.as_deref().unwrap_or("file"));
    let stored = store_attachment(&state, kind, &mut file).await?;
    let needs_waveform = kind.is_audio() && stored.waveform.is_none();
    let urls: Vec<String> = [
        Some(stored.file.url.clone()),
        stored.thumbnail.as_ref().map(|t| t.url.clone()),
    ]
    .into_iter()
    .flatten()
    .collect();
    let attachment = Attachment {
        recipient_id: recipient,
        kind,
        caption,
        file_url: stored.file.url,
        file_name,
        file_size: i64::try_from(stored.size).unwrap_or(i64::MAX),
        file_type: stored.mime,
        waveform: stored.waveform,
        duration: stored.duration,
        thumbnail_url: stored.thumbnail.map(|t| t.url),
        reply_to_id,
    };
    match state.chat.messages.send_attachment(me.id, attachment).await {
        Ok(message) => Ok((
            {
                metrics::counter!(crate::telemetry::UPLOADS).increment(1);
                metrics::counter!(crate::telemetry::UPLOAD_BYTES)
                    .increment(u64::try_from(message.file_size.unwrap_or(0)).unwrap_or(0));
                StatusCode::CREATED
            },
            Json(Uploaded {
                message_id: message.id,
                file_url: message.file_url.clone(),
                needs_waveform_generation: needs_waveform,
                message,
            }),
        )),
        Err(e) => {
            for url in urls {
                state.storage.remove(&url).await;
            }
            Err(e)
        }
    }
}

/// What was kept of an upload.
struct StoredAttachment {
    file: Stored,
    size: u64,
    mime: String,
    thumbnail: Option<Stored>,
    waveform: Option<Vec<f32>>,
    duration: Option<f64>,
}

async fn store_attachment(
    state: &AppState,
    kind: MessageType,
    file: &mut Received,
) -> Result<StoredAttachment> {
    let storage = &state.storage;
    let id = Uuid::new_v4();
    let temp = file.temp.path().map(PathBuf::from).unwrap_or_default();
    match kind {
        MessageType::Image => {
            let detected = sniff::image(&file.head).ok_or_else(|| {
                Error::invalid_field("file", "the file is not a JPEG, PNG, GIF or WebP image")
            })?;
            let is_gif = detected.ext == "gif";
            let source = temp.clone();
            let processed = media::run(move || images::process_upload(&source, is_gif)).await?;
            let thumbnail = storage.allocate(Folder::Images, id, "_thumb", processed.thumbnail.ext);
            storage
                .write(&thumbnail, &processed.thumbnail.bytes)
                .await?;
            let (target, size, mime) = match processed.main {
                Some(main) => {
                    let target = storage.allocate(Folder::Images, id, "", main.ext);
                    storage.write(&target, &main.bytes).await?;
                    (target, main.bytes.len() as u64, main.mime)
                }
                None => {
                    let target = storage.allocate(Folder::Images, id, "", detected.ext);
                    storage.persist(&temp, &target).await?;
                    file.temp.keep();
                    (target, file.size, detected.mime)
                }
            };
            Ok(StoredAttachment {
                file: target,
                size,
                mime: mime.to_owned(),
                thumbnail: Some(thumbnail),
                waveform: None,
                duration: None,
            })
        }
        MessageType::Audio | MessageType::Voice => {
            let detected = sniff::audio(&file.head).ok_or_else(|| {
                Error::invalid_field("file", "the file is not a recognised audio file")
            })?;
            let source = temp.clone();
            let analysis = media::run(move || audio::analyze(&source, detected.ext)).await?;
            let target = storage.allocate(Folder::Audio, id, "", detected.ext);
            storage.persist(&temp, &target).await?;
            file.temp.keep();
            Ok(StoredAttachment {
                file: target,
                size: file.size,
                mime: detected.mime.to_owned(),
                thumbnail: None,
                waveform: analysis.waveform,
                duration: analysis.duration,
            })
        }
        MessageType::File | MessageType::Text => {
            // Shown to users only; files are always served as downloads.
            let mime = infer::get(&file.head)
                .map(|t| t.mime_type().to_owned())
                .or_else(|| file.declared_type.clone().filter(|t| is_plain_mime(t)))
                .unwrap_or_else(|| "application/octet-stream".to_owned());
            let target = storage.allocate(Folder::Files, id, "", "bin");
            storage.persist(&temp, &target).await?;
            file.temp.keep();
            Ok(StoredAttachment {
                file: target,
                size: file.size,
                mime,
                thumbnail: None,
                waveform: None,
                duration: None,
            })
        }
    }
}

/// `type/subtype` of reasonable characters, nothing else.
fn is_plain_mime(s: &str) -> bool {
    s.len() <= 100
        && s.split_once('/').is_some_and(|(a, b)| {
            let ok = |p: &str| {
                !p.is_empty()
                    && p.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
            };
            ok(a) && ok(b)
        })
}

/// The sender supplies the waveform the server could not compute.
#[utoipa::path(patch, path = "/api/messages/{id}/waveform", tag = "messages", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "an audio or voice message the caller sent")),
    request_body = WaveformUpdate,
    responses((status = 200, body = Message), (status = 404, body = crate::error::ErrorBody)))]
async fn waveform(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Message>> {
    let id = parse_uuid(&id).ok_or_else(|| Error::not_found("message not found"))?;
    let f = Fields::of(&body)?;
    let values = match f.get("waveform") {
        Some(Value::Array(values)) => values
            .iter()
            .map(|v| v.as_f64().map(|x| x as f32))
            .collect::<Option<Vec<f32>>>()
            .ok_or_else(|| {
                Error::invalid_field("waveform", "waveform must be an array of numbers")
            })?,
        _ => {
            return Err(Error::invalid_field(
                "waveform",
                "waveform must be an array of numbers",
            ));
        }
    };
    let duration = f
        .get("duration")
        .and_then(Value::as_f64)
        .ok_or_else(|| Error::invalid_field("duration", "duration must be a number"))?;
    Ok(Json(
        state
            .chat
            .messages
            .set_waveform(me.id, id, values, duration)
            .await?,
    ))
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct ProfileImage {
    profile_image: String,
}

/// Sets the caller's profile image (resized; a 64 px copy is kept too).
#[utoipa::path(post, path = "/api/users/profile-image", tag = "users", security(("bearer" = [])),
    request_body(content = ProfileImageForm, content_type = "multipart/form-data"),
    responses((status = 200, body = ProfileImage), (status = 413, body = crate::error::ErrorBody)))]
async fn profile_image(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    headers: HeaderMap,
    multipart: std::result::Result<Multipart, MultipartRejection>,
) -> Result<Json<ProfileImage>> {
    let declared = check_length(&headers, MAX_PROFILE_IMAGE)?;
    state
        .chat
        .accounts
        .admit_upload(me.id, declared.unwrap_or(MAX_PROFILE_IMAGE))
        .await?;
    let mut multipart =
        multipart.map_err(|_| Error::invalid("expected a multipart/form-data body"))?;
    let mut image = None;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| multipart_error(e, MAX_PROFILE_IMAGE))?
    {
        if field.name() == Some("image") && image.is_none() {
            image = Some(receive_file(&state, field, MAX_PROFILE_IMAGE).await?);
        } else {
            drop(text_field(field, MAX_PROFILE_IMAGE).await);
        }
    }
    let image = image
        .ok_or_else(|| Error::invalid_field("image", "multipart field \"image\" is required"))?;
    if sniff::image(&image.head).is_none() {
        return Err(Error::invalid_field(
            "image",
            "the image must be a JPEG, PNG, GIF or WebP file",
        ));
    }
    let source = image.temp.path().map(PathBuf::from).unwrap_or_default();
    let (large, small) = media::run(move || images::avatars(&source)).await?;
    let id = Uuid::new_v4();
    let large_target = state.storage.allocate(Folder::Profiles, id, "", large.ext);
    let small_target = state
        .storage
        .allocate(Folder::Profiles, id, "_64", small.ext);
    state.storage.write(&large_target, &large.bytes).await?;
    state.storage.write(&small_target, &small.bytes).await?;
    let previous = state
        .chat
        .accounts
        .set_profile_image(me.id, Some(large_target.url.clone()))
        .await?;
    remove_avatar(&state, previous).await;
    Ok(Json(ProfileImage {
        profile_image: large_target.url,
    }))
}

#[utoipa::path(delete, path = "/api/users/profile-image", tag = "users", security(("bearer" = [])),
    responses((status = 204, description = "removed")))]
async fn remove_profile_image(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
) -> Result<StatusCode> {
    let previous = state.chat.accounts.set_profile_image(me.id, None).await?;
    remove_avatar(&state, previous).await;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_avatar(state: &AppState, url: Option<String>) {
    if let Some(url) = url {
        if let Some(small) = small_avatar_url(&url) {
            state.storage.remove(&small).await;
        }
        state.storage.remove(&url).await;
    }
}
