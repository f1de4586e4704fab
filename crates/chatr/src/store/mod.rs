//! Database access. Reads go through a pool, except the few on the hot paths
//! of SQLite, which are made inline ([`reader`]); every write that a hot path
//! makes goes through one writer that commits concurrent writes together
//! ([`writer`]), so a message is durable before it is acknowledged without
//! paying one fsync per message.

mod accounts;
pub mod admin;
mod indexer;
mod media;
mod messages;
mod priority;
pub mod push;
mod reader;
mod relations;
mod rows;
pub mod search;
mod tokens;
mod users;
pub mod writer;

use sqlx::{
    AnyPool, Connection, Executor,
    any::AnyPoolOptions,
    sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode},
};

use crate::config::Synchronous;
use crate::error::{Error, Result};

pub use indexer::file_of as search_file;
pub use messages::HistoryCursor;
pub use users::NewUser;
pub use writer::Writer;

/// Which database engine a store runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    writer: Writer,
    backend: Backend,
    /// SQLite: the hot paths' reads, made inline.
    reader: Option<std::sync::Arc<reader::Reader>>,
    /// SQLite: keeps the search index (a file of its own) up to date.
    indexer: Option<std::sync::Arc<indexer::Indexer>>,
}

impl Store {
    /// Opens the database named by `url` (`sqlite://…` or `postgres://…`),
    /// creating an SQLite file if needed, applies migrations and starts the writer.
    pub async fn open(url: &str, synchronous: Synchronous) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let Some(path) = crate::config::sqlite_file(url).map_err(Error::internal)? else {
            return Self::open_postgres(url).await;
        };
        // Create the file and switch it to WAL once; the pool's connections
        // then set their per-connection pragmas.
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal);
        SqliteConnection::connect_with(&options)
            .await?
            .close()
            .await?;
        let search = indexer::create(&path)?;
        let search_file = search.to_string_lossy().into_owned();
        let pragmas: &'static str = match synchronous {
            Synchronous::Normal => {
                "pragma foreign_keys = on; pragma busy_timeout = 10000; \
                 pragma synchronous = normal; pragma temp_store = memory;"
            }
            Synchronous::Full => {
                "pragma foreign_keys = on; pragma busy_timeout = 10000; \
                 pragma synchronous = full; pragma temp_store = memory;"
            }
        };
        let pool = AnyPoolOptions::new()
            .max_connections(4)
            .min_connections(1)
            .after_connect(move |conn, _| {
                let search_file = search_file.clone();
                Box::pin(async move {
                    conn.execute(pragmas).await?;
                    sqlx::query("attach database $1 as search")
                        .bind(search_file)
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            })
            .connect(&crate::config::sqlite_url(&path))
            .await?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| Error::internal(format!("migration failed: {e}")))?;
        let reader = reader::Reader::open(&path)?;
        let indexer = indexer::Indexer::start(&path, &search)?;
        let writer = Writer::sqlite(path, synchronous, indexer.changes_done()).await?;
        Ok(Self {
            pool,
            writer,
            backend: Backend::Sqlite,
            reader: Some(std::sync::Arc::new(reader)),
            indexer: Some(indexer),
        })
    }

    async fn open_postgres(url: &str) -> Result<Self> {
        let pool = AnyPoolOptions::new()
            .max_connections(10)
            .min_connections(1)
            .connect(url)
            .await?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| Error::internal(format!("migration failed: {e}")))?;
        let writer = Writer::postgres(pool.clone());
        Ok(Self {
            pool,
            writer,
            backend: Backend::Postgres,
            reader: None,
            indexer: None,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn writer(&self) -> &Writer {
        &self.writer
    }

    /// A write transaction outside the writer (rare writes: accounts). On
    /// SQLite it takes the write lock at once (`begin immediate`), so it
    /// waits its turn instead of failing when it upgrades from a read.
    pub(crate) async fn write_transaction(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("begin immediate").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// Whether the database answers (for `/api/health`).
    pub async fn ping(&self) -> bool {
        sqlx::query("select 1").execute(&self.pool).await.is_ok()
    }

    /// Whether the writer commits (for `/api/health/ready`).
    pub async fn writer_ping(&self) -> bool {
        self.writer.ping().await.is_ok()
    }

    /// Finishes every queued write, then closes the database.
    pub async fn close(&self) {
        self.writer.shutdown().await;
        self.pool.close().await;
    }
}
