//! Runtime settings: flags and the environment variables of contract §5, with
//! their defaults in one place. Secrets never appear in `Debug` output.

use std::{
    fmt,
    net::IpAddr,
    path::{Path, PathBuf},
};

use clap::Parser;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_encode};

/// Bytes of a path written as `%HH` in a URL or URI naming a file: all but
/// letters, digits, `/`, `.`, `-` and `_` (`?`, `#` and `%` mean something
/// there, and a byte that is not UTF-8 has no other way to be written).
pub const PATH_ESCAPED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'.')
    .remove(b'-')
    .remove(b'_');

/// The `sqlite://` URL of the database file at `path`. sqlx reads what
/// follows a `?` as options and decodes every `%HH`, so the path is escaped:
/// a data directory named `a%41?b` is that directory, not `aA`.
pub fn sqlite_url(path: &Path) -> String {
    let path = percent_encode(path.as_os_str().as_encoded_bytes(), PATH_ESCAPED);
    format!("sqlite://{path}")
}

/// The SQLite file a `DATABASE_URL` names, read as sqlx reads it (`%HH`
/// decoded, options after a `?` set aside); `None` for PostgreSQL. The
/// server and `chatr backup` both ask here, so they agree on the file.
pub fn sqlite_file(url: &str) -> Result<Option<PathBuf>, String> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(None);
    }
    if !url.starts_with("sqlite:") {
        return Err("DATABASE_URL must start with sqlite:// or postgres://".into());
    }
    let options = <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(url)
        .map_err(|e| format!("DATABASE_URL: {e}"))?;
    Ok(Some(options.get_filename().to_owned()))
}

#[derive(Clone, Parser)]
#[command(
    name = "chatr",
    version,
    about = "Self-hosted real-time 1:1 messaging server"
)]
pub struct Config {
    /// Listening port (0 picks a free one; the chosen port is printed).
    #[arg(long, env = "PORT", default_value_t = 3001)]
    pub port: u16,

    /// Address to bind.
    #[arg(long, env = "CHATR_HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,

    /// Where the SQLite database, the generated JWT secret and uploads live.
    #[arg(long, env = "CHATR_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// `sqlite://…` or `postgres://…`; default: `chatr.db` in the data dir.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,

    /// `redis://host:port`: several nodes share rooms through Redis (>= 7).
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,

    /// HS256 secret of at least 32 bytes; default: generated once and kept in the data dir.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Token lifetime in seconds.
    #[arg(long, env = "CHATR_TOKEN_TTL_SECS", default_value_t = 7 * 24 * 3600)]
    pub token_ttl_secs: u64,

    /// Upload limit in bytes.
    #[arg(long, env = "CHATR_MAX_UPLOAD_BYTES", default_value_t = 50 * 1024 * 1024)]
    pub max_upload_bytes: u64,

    /// `off` disables every rate limit (load tests, contract suites).
    #[arg(long, env = "CHATR_RATE_LIMITS", default_value = "on")]
    pub rate_limits: RateLimits,

    /// Comma-separated addresses or ranges (`127.0.0.1`, `10.0.0.0/8`) of
    /// reverse proxies whose `X-Forwarded-For` names the client; from
    /// anyone else the header is ignored.
    #[arg(long, env = "CHATR_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,

    /// Comma-separated allowed origins for CORS; same origin always works.
    #[arg(long, env = "CHATR_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// `normal` survives a process crash (WAL); `full` also survives power loss.
    #[arg(long, env = "CHATR_SQLITE_SYNCHRONOUS", default_value = "normal")]
    pub sqlite_synchronous: Synchronous,

    /// Bearer token that `/metrics` (Prometheus) requires on the main port;
    /// without it `/metrics` answers 401 there.
    #[arg(long, env = "CHATR_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,

    /// An address (e.g. `127.0.0.1:9464`) that serves `/metrics` without a
    /// token: keep it on loopback or a private network.
    #[arg(long, env = "CHATR_METRICS_ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,

    /// Log lines as `text` for people or `json` (one object per line) for a
    /// log collector.
    #[arg(long, env = "CHATR_LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,

    /// Threads serving connections; default: one per core less one, at least one.
    #[arg(long, env = "CHATR_WORKER_THREADS")]
    pub worker_threads: Option<std::num::NonZeroUsize>,

    /// Bytes of files one user may have stored (0: no limit).
    #[arg(long, env = "CHATR_STORAGE_QUOTA_BYTES", default_value_t = 1 << 30)]
    pub storage_quota_bytes: u64,

