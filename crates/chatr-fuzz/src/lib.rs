//! Fuzz targets: everything Chatr reads from bytes a stranger chooses. Each
//! target takes any bytes and must neither panic nor hang nor grow memory
//! without bound; what it finds is fixed and its input kept in `corpus/`.
//!
//! - `cargo test -p chatr-fuzz` (part of `make test`) replays the corpus and
//!   then feeds each target random inputs for a bounded time
//!   (`FUZZ_BUDGET_MS` per target, 1,500 by default).
//! - `make fuzz TARGET=<name>` runs one target under AFL++ (coverage-guided,
//!   stable toolchain, `cargo afl`) for as long as it is left running.

use std::io::Write;

use chatr::protocol::ClientEvent;
use chatr::realtime::command;
use chatr_sio::eio::frame::Decoder;

/// A fuzz target: any bytes in, nothing out, no panic.
pub type Target = fn(&[u8]);

/// Every target by name, as `corpus/<name>/` and `make fuzz TARGET=` know them.
pub const TARGETS: [(&str, Target); 7] = [
    ("ws_frames", ws_frames),
    ("engineio_payload", engineio_payload),
    ("socketio_packet", socketio_packet),
    ("event_payload", event_payload),
    ("multipart", multipart),
    ("image", image),
    ("audio", audio),
];

pub fn target(name: &str) -> Option<Target> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// WebSocket framing, the bytes cut into reads of every size from the first byte.
pub fn ws_frames(data: &[u8]) {
    let Some((&cut, rest)) = data.split_first() else {
        return;
    };
    let step = usize::from(cut).max(1);
    let mut decoder = Decoder::new(64 * 1024);
    for chunk in rest.chunks(step) {
        let mut chunk = chunk.to_vec();
        if decoder.feed(&mut chunk, &mut |_| true).is_err() {
            return;
        }
    }
}

/// An Engine.IO long-polling body.
pub fn engineio_payload(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for packet in chatr_sio::eio::packet::decode_payload(&text) {
        let _ = packet.is_ok();
    }
    let _ = chatr_sio::eio::packet::decode_text(&text);
}

/// A Socket.IO packet in an Engine.IO message.
pub fn socketio_packet(data: &[u8]) {
    let _ = chatr_sio::fuzzing::socketio_packet(&String::from_utf8_lossy(data));
}

/// An event's payload: the first byte picks the event, the rest is its JSON.
pub fn event_payload(data: &[u8]) {
    let Some((&which, json)) = data.split_first() else {
        return;
    };
    let event = ClientEvent::ALL[usize::from(which) % ClientEvent::ALL.len()];
    let general = serde_json::from_slice::<serde_json::Value>(json)
        .ok()
        .map(|value| command::parse(event, &value));
    // The quick reading of the frequent events takes a payload only as the
    // general one does.
    if let Some(quick) = std::str::from_utf8(json)
        .ok()
        .and_then(|raw| command::parse_quick(event, raw))
    {
        assert_eq!(
            general.and_then(Result::ok),
            Some(quick),
            "quick reading differs"
        );
    }
}

/// A multipart upload body (boundary `B`), read as the upload handler reads it.
pub fn multipart(data: &[u8]) {
    use axum::extract::{FromRequest, Multipart};
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().build() else {
        return;
    };
    runtime.block_on(async {
        let request = axum::http::Request::builder()
            .header("content-type", "multipart/form-data; boundary=B")
            .body(axum::body::Body::from(bytes::Bytes::copy_from_slice(data)));
        let Ok(request) = request else { return };
        let Ok(mut multipart) = Multipart::from_request(request, &()).await else {
            return;
        };
        while let Ok(Some(mut field)) = multipart.next_field().await {
            let _ = (field.name().map(str::len), field.file_name().map(str::len));
            while let Ok(Some(_)) = field.chunk().await {}
        }
    });
}

fn with_file(data: &[u8], f: impl FnOnce(&std::path::Path)) {
    let Ok(mut file) = tempfile::NamedTempFile::new() else {
        return;
    };
    if file.write_all(data).is_ok() {
        f(file.path());
    }
}

/// An image upload: decoded (within the pixel budget), previews, avatars.
pub fn image(data: &[u8]) {
    with_file(data, |path| {
        let _ = chatr::media::images::process_upload(path, data.starts_with(b"GIF"));
        let _ = chatr::media::images::avatars(path);
    });
}

/// An audio upload: probed, measured, its waveform decoded.
pub fn audio(data: &[u8]) {
    let Some(ext) = chatr::media::sniff::audio(data).map(|d| d.ext) else {
        return;
    };
    with_file(data, |path| {
        let _ = chatr::media::audio::analyze(path, ext);
    });
}
