//! Assembles the server (the REST router and the Socket.IO engine on one
//! port) and runs it until shutdown: stop accepting, close sockets, finish
//! queued writes. Nothing imports this module.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use axum::http::{HeaderValue, Method, header};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::auth::revocation::Revocations;
use crate::auth::throttle::Throttle;
use crate::auth::token::{Tokens, load_secret};
use crate::chat::{Chat, roster};
use crate::config::{Config, RateLimits};
use crate::error::{Error, Result};
use crate::http;
use crate::media::Storage;
use crate::realtime::{self, Fanout, bus};
use crate::serve::{self, Limits};
use crate::state::AppState;
use crate::store::Store;

/// Largest Socket.IO message (contract §4 "Bad input").
const MAX_FRAME_BYTES: usize = 1024 * 1024;
/// Frames queued per session before it counts as a slow consumer. A client
/// that sends a burst of events gets an ack, an event and maybe an error
/// for each; 128 was too few for such bursts.
const MAX_QUEUED_FRAMES: usize = 4096;

/// A started server.
pub struct Running {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<()>>,
}

impl Running {
    /// Shuts the server down gracefully and waits until it has.
    pub async fn stop(mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.wait().await
    }

    /// Waits until the server has stopped (after its shutdown signal).
    pub async fn wait(self) -> Result<()> {
        self.task
            .await
            .map_err(|e| Error::internal(format!("server task failed: {e}")))?
    }
}

fn engine_config(config: &Config) -> chatr_sio::Config {
    chatr_sio::Config {
        max_payload: MAX_FRAME_BYTES,
        max_queued_frames: MAX_QUEUED_FRAMES,
        recovery: (config.recovery_secs > 0)
            .then(|| std::time::Duration::from_secs(config.recovery_secs)),
        ..chatr_sio::Config::default()
    }
}