    /// Simultaneous sessions (sockets) one user may have; more are refused.
    #[arg(long, env = "CHATR_MAX_SESSIONS_PER_USER", default_value_t = 16)]
    pub max_sessions_per_user: u32,

    /// Seconds a client whose connection broke may reconnect within and
    /// resume its session with everything it missed (Socket.IO connection
    /// state recovery, for clients that ask with `auth.recover`); 0: off.
    #[arg(long, env = "CHATR_RECOVERY_SECS", default_value_t = 120)]
    pub recovery_secs: u64,

    /// Open connections (WebSockets included); default: what the open-file
    /// limit allows, less a reserve for the database and uploads.
    #[arg(long, env = "CHATR_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,

    /// Seconds a client has to send a request's headers; also how long an
    /// idle keep-alive connection stays open.
    #[arg(long, env = "CHATR_HEADER_TIMEOUT_SECS", default_value_t = 15)]
    pub header_timeout_secs: u64,

    /// A request body that brings less than 1 KiB in this many seconds is
    /// cut off (an upload that keeps moving goes on, however long it takes).
    #[arg(long, env = "CHATR_BODY_TIMEOUT_SECS", default_value_t = 10)]
    pub body_timeout_secs: u64,

    /// The Web Push (VAPID) private key: a P-256 scalar, base64url. Without
    /// it one is generated once and kept in the data dir. Every node of a
    /// cluster needs the same one.
    #[arg(long, env = "CHATR_VAPID_PRIVATE_KEY", hide_env_values = true)]
    pub vapid_private_key: Option<String>,

    /// Who push services may contact about this server's pushes: a
    /// `mailto:` or `https:` URL.
    #[arg(
        long,
        env = "CHATR_VAPID_SUBJECT",
        default_value = "mailto:postmaster@localhost"
    )]
    pub vapid_subject: String,

    /// Pushes one browser subscription may receive per day; past it they
    /// wait for the next day.
    #[arg(long, env = "CHATR_PUSH_DAILY_CAP", default_value_t = 1000)]
    pub push_daily_cap: u32,

    /// Tests only: accept `http` push endpoints and loopback addresses.
    /// Never on a real server: clients choose the endpoints the server calls.
    #[arg(long, env = "CHATR_PUSH_ALLOW_INSECURE", default_value_t = false,
          action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub push_allow_insecure: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RateLimits {
    On,
    Off,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Synchronous {
    Normal,
    Full,
}

impl Config {
    /// The async runtime's threads in effect. The SQLite writer commits on a
    /// thread of its own and the kernel's network work needs CPU too: on two
    /// cores one worker gave ~15 % less CPU per message and a higher clean
    /// rate than two (docs/benchmarks.md, round 5), since two workers hand
    /// tasks and wake-ups to each other.
    pub fn worker_threads(&self) -> usize {
        self.worker_threads.map_or_else(
            || {
                std::thread::available_parallelism()
                    .map_or(1, |n| n.get().saturating_sub(1))
                    .max(1)
            },
            std::num::NonZeroUsize::get,
        )
    }

    /// The connection cap in effect: the configured one, or the open-file
    /// limit less 256 descriptors for the database, uploads and logs.
    pub fn max_connections(&self) -> usize {
        self.max_connections.unwrap_or_else(|| {
            let files = open_file_limit().unwrap_or(1024);
            usize::try_from(files.saturating_sub(256))
                .unwrap_or(usize::MAX)
                .max(64)
        })
    }

    /// The database URL in effect: the explicit one, or SQLite in the data dir.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => sqlite_url(&self.data_dir.join("chatr.db")),
        }
    }

    /// Settings for tests: a free port on loopback, the given data dir, no rate limits.
    pub fn for_tests(data_dir: PathBuf) -> Self {
        Self {
            port: 0,
            host: IpAddr::from([127, 0, 0, 1]),
            data_dir,
            database_url: None,
            redis_url: None,
            jwt_secret: None,
            token_ttl_secs: 3600,
            max_upload_bytes: 50 * 1024 * 1024,
            rate_limits: RateLimits::Off,
            cors_origins: Vec::new(),
            sqlite_synchronous: Synchronous::Normal,
            worker_threads: None,
            storage_quota_bytes: 1 << 30,
            max_sessions_per_user: 16,
            recovery_secs: 120,
            log_format: LogFormat::Text,
            metrics_token: None,
            metrics_addr: None,
            trusted_proxies: Vec::new(),
            max_connections: None,
            header_timeout_secs: 15,
            body_timeout_secs: 10,
            vapid_private_key: None,
            vapid_subject: "mailto:postmaster@localhost".into(),
            push_daily_cap: 1000,
            push_allow_insecure: false,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("port", &self.port)
            .field("host", &self.host)
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .field("redis_url", &self.redis_url.as_deref().map(redact_url))
            .field(
                "jwt_secret",
                &self.jwt_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("token_ttl_secs", &self.token_ttl_secs)
            .field("max_upload_bytes", &self.max_upload_bytes)
            .field("rate_limits", &self.rate_limits)
            .field("cors_origins", &self.cors_origins)
            .field("sqlite_synchronous", &self.sqlite_synchronous)
            .field("worker_threads", &self.worker_threads())
            .field("storage_quota_bytes", &self.storage_quota_bytes)
            .field("max_sessions_per_user", &self.max_sessions_per_user)
            .field("recovery_secs", &self.recovery_secs)
            .field("log_format", &self.log_format)
            .field(
                "metrics_token",
                &self.metrics_token.as_ref().map(|_| "<redacted>"),
            )
            .field("metrics_addr", &self.metrics_addr)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("max_connections", &self.max_connections())
            .field("header_timeout_secs", &self.header_timeout_secs)
            .field("body_timeout_secs", &self.body_timeout_secs)
            .field(
                "vapid_private_key",
                &self.vapid_private_key.as_ref().map(|_| "<redacted>"),
            )
            .field("vapid_subject", &self.vapid_subject)
            .field("push_daily_cap", &self.push_daily_cap)
            .field("push_allow_insecure", &self.push_allow_insecure)
            .finish()
    }
}

/// The process's soft limit on open files.
pub fn open_file_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

/// Raises the soft limit on open files to the hard limit, so that the
/// connection cap, not the kernel, decides when connections are refused.
pub fn raise_open_file_limit() -> Option<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            tracing::warn!(error = %e, "could not raise the open-file limit");
        }
    }
    open_file_limit()
}

