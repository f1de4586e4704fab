//! `chatr backup FILE` and `chatr restore FILE`: a consistent copy of a
//! running server's data, and bringing it back into an empty data dir.
//!
//! The copy is one ZIP: `chatr.db` (SQLite's `VACUUM INTO`, which reads one
//! snapshot while the server goes on writing: every message committed before
//! the backup began is in it), the generated secrets of the data dir (so
//! that tokens stay valid), `uploads/` (stored, not compressed again) and a
//! `manifest.json`. The search index (`chatr-search.db`) is left out: it is
//! built again from the messages when the server starts. The database is
//! copied first and the files after, so a
//! file the copy's database refers to is there unless its owner deleted it
//! meanwhile. With PostgreSQL the database is not in the ZIP: `pg_dump`
//! copies it (`docs/deploy.md`), and the ZIP carries the files.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use serde_json::json;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use crate::config::Config;

/// Files of the data dir, besides the database and uploads, that a restore needs.
const SECRETS: &[&str] = &["jwt_secret", crate::push::keys::KEY_FILE];
const DATABASE: &str = "chatr.db";
const UPLOADS: &str = "uploads";
/// Uploads in progress; not part of a backup.
const IN_PROGRESS: &str = ".tmp";

#[derive(Debug)]
pub struct Summary {
    pub database: bool,
    pub files: u64,
    pub bytes: u64,
}

/// What went wrong, said for an operator.
#[derive(Debug)]
pub struct Failed(pub String);

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn failed(what: impl std::fmt::Display, e: impl std::fmt::Display) -> Failed {
    Failed(format!("{what}: {e}"))
}

/// The SQLite file the configuration names; `None` for PostgreSQL.
fn sqlite_file(config: &Config) -> Result<Option<PathBuf>, Failed> {
    crate::config::sqlite_file(&config.database_url()).map_err(Failed)
}

/// Writes the backup of `config`'s data to `out` (through a temporary file
/// beside it, renamed at the end: a failed backup leaves nothing half-written).
pub fn backup(config: &Config, out: &Path) -> Result<Summary, Failed> {
    let partial = with_suffix(out, ".partial");
    let snapshot = with_suffix(out, ".db-snapshot");
    let result = write_backup(config, &partial, &snapshot);
    let _ = std::fs::remove_file(&snapshot);
    match result {
        Ok(summary) => {
            std::fs::rename(&partial, out).map_err(|e| failed(out.display(), e))?;
            Ok(summary)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn write_backup(config: &Config, partial: &Path, snapshot: &Path) -> Result<Summary, Failed> {
    let database = sqlite_file(config)?;
    if let Some(db) = &database {
        if !db.exists() {
            return Err(Failed(format!("no database at {}", db.display())));
        }
        let _ = std::fs::remove_file(snapshot);
        let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| failed(db.display(), e))?;
        conn.busy_timeout(Duration::from_secs(30))
            .map_err(|e| failed("busy timeout", e))?;
        let target = snapshot
            .to_str()
            .ok_or_else(|| Failed("the backup's path must be UTF-8".into()))?;
        conn.execute("vacuum into ?1", [target])
            .map_err(|e| failed("copying the database", e))?;
    }
    let file = File::create(partial).map_err(|e| failed(partial.display(), e))?;
    let mut zip = ZipWriter::new(BufWriter::new(file));
    let deflated = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .large_file(true);
    let stored = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .large_file(true);
    let mut summary = Summary {
        database: database.is_some(),
        files: 0,
        bytes: 0,
    };
    let manifest = json!({
        "format": 1,
        "createdAt": crate::clock::now(),
        "database": if database.is_some() { "sqlite" } else { "postgresql: not included, use pg_dump" },
        "chatr": env!("CARGO_PKG_VERSION"),
    });
    zip.start_file("manifest.json", deflated)
        .and_then(|()| {
            zip.write_all(manifest.to_string().as_bytes())
                .map_err(Into::into)
        })
        .map_err(|e| failed("writing the backup", e))?;
    if database.is_some() {
        add_file(&mut zip, DATABASE, snapshot, deflated)?;
    }
    for name in SECRETS {
        let path = config.data_dir.join(name);
        if path.exists() {
            add_file(&mut zip, name, &path, deflated)?;
        }
    }
    let uploads = config.data_dir.join(UPLOADS);
    if uploads.is_dir() {
        let mut files = Vec::new();
        walk(&uploads, &mut files).map_err(|e| failed(uploads.display(), e))?;
        for path in files {
            let Ok(relative) = path.strip_prefix(&config.data_dir) else {
                continue;
            };
            let Some(name) = relative.to_str() else {
                continue;
            };
            summary.bytes += add_file(&mut zip, name, &path, stored)?;
            summary.files += 1;
        }
    }
    let mut out = zip
        .finish()
        .map_err(|e| failed("finishing the backup", e))?;
    out.flush().map_err(|e| failed("writing the backup", e))?;
    out.get_ref()
        .sync_all()
        .map_err(|e| failed("writing the backup", e))?;
    Ok(summary)
}

/// Every regular file under `dir`, uploads in progress left out.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let path = entry.path();
        if kind.is_dir() {
            if entry.file_name() != IN_PROGRESS {
                walk(&path, out)?;
            }
        } else if kind.is_file() {
            out.push(path);
        }
    }
    Ok(())
}