/// Starts the server on the configured address; it runs until `shutdown`
/// completes or [`Running::stop`] is called.
pub async fn start(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Running> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| Error::internal(format!("creating {}: {e}", config.data_dir.display())))?;
    // A data dir Chatr cannot write to fails now, with its name, rather than
    // at the first message (or in a warning every checkpoint).
    let probe = config.data_dir.join(".write-test");
    std::fs::write(&probe, b"")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|e| {
            Error::internal(format!(
                "the data dir {} is not writable: {e}",
                config.data_dir.display()
            ))
        })?;
    let secret = load_secret(config.jwt_secret.as_deref(), &config.data_dir)?;
    let tokens = Arc::new(Tokens::new(&secret, config.token_ttl_secs)?);
    let vapid = crate::push::keys::load(
        config.vapid_private_key.as_deref(),
        &config.data_dir,
        &config.vapid_subject,
    )?;
    crate::telemetry::install();
    let storage = Storage::open(config.data_dir.join("uploads"))?;
    let store = Store::open(&config.database_url(), config.sqlite_synchronous).await?;

    let (peers, relayed, roster) = match config.redis_url.as_deref() {
        Some(url) => {
            let (publisher, relayed) = bus::connect(url).await?;
            let roster = Arc::new(roster::Roster::connect(url).await?);
            (Some(publisher), Some(relayed), Some(roster))
        }
        None => (None, None, None),
    };
    let clustered = roster.is_some();
    let revocations = Arc::new(Revocations::load(&store).await?);
    let throttle = Arc::new(Throttle::new(
        config.rate_limits == RateLimits::On,
        roster.clone(),
    ));
    let fanout = Fanout::new(peers, revocations.clone());
    let pusher = crate::push::Pusher::start(
        store.clone(),
        vapid,
        config.push_daily_cap,
        config.push_allow_insecure,
    )?;
    let chat = Chat::new(
        store.clone(),
        storage.clone(),
        fanout.clone(),
        roster,
        config.rate_limits == RateLimits::On,
        config.storage_quota_bytes,
        config.max_sessions_per_user,
        pusher,
    );
    chat.relations.load().await?;
    let config = Arc::new(config);
    let state = AppState {
        chat: chat.clone(),
        tokens,
        revocations: revocations.clone(),
        throttle: throttle.clone(),
        config: config.clone(),
        storage,
    };
    let io = realtime::server(state.clone(), fanout.clone(), engine_config(&config));
    let relay = relayed.map(|mut relayed| {
        let (fanout, chat) = (fanout.clone(), chat.clone());
        tokio::spawn(async move {
            while let Some(bytes) = relayed.recv().await {
                fanout.on_relay(&bytes, &chat);
            }
        })
    });

    let router = http::router(config.max_upload_bytes)
        .fallback(http::not_found)
        .layer(security_headers())
        // One span per request at DEBUG: method and path, never the query
        // (search terms) or a header (tokens).
        .layer(
            tower_http::trace::TraceLayer::new_for_http().make_span_with(
                |req: &axum::http::Request<_>| {
                    tracing::debug_span!("request", method = %req.method(), path = %req.uri().path())
                },
            ),
        )
        .with_state(state);
    let cors = cors(&config.cors_origins);

    let listener = TcpListener::bind((config.host, config.port))
        .await
        .map_err(|e| Error::internal(format!("binding {}:{}: {e}", config.host, config.port)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::internal(e.to_string()))?;
    tracing::info!(%addr, "listening");
    if let Some(metrics_addr) = config.metrics_addr {
        let metrics = TcpListener::bind(metrics_addr)
            .await
            .map_err(|e| Error::internal(format!("binding {metrics_addr}: {e}")))?;
        tracing::info!(addr = %metrics_addr, "metrics at /metrics");
        tokio::spawn(async move {
            if let Err(e) = axum::serve(metrics, crate::http::metrics::open_router()).await {
                tracing::warn!(error = %e, "the metrics listener stopped");
            }
        });
    }

    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let housekeeping = tokio::spawn({
        let chat = chat.clone();
        async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                chat.sessions.limiter().forget_idle();
                throttle.forget_idle();
                // Catches up with anything a missed relay did not say.
                if let Err(e) = revocations.reload(chat.store()).await {
                    tracing::warn!(error = %e, "reloading revocations");
                }
                let now = time::OffsetDateTime::now_utc().unix_timestamp();
                if let Err(e) = chat.store().prune_subscriptions(now).await {
                    tracing::warn!(error = %e, "pruning expired push subscriptions");
                }
            }
        }
    });
    // With several nodes: this node's lease, and the reaping of dead nodes.
    let heartbeat = clustered.then(|| {
        let chat = chat.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(roster::HEARTBEAT);
            loop {
                tick.tick().await;
                chat.sessions.cluster_tick().await;
            }
        })
    });
    let limits = Limits {
        max_connections: config.max_connections(),
        header_timeout: Duration::from_secs(config.header_timeout_secs),
        body_window: Duration::from_secs(config.body_timeout_secs),
        trusted_proxies: Arc::new(
            crate::proxies::parse_all(&config.trusted_proxies).map_err(Error::internal)?,
        ),
        linger_bytes: http::largest_body(config.max_upload_bytes),
    };
    let task = tokio::spawn(async move {
        let signal = async move {
            tokio::select! {
                () = shutdown => {}
                _ = stop_rx => {}
            }
            tracing::info!("shutting down: closing sockets");
        };
        serve::serve(
            listener,
            router,
            io.clone(),
            cors,
            limits,
            signal,
            Duration::from_secs(5),
        )
        .await;
        // Every socket ends as a disconnect would: indicators cleared,
        // lastSeen written, contacts told.
        io.close_all();
        housekeeping.abort();
        chat.sessions.drained(Duration::from_secs(5)).await;
        for task in [heartbeat, relay].into_iter().flatten() {
            task.abort();
        }
        fanout.detach();
        chat.sessions.retire().await;
        store.close().await;
        tracing::info!("stopped");
        Ok(())
    });
    Ok(Running {
        addr,
        stop: Some(stop_tx),
        task,
    })
}

/// Headers every answer carries: no content sniffing, no referrer leaving
/// for other sites, no framing.
fn security_headers() -> tower::layer::util::Stack<
    SetResponseHeaderLayer<HeaderValue>,
    tower::layer::util::Stack<
        SetResponseHeaderLayer<HeaderValue>,
        SetResponseHeaderLayer<HeaderValue>,
    >,
> {
    let header =
        |name, value| SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value));
    tower::layer::util::Stack::new(
        header(header::X_FRAME_OPTIONS, "DENY"),
        tower::layer::util::Stack::new(
            header(header::REFERRER_POLICY, "no-referrer"),
            header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ),
    )
}

fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<&str> = origins
        .iter()
        .map(|o| o.trim())
        .filter(|o| !o.is_empty())
        .collect();
    // `*` lets any origin in; credentials (cookies) are then not allowed,
    // which Chatr does not use (tokens travel in headers). Listed origins
    // keep them. With none configured nothing is allowed cross-origin; same
    // origin needs no CORS.
    let (allow, credentials) = if origins.contains(&"*") {
        (AllowOrigin::any(), false)
    } else {
        let list: Vec<HeaderValue> = origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        (AllowOrigin::list(list), true)
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .allow_credentials(credentials)
}
