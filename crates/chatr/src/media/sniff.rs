//! Recognising uploads by their first bytes.

/// What an upload turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Detected {
    pub mime: &'static str,
    pub ext: &'static str,
}

/// Every format Chatr stores, by the extension it stores it under.
const STORED: &[(&str, &str)] = &[
    ("jpg", "image/jpeg"),
    ("png", "image/png"),
    ("gif", "image/gif"),
    ("webp", "image/webp"),
    ("webm", "audio/webm"),
    ("mka", "audio/x-matroska"),
    ("m4a", "audio/mp4"),
    ("ogg", "audio/ogg"),
    ("mp3", "audio/mpeg"),
    ("wav", "audio/wav"),
    ("flac", "audio/flac"),
    ("aac", "audio/aac"),
];

/// The content type a stored extension is served with.
pub fn mime_of(ext: &str) -> Option<&'static str> {
    STORED.iter().find(|(e, _)| *e == ext).map(|(_, m)| *m)
}

fn stored(ext: &'static str) -> Option<Detected> {
    mime_of(ext).map(|mime| Detected { mime, ext })
}

/// Bytes needed to recognise every accepted format.
pub const HEAD_BYTES: usize = 8192;

/// JPEG, PNG, GIF or WebP.
pub fn image(head: &[u8]) -> Option<Detected> {
    stored(match infer::get(head)?.mime_type() {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/gif" => "gif",
        "image/webp" => "webp",
        _ => return None,
    })
}

/// An audio container: WebM/Matroska (Chrome's MediaRecorder), MP4/M4A
/// (Safari), Ogg, MP3, WAV, FLAC, AAC (ADTS). Whether it really holds audio
/// is decided by the demuxer afterwards.
pub fn audio(head: &[u8]) -> Option<Detected> {
    stored(match infer::get(head)?.mime_type() {
        "video/webm" | "audio/webm" => "webm",
        "video/x-matroska" | "audio/x-matroska" => "mka",
        "audio/m4a" | "audio/mp4" | "video/mp4" | "video/quicktime" | "audio/x-m4a" => "m4a",
        "audio/ogg" | "audio/opus" | "audio/x-opus+ogg" | "video/ogg" => "ogg",
        "audio/mpeg" => "mp3",
        "audio/x-wav" | "audio/wav" => "wav",
        "audio/x-flac" | "audio/flac" => "flac",
        "audio/aac" => "aac",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_recognised_by_their_bytes() {
        assert_eq!(
            image(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").map(|d| d.ext),
            Some("png")
        );
        assert_eq!(
            image(b"\xff\xd8\xff\xe0\0\x10JFIF\0").map(|d| d.ext),
            Some("jpg")
        );
        assert_eq!(image(b"GIF89a\x01\0\x01\0"), image(b"GIF89a\x01\0\x01\0"));
        assert_eq!(image(b"<html><script>alert(1)</script>"), None);
        assert_eq!(
            image(b"RIFF\x24\0\0\0WAVEfmt "),
            None,
            "a WAV is not an image"
        );
    }

    #[test]
    fn audio_containers_are_recognised_by_their_bytes() {
        assert_eq!(
            audio(b"RIFF\x24\0\0\0WAVEfmt \x10\0\0\0").map(|d| d.ext),
            Some("wav")
        );
        assert_eq!(
            audio(b"OggS\0\x02\0\0\0\0\0\0\0\0").map(|d| d.ext),
            Some("ogg")
        );
        assert_eq!(audio(b"fLaC\0\0\0\x22").map(|d| d.ext), Some("flac"));
        assert_eq!(audio(b"ID3\x04\0\0\0\0\0\0").map(|d| d.ext), Some("mp3"));
        assert_eq!(audio(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), None);
    }
}
