//! Reads on the hot paths of SQLite, made where they are asked for.
//!
//! The pool (sqlx) runs every SQLite statement on a thread of its own and
//! hands the rows back: two wake-ups per query, which cost several times
//! what an indexed lookup of a few rows does. The reads a connecting
//! session makes (its account and contacts, the horizon, the first page of
//! its backlog) go through these connections instead, on the runtime
//! thread that asks, like the inline writer's commits. Only short indexed
//! reads belong here; anything that scans stays on the pool.
//!
//! WAL readers take no lock a writer holds, so a read here does not wait
//! for the writer; the short busy timeout covers the rare moments a
//! reader must wait for the log's index to settle.

use std::path::Path;
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};

use crate::error::{Error, Result};

/// Connections: more than one only helps a runtime with several workers.
const CONNECTIONS: usize = 2;

pub(super) struct Reader {
    conns: Vec<Mutex<Connection>>,
}

impl Reader {
    pub(super) fn open(path: &Path) -> Result<Self> {
        let conns = (0..CONNECTIONS)
            .map(|_| {
                let conn = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                conn.busy_timeout(Duration::from_millis(50))?;
                // Without the query planner's stability guarantee, SQLite
                // plans these statements for the values bound to them (it
                // checks whether a partial index applies) and so prepares
                // them again for every new binding: once per connect.
                conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
                conn.set_prepared_statement_cache_capacity(16);
                Ok(Mutex::new(conn))
            })
            .collect::<rusqlite::Result<_>>()
            .map_err(read_error)?;
        Ok(Self { conns })
    }

    /// Runs `read` on a free connection (or waits for the first).
    pub(super) fn read<T>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let conn = self.free();
        read(&conn).map_err(read_error)
    }

    fn free(&self) -> MutexGuard<'_, Connection> {
        for conn in &self.conns {
            match conn.try_lock() {
                Ok(guard) => return guard,
                Err(TryLockError::Poisoned(p)) => return p.into_inner(),
                Err(TryLockError::WouldBlock) => {}
            }
        }
        self.conns[0]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn read_error(e: rusqlite::Error) -> Error {
    Error::internal(format!("database: {e}"))
}