fn add_file<W: Write + io::Seek>(
    zip: &mut ZipWriter<W>,
    name: &str,
    path: &Path,
    options: SimpleFileOptions,
) -> Result<u64, Failed> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        // Deleted since it was listed (an unsent message's file): not an error.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(failed(path.display(), e)),
    };
    zip.start_file(name, options)
        .map_err(|e| failed("writing the backup", e))?;
    io::copy(&mut file, zip).map_err(|e| failed(path.display(), e))
}

/// Brings backup `file` into the configured data dir, which must hold no
/// database and no uploads yet; with PostgreSQL only the files come back.
pub fn restore(config: &Config, file: &Path) -> Result<Summary, Failed> {
    let database = sqlite_file(config)?;
    let dir = &config.data_dir;
    if let Some(db) = &database
        && db.exists()
    {
        return Err(Failed(format!(
            "{} exists: restore into an empty data dir",
            db.display()
        )));
    }
    let uploads = dir.join(UPLOADS);
    if uploads.is_dir() && std::fs::read_dir(&uploads).is_ok_and(|mut d| d.next().is_some()) {
        return Err(Failed(format!(
            "{} is not empty: restore into an empty data dir",
            uploads.display()
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| failed(dir.display(), e))?;
    let mut zip = File::open(file)
        .and_then(|f| ZipArchive::new(f).map_err(io::Error::other))
        .map_err(|e| failed(file.display(), e))?;
    let mut summary = Summary {
        database: false,
        files: 0,
        bytes: 0,
    };
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| failed(file.display(), e))?;
        if entry.is_dir() {
            continue;
        }
        // Only names a backup writes, and never one that leaves the data dir.
        let Some(name) = entry.enclosed_name() else {
            return Err(Failed(format!(
                "{}: an entry leaves the data dir",
                file.display()
            )));
        };
        let target = if name == Path::new(DATABASE) {
            match &database {
                Some(db) => {
                    summary.database = true;
                    db.clone()
                }
                None => continue,
            }
        } else if SECRETS.iter().any(|s| name == Path::new(s)) {
            dir.join(&name)
        } else if name.starts_with(UPLOADS)
            && name.components().all(|c| matches!(c, Component::Normal(_)))
        {
            summary.files += 1;
            dir.join(&name)
        } else {
            continue;
        };
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| failed(parent.display(), e))?;
        }
        let mut out = File::create(&target).map_err(|e| failed(target.display(), e))?;
        let n = io::copy(&mut entry, &mut out).map_err(|e| failed(target.display(), e))?;
        out.sync_all().map_err(|e| failed(target.display(), e))?;
        if target.starts_with(&uploads) {
            summary.bytes += n;
        }
        if SECRETS.iter().any(|s| name == Path::new(s)) {
            restrict(&target);
        }
    }
    if let Some(db) = database.filter(|_| summary.database) {
        let conn = Connection::open(&db).map_err(|e| failed(db.display(), e))?;
        let check: String = conn
            .query_row("pragma quick_check", [], |r| r.get(0))
            .map_err(|e| failed("checking the restored database", e))?;
        if check != "ok" {
            return Err(Failed(format!("the restored database is damaged: {check}")));
        }
        // The search index is not in a backup: whatever index lies here
        // belongs to another database, and the server builds it again.
        let search = crate::store::search_file(&db);
        for suffix in ["", "-wal", "-shm"] {
            let mut name = search.as_os_str().to_owned();
            name.push(suffix);
            match std::fs::remove_file(&name) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(failed(Path::new(&name).display(), e)),
            }
        }
    }
    Ok(summary)
}

#[cfg(unix)]
fn restrict(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
}

#[cfg(not(unix))]
fn restrict(_: &Path) {}
