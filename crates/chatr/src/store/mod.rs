//! Database access. Reads go through a pool; every write that a hot path makes
//! goes through one writer thread that commits concurrent writes together
//! ([`writer`]), so a message is durable before it is acknowledged without
//! paying one fsync per message.

mod media;
mod messages;
mod rows;
mod users;
pub mod writer;

use std::{str::FromStr, time::Duration};

use sqlx::{
    SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use crate::config::Synchronous;
use crate::error::{Error, Result};

pub use messages::HistoryCursor;
pub use users::NewUser;
pub use writer::Writer;

#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
    writer: Writer,
}

impl Store {
    /// Opens (creating if needed) the database, applies migrations and starts the writer.
    pub async fn open(url: &str, synchronous: Synchronous) -> Result<Self> {
        let url = url
            .strip_prefix("sqlite:")
            .map(|rest| format!("sqlite:{rest}"))
            .ok_or_else(|| {
                Error::internal(
                    "DATABASE_URL must start with sqlite:// (PostgreSQL is not built in yet)",
                )
            })?;
        let options = SqliteConnectOptions::from_str(&url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match synchronous {
                Synchronous::Normal => SqliteSynchronous::Normal,
                Synchronous::Full => SqliteSynchronous::Full,
            })
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            .pragma("temp_store", "memory");
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(1)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| Error::internal(format!("migration failed: {e}")))?;
        let writer =
            Writer::start(options.get_filename().to_owned(), synchronous, pool.clone()).await?;
        Ok(Self { pool, writer })
    }

    pub fn writer(&self) -> &Writer {
        &self.writer
    }

    /// Whether the database answers (for `/api/health`).
    pub async fn ping(&self) -> bool {
        sqlx::query("select 1").execute(&self.pool).await.is_ok()
    }

    /// Finishes every queued write, then closes the database.
    pub async fn close(&self) {
        self.writer.shutdown().await;
        self.pool.close().await;
    }
}
