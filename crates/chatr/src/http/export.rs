//! `GET /api/users/me/export`: a ZIP of the caller's own data, written as it
//! streams out (never built in memory): `profile.json`, `messages.json`
//! (every message they sent or received, as `Message`, oldest first, read a
//! page at a time) and `files/` (the files they sent, under their names).

use std::io::Write;

use axum::{
    body::Body,
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use tokio::sync::mpsc;
use zip::{CompressionMethod, ZipWriter, write::SimpleFileOptions};

use crate::auth::AuthUser;
use crate::error::{Error, Result};
use crate::media::storage::sanitize_file_name;
use crate::model::UserRecord;
use crate::state::AppState;

/// Messages read per page.
const PAGE: usize = 200;
/// Chunks of the ZIP waiting for the client: back-pressure, so a slow
/// reader holds the writer, not the server's memory.
const CHUNKS: usize = 8;

/// Hands what the ZIP writer produces to the response body.
struct Sink {
    tx: mpsc::Sender<std::io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl Write for Sink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 64 * 1024 {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.buf));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
        })
    }
}

#[utoipa::path(get, path = "/api/users/me/export", tag = "users", security(("bearer" = [])),
    responses((status = 200, description = "a ZIP: profile.json, messages.json, files/",
        content_type = "application/zip", body = Vec<u8>)))]
pub async fn export(State(state): State<AppState>, AuthUser(me): AuthUser) -> Result<Response> {
    state.chat.messages.admit_export(me.id).await?;
    let positions = state.chat.store().positions_of(me.id).await?;
    let files = state.chat.store().files_sent_by(me.id).await?;
    let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(CHUNKS);
    let runtime = tokio::runtime::Handle::current();
    let failed = tx.clone();
    let name = format!("attachment; filename=\"chatr-{}.zip\"", me.username);
    tokio::task::spawn_blocking(move || {
        let sink = Sink {
            tx,
            buf: Vec::new(),
        };
        if let Err(e) = write_zip(&runtime, &state, &me, &positions, &files, sink) {
            tracing::warn!(error = %e, "export stopped");
            let _ = failed.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    let stream =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    if let Ok(v) = HeaderValue::from_str(&name) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

fn write_zip(
    runtime: &tokio::runtime::Handle,
    state: &AppState,
    me: &UserRecord,
    positions: &[i64],
    files: &[(String, String)],
    sink: Sink,
) -> Result<()> {
    let zip_error = |e: zip::result::ZipError| Error::internal(format!("writing the export: {e}"));
    let io_error = |e: std::io::Error| Error::internal(format!("writing the export: {e}"));
    let mut zip = ZipWriter::new_stream(sink);
    let text = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    // Media is compressed already.
    let stored = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .large_file(true);

    let profile = runtime.block_on(state.chat.sessions.user_view(me.clone(), me.id))?;
    zip.start_file("profile.json", text).map_err(zip_error)?;
    serde_json::to_writer_pretty(&mut zip, &profile).map_err(|e| Error::internal(e.to_string()))?;

    zip.start_file("messages.json", text).map_err(zip_error)?;
    zip.write_all(b"[").map_err(io_error)?;
    let mut first = true;
    for page in positions.chunks(PAGE) {
        let messages = runtime.block_on(state.chat.store().messages_at(page))?;
        for message in &messages {
            if !first {
                zip.write_all(b",").map_err(io_error)?;
            }
            first = false;
            zip.write_all(b"\n").map_err(io_error)?;
            serde_json::to_writer(&mut zip, message).map_err(|e| Error::internal(e.to_string()))?;
        }
    }
    zip.write_all(b"\n]\n").map_err(io_error)?;

    let mut names = std::collections::HashSet::new();
    for (url, name) in files {
        let Some(path) = state.storage.resolve(url) else {
            continue;
        };
        let Ok(mut file) = std::fs::File::open(&path) else {
            continue;
        };
        // Two files of one name both arrive: the later ones get a number.
        let base = sanitize_file_name(name);
        let mut entry = format!("files/{base}");
        let mut n = 1;
        while !names.insert(entry.clone()) {
            n += 1;
            entry = format!("files/{n}-{base}");
        }
        zip.start_file(entry, stored).map_err(zip_error)?;
        std::io::copy(&mut file, &mut zip).map_err(io_error)?;
    }
    let mut sink = zip.finish().map_err(zip_error)?;
    sink.flush().map_err(io_error)?;
    Ok(())
}
