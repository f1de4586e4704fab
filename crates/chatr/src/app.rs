//! Builds the server (REST router + Socket.IO layer on one port) and runs it
//! until shutdown: stop accepting, close sockets, finish queued writes.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use axum::http::{HeaderValue, Method, header};
use axum::serve::ListenerExt;
use socketioxide::SocketIo;

use crate::chat::roster::{self, Roster};
use crate::realtime::bus::{Adapter, Bus};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::auth::token::{Tokens, load_secret};
use crate::chat::Chat;
use crate::config::{Config, RateLimits};
use crate::error::{Error, Result};
use crate::media::Storage;
use crate::store::Store;
use crate::{http, realtime};

/// Largest Socket.IO frame accepted (contract §4 "Bad input").
const MAX_FRAME_BYTES: u64 = 1024 * 1024;
/// Packets queued per socket before emits to it fail. A client that sends a
/// burst of events gets an ack, an event and maybe an error for each; the
/// default of 128 dropped acks under such bursts. The queue grows only as used.
const SEND_BUFFER_PACKETS: usize = 4096;

/// Initial WebSocket read buffer per session. It is zero-filled to its
/// capacity on the first read, so the default 4 KiB was 4 KiB of every idle
/// session (heaptrack); events are a few hundred bytes, and a larger frame
/// grows the buffer of that one session.
const WS_READ_BUFFER_BYTES: usize = 512;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub chat: Chat,
    pub tokens: Arc<Tokens>,
    pub config: Arc<Config>,
    pub storage: Storage,
}

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

/// Starts the server on the configured address; it runs until `shutdown`
/// completes or [`Running::stop`] is called.
pub async fn start(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Running> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| Error::internal(format!("creating {}: {e}", config.data_dir.display())))?;
    let secret = load_secret(config.jwt_secret.as_deref(), &config.data_dir)?;
    let tokens = Arc::new(Tokens::new(&secret, config.token_ttl_secs)?);
    let storage = Storage::open(config.data_dir.join("uploads"))?;
    let store = Store::open(&config.database_url(), config.sqlite_synchronous).await?;

    let bus = Bus::connect(config.redis_url.as_deref()).await?;
    let roster = match bus.url() {
        Some(url) => Some(Roster::connect(url).await?),
        None => None,
    };
    let peers = roster.is_some().then(|| bus.clone());
    let clustered = peers.is_some();
    let (socket_layer, io) = SocketIo::builder()
        .max_payload(MAX_FRAME_BYTES)
        .max_buffer_size(SEND_BUFFER_PACKETS)
        .ws_read_buffer_size(WS_READ_BUFFER_BYTES)
        .with_adapter::<Adapter>(bus.adapter())
        .build_layer();
    let chat = Chat::new(
        store.clone(),
        io.clone(),
        peers.clone(),
        roster,
        config.rate_limits == RateLimits::On,
    );
    let config = Arc::new(config);
    let state = AppState {
        chat: chat.clone(),
        tokens,
        config: config.clone(),
        storage,
    };
    realtime::register(&io, state.clone()).await?;
    let relay = match peers {
        Some(bus) => Some(relay_messages(&bus, chat.clone()).await?),
        None => None,
    };
    let closing_state = state.clone();

    let router = http::router(config.max_upload_bytes)
        .fallback(http::not_found)
        .with_state(state);
    // Socket.IO wraps the whole router rather than its routes: `/socket.io/`
    // must never reach routing (the web client's catch-all page would answer it).
    let app = tower::ServiceBuilder::new()
        .map_response(into_axum_body)
        .layer(cors(&config.cors_origins))
        .map_request(detach_head)
        .layer(socket_layer)
        .service(router);

    let listener = TcpListener::bind((config.host, config.port))
        .await
        .map_err(|e| Error::internal(format!("binding {}:{}: {e}", config.host, config.port)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::internal(e.to_string()))?;
    tracing::info!(%addr, "listening");

    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let housekeeping = tokio::spawn({
        let chat = chat.clone();
        async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                chat.limits().forget_idle();
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
                chat.cluster_tick().await;
            }
        })
    });
    let task = tokio::spawn(async move {
        let signal = async move {
            tokio::select! {
                () = shutdown => {}
                _ = stop_rx => {}
            }
            tracing::info!("shutting down: closing sockets");
            realtime::close_all(&io, &closing_state).await;
        };
        // Socket.IO frames are small: without TCP_NODELAY, Nagle's algorithm and
        // delayed ACKs held acknowledgements back by ~40 ms.
        let listener = listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "TCP_NODELAY");
            }
        });
        let served = axum::serve(
            listener,
            axum::ServiceExt::<axum::extract::Request>::into_make_service(app),
        )
        .with_graceful_shutdown(signal)
        .await;
        housekeeping.abort();
        // Disconnect handlers write lastSeen; let them finish before the writer stops.
        chat.sessions_drained(Duration::from_secs(5)).await;
        for task in [heartbeat, relay].into_iter().flatten() {
            task.abort();
        }
        chat.retire().await;
        store.close().await;
        tracing::info!("stopped");
        served.map_err(|e| Error::internal(format!("server error: {e}")))
    });
    Ok(Running {
        addr,
        stop: Some(stop_tx),
        task,
    })
}

