//! Where uploaded files live: a local directory today, behind this one small
//! interface so that a deployment can swap in shared or object storage.
//! Stored names are random UUIDs; a client's file name never becomes a path.

use std::path::{Path, PathBuf};

use uuid::Uuid;

use crate::error::{Error, Result};

/// The folders under `uploads/`, one per kind of file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Folder {
    Images,
    Files,
    Audio,
    Profiles,
}

impl Folder {
    pub fn name(self) -> &'static str {
        match self {
            Self::Images => "images",
            Self::Files => "files",
            Self::Audio => "audio",
            Self::Profiles => "profiles",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "images" => Self::Images,
            "files" => Self::Files,
            "audio" => Self::Audio,
            "profiles" => Self::Profiles,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug)]
pub struct Storage {
    root: PathBuf,
}

/// A stored file's public URL (`/uploads/<folder>/<name>`) and its path on disk.
#[derive(Clone, Debug)]
pub struct Stored {
    pub url: String,
    pub path: PathBuf,
}

impl Storage {
    /// `root` is `<data dir>/uploads`; its folders are created here, and
    /// uploads a crash left half-written are removed.
    pub fn open(root: PathBuf) -> Result<Self> {
        for dir in ["images", "files", "audio", "profiles", ".tmp"] {
            std::fs::create_dir_all(root.join(dir)).map_err(|e| {
                Error::internal(format!("creating {}: {e}", root.join(dir).display()))
            })?;
        }
        let tmp = root.join(".tmp");
        let mut left = 0;
        for entry in std::fs::read_dir(&tmp).into_iter().flatten().flatten() {
            if std::fs::remove_file(entry.path()).is_ok() {
                left += 1;
            }
        }
        if left > 0 {
            tracing::info!(files = left, "removed unfinished uploads left from before");
        }
        Ok(Self { root })
    }

    /// A fresh path for an upload in progress (same filesystem, so it can be renamed into place).
    pub fn temp_path(&self) -> PathBuf {
        self.root.join(".tmp").join(Uuid::new_v4().to_string())
    }

    /// A new random name in `folder` (`<uuid><suffix>.<ext>`), not yet written.
    pub fn allocate(&self, folder: Folder, id: Uuid, suffix: &str, ext: &str) -> Stored {
        let name = format!("{id}{suffix}.{ext}");
        Stored {
            url: format!("/uploads/{}/{name}", folder.name()),
            path: self.root.join(folder.name()).join(name),
        }
    }

    /// Writes bytes the server made (a re-encoded image, a preview) to their
    /// place, on disk before this returns.
    pub async fn write(&self, target: &Stored, bytes: &[u8]) -> Result<()> {
        use tokio::io::AsyncWriteExt;
        let io = |e: std::io::Error| Error::internal(format!("storing a file: {e}"));
        let mut file = tokio::fs::File::create(&target.path).await.map_err(io)?;
        file.write_all(bytes).await.map_err(io)?;
        file.sync_all().await.map_err(io)
    }

    /// Moves a finished temp file to its final place.
    pub async fn persist(&self, temp: &Path, target: &Stored) -> Result<()> {
        tokio::fs::rename(temp, &target.path)
            .await
            .map_err(|e| Error::internal(format!("storing an upload: {e}")))
    }

    /// Deletes the file behind a public URL; a missing file is not an error.
    pub async fn remove(&self, url: &str) {
        if let Some(path) = self.resolve(url)
            && let Err(e) = tokio::fs::remove_file(&path).await
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(error = %e, "removing a stored file");
        }
    }

    /// The file behind `/uploads/<folder>/<name>`, for names this storage makes
    /// only: anything else (other folders, `..`, odd characters) is `None`.
    pub fn resolve(&self, url: &str) -> Option<PathBuf> {
        let rest = url.strip_prefix("/uploads/")?;
        let (folder, name) = rest.split_once('/')?;
        let folder = Folder::parse(folder)?;
        let (stem, ext) = name.split_once('.')?;
        let id = stem.split_once('_').map_or(stem, |(id, _)| id);
        let suffix_ok = stem[id.len()..]
            .chars()
            .all(|c| c == '_' || c.is_ascii_alphanumeric());
        let ext_ok =
            !ext.is_empty() && ext.len() <= 5 && ext.chars().all(|c| c.is_ascii_alphanumeric());
        if crate::fields::parse_uuid(id).is_none() || !suffix_ok || !ext_ok {
            return None;
        }
        Some(self.root.join(folder.name()).join(name))
    }
}

/// Makes a client's file name safe to show and to put in `Content-Disposition`:
/// no path, no control characters, at most 255 bytes, never empty.
/// The small avatar that sits beside `/uploads/profiles/<id>.<ext>`.
pub fn small_avatar_url(url: &str) -> Option<String> {
    let rest = url.strip_prefix("/uploads/profiles/")?;
    let (stem, ext) = rest.rsplit_once('.')?;
    Some(format!("/uploads/profiles/{stem}_64.{ext}"))
}

/// Characters that reorder the text around them (and so can disguise it).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
}

pub fn sanitize_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    // Control characters and directional overrides never reach a name:
    // `report\u{202e}gpj.exe` would show as "reportexe.jpg".
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && !is_bidi_control(*c))
        .map(|c| {
            if matches!(c, '"' | '<' | '>' | ':' | '|' | '?' | '*') {
                '_'
            } else {
                c
            }
        })
        .collect();
    let trimmed = cleaned.trim().trim_start_matches('.');
    let mut out = String::new();
    for c in trimmed.chars() {
        if out.len() + c.len_utf8() > 255 {
            break;
        }
        out.push(c);
    }
    if out.is_empty() {
        "file".to_owned()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_made_by_the_storage_resolve() {
        let s = Storage {
            root: PathBuf::from("/data/uploads"),
        };
        let id = Uuid::new_v4();
        assert!(s.resolve(&format!("/uploads/images/{id}.jpg")).is_some());
        assert!(
            s.resolve(&format!("/uploads/images/{id}_thumb.jpg"))
                .is_some()
        );
        for bad in [
            "/uploads/../chatr.db".to_owned(),
            format!("/uploads/.tmp/{id}"),
            format!("/uploads/images/../../{id}.jpg"),
            format!("/uploads/images/{id}.jpg/../x"),
            "/uploads/images/passwd.jpg".to_owned(),
            format!("/uploads/images/{id}"),
        ] {
            assert!(s.resolve(&bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn client_file_names_are_sanitised() {
        assert_eq!(sanitize_file_name("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_file_name("report\u{202e}gpj.exe"), "reportgpj.exe");
        assert_eq!(sanitize_file_name("a/b"), "b");
        assert_eq!(sanitize_file_name("C:\\x\\report.pdf"), "report.pdf");
        assert_eq!(sanitize_file_name("evil\0name\n.txt"), "evilname.txt");
        assert_eq!(sanitize_file_name(""), "file");
        assert_eq!(sanitize_file_name("..."), "file");
        assert!(sanitize_file_name(&"é".repeat(300)).len() <= 255);
    }
}