/// Hides the password of `scheme://user:password@host/…`.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:<redacted>@{host}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_database_password_and_the_jwt_secret() {
        let mut config = Config::for_tests(PathBuf::from("/tmp/x"));
        config.database_url = Some("postgres://chatr:hunter2@db:5432/chatr".into());
        config.jwt_secret = Some("s".repeat(40));
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains(&"s".repeat(40)), "{shown}");
        assert!(
            shown.contains("postgres://chatr:<redacted>@db:5432/chatr"),
            "{shown}"
        );
    }

    #[test]
    fn the_database_url_names_the_data_directory_whatever_its_name() {
        use std::str::FromStr;
        // Read back as the pool reads it: through the `Any` driver's URL
        // parser first, then SQLite's.
        let read_back = |path: &Path| {
            let url = sqlite_url(path);
            sqlx::any::AnyConnectOptions::from_str(&url)
                .and_then(|any| sqlx::sqlite::SqliteConnectOptions::try_from(&any))
                .map(|o| o.get_filename().to_owned())
                .unwrap_or_else(|e| panic!("{url}: {e}"))
        };
        sqlx::any::install_default_drivers();
        for path in [
            "data/chatr.db",
            "./data/chatr.db",
            "My Data %41?/chatr.db",
            "/srv/a%41?b#c é/chatr.db",
            "/srv/100%/chatr.db",
            "//srv/x/chatr.db",
        ] {
            assert_eq!(read_back(Path::new(path)), Path::new(path));
            assert_eq!(
                sqlite_file(&sqlite_url(Path::new(path))),
                Ok(Some(PathBuf::from(path)))
            );
        }
        assert_eq!(sqlite_file("postgres://db/chatr"), Ok(None));
        assert!(sqlite_file("mysql://db/chatr").is_err());
        let config = Config::for_tests(PathBuf::from("/srv/a%41?b"));
        assert_eq!(config.database_url(), "sqlite:///srv/a%2541%3Fb/chatr.db");
    }

    #[test]
    fn worker_threads_default_to_a_core_less_one_and_can_be_set() {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let config = Config::try_parse_from(["chatr"]).expect("defaults parse");
        assert_eq!(config.worker_threads(), cores.saturating_sub(1).max(1));
        let config =
            Config::try_parse_from(["chatr", "--worker-threads", "3"]).expect("a count parses");
        assert_eq!(config.worker_threads(), 3);
        assert!(Config::try_parse_from(["chatr", "--worker-threads", "0"]).is_err());
    }
}