/// Acts on what the other nodes relay: messages they stored, profiles they changed.
async fn relay_messages(bus: &Bus, chat: Chat) -> Result<JoinHandle<()>> {
    use futures_util::StreamExt;
    use socketioxide_redis::drivers::Driver;
    // The driver drops what does not fit: the queue is deep, the task drains it
    // without waiting on anything slow, and a message it dropped would still
    // reach the recipient's next session (it stays `sent`).
    let mut relayed = bus
        .subscribe(realtime::notify::RELAY_CHANNEL.to_owned(), 65_536)
        .await
        .map_err(|e| Error::internal(format!("subscribing to relays: {e}")))?;
    Ok(tokio::spawn(async move {
        while let Some((_, bytes)) = relayed.next().await {
            chat.on_relay(&bytes).await;
        }
        tracing::error!("the relay from the other nodes ended");
    }))
}

/// `axum::serve` wants axum's body type; Socket.IO answers with its own.
fn into_axum_body<B>(response: axum::http::Response<B>) -> axum::response::Response
where
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    response.map(axum::body::Body::new)
}

fn cors(origins: &[String]) -> CorsLayer {
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .map(|o| o.trim())
        .filter(|o| !o.is_empty())
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    // With no origins configured nothing is allowed cross-origin; same origin needs no CORS.
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(allowed))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .allow_credentials(true)
}

/// The headers a Socket.IO session needs after its request: engine.io reads
/// the content type (polling) and the WebSocket key, authentication the
/// bearer token; the upgrade pair is kept for anything checking the handshake.
const SESSION_HEADERS: [header::HeaderName; 6] = [
    header::CONTENT_TYPE,
    header::AUTHORIZATION,
    header::SEC_WEBSOCKET_KEY,
    header::SEC_WEBSOCKET_VERSION,
    header::UPGRADE,
    header::CONNECTION,
];

/// engine.io keeps each session's request head for as long as the session
/// lives, and hyper parses headers and the URI as slices of the connection's
/// 8–16 KiB read buffer, so keeping the head kept that whole buffer: ~16 KiB
/// per idle session (found with heaptrack). A Socket.IO request's head is
/// copied into allocations of its own size before engine.io sees it, with
/// only the headers anything reads later ([`SESSION_HEADERS`]): a browser's
/// cookies, user agent and language would otherwise be kept (twice) too.
/// CORS has already seen the whole request by then.
fn detach_head<B>(mut req: axum::http::Request<B>) -> axum::http::Request<B> {
    use axum::http::{HeaderMap, HeaderValue, Uri};
    if !req.uri().path().starts_with("/socket.io") {
        return req;
    }
    let shared = std::mem::take(req.headers_mut());
    let mut own = HeaderMap::with_capacity(SESSION_HEADERS.len());
    // The kept names are standard ones (static, nothing borrowed); values are copied.
    for (name, value) in shared
        .iter()
        .filter(|(name, _)| SESSION_HEADERS.contains(name))
    {
        if let Ok(value) = HeaderValue::from_bytes(value.as_bytes()) {
            own.append(name.clone(), value);
        }
    }
    *req.headers_mut() = own;
    if let Ok(uri) = Uri::try_from(req.uri().to_string()) {
        *req.uri_mut() = uri;
    }
    req
}
