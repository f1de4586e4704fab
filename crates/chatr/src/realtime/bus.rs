//! The channel between nodes (with `REDIS_URL`): one Redis pub/sub channel
//! that every node publishes to and listens on. Publishing goes through a
//! queue to one task that sends whatever has gathered in one pipeline, so a
//! sender never waits for Redis.

use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::error::{Error, Result};

/// The Redis channel that carries everything nodes tell each other.
pub const CHANNEL: &str = "chatr#relay";
/// Relays waiting to be published; past it they are dropped (and logged): a
/// message that misses its relay stays `sent` and reaches the recipient's
/// next session, so nothing stored is lost.
const QUEUE: usize = 65_536;

fn redis_error(e: redis::RedisError) -> Error {
    Error::internal(format!("redis: {e}"))
}

#[derive(Clone)]
pub struct Publisher(mpsc::Sender<Vec<u8>>);

impl Publisher {
    pub fn publish(&self, bytes: Vec<u8>) {
        if self.0.try_send(bytes).is_err() {
            metrics::counter!(crate::telemetry::REDIS_ERRORS).increment(1);
            tracing::warn!("the relay queue to the other nodes is full; a relay was dropped");
        }
    }
}

/// Connects to Redis: the publisher, and the stream of what other nodes publish.
pub async fn connect(url: &str) -> Result<(Publisher, mpsc::Receiver<Vec<u8>>)> {
    let client = redis::Client::open(url).map_err(redis_error)?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .map_err(redis_error)?;
    let mut pubsub = client.get_async_pubsub().await.map_err(redis_error)?;
    pubsub.subscribe(CHANNEL).await.map_err(redis_error)?;

    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(QUEUE);
    tokio::spawn(async move {
        let mut batch = Vec::with_capacity(64);
        while rx.recv_many(&mut batch, 256).await > 0 {
            // Per batch, not per relay: what is still waiting after this one.
            metrics::gauge!(crate::telemetry::RELAY_QUEUE).set(rx.len() as f64);
            let mut pipe = redis::pipe();
            for bytes in batch.drain(..) {
                pipe.publish(CHANNEL, bytes).ignore();
            }
            if let Err(e) = pipe.query_async::<()>(&mut conn).await {
                metrics::counter!(crate::telemetry::REDIS_ERRORS).increment(1);
                tracing::warn!(error = %e, "publishing to the other nodes");
            }
        }
    });

    let (in_tx, in_rx) = mpsc::channel::<Vec<u8>>(QUEUE);
    tokio::spawn(async move {
        let mut messages = pubsub.into_on_message();
        while let Some(msg) = messages.next().await {
            if in_tx.send(msg.get_payload_bytes().to_vec()).await.is_err() {
                return;
            }
        }
        tracing::error!("the relay from the other nodes ended");
    });
    Ok((Publisher(tx), in_rx))
}
