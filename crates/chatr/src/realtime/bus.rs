//! How the nodes of a cluster reach each other's sockets. With `REDIS_URL`
//! socketioxide-redis carries broadcasts, room changes and acks between nodes
//! over Redis pub/sub; without it a node is alone and the same adapter talks
//! to nobody. One adapter type for both keeps the rest of the code free of a
//! type parameter, and a lone node marks its broadcasts local (see `Notify`),
//! so it never encodes a packet for a bus with no one on it.

use std::sync::{Arc, Mutex};

use socketioxide::adapter::Emitter;
use socketioxide_redis::{
    CustomRedisAdapter, RedisAdapterConfig, RedisAdapterCtr,
    drivers::{
        ChanItem, Driver, MessageStream,
        redis::{RedisDriver, RedisError, redis_client},
    },
};
use tokio::sync::mpsc;

use crate::error::{Error, Result};

pub type Adapter = CustomRedisAdapter<Emitter, Bus>;
pub type Io = socketioxide::SocketIo<Adapter>;
pub type Socket = socketioxide::extract::SocketRef<Adapter>;
pub type Ack = socketioxide::extract::AckSender<Adapter>;

#[derive(Clone)]
pub enum Bus {
    /// A single node: subscriptions stay open and never carry anything.
    Alone(Arc<Mutex<Vec<mpsc::Sender<ChanItem>>>>),
    /// The driver, and the URL it was opened with (RESP3).
    Redis(RedisDriver, Arc<str>),
}

impl Bus {
    /// The bus for `redis_url`, or a lone node's when there is none.
    pub async fn connect(redis_url: Option<&str>) -> Result<Self> {
        let Some(url) = redis_url else {
            return Ok(Self::Alone(Arc::default()));
        };
        // The driver needs RESP3 push messages (Redis >= 7).
        let url = if url.contains("protocol=") {
            url.to_owned()
        } else if url.contains('?') {
            format!("{url}&protocol=resp3")
        } else {
            format!("{url}?protocol=resp3")
        };
        let client = redis_client::Client::open(url.as_str())
            .map_err(|e| Error::internal(format!("REDIS_URL: {e}")))?;
        let driver = RedisDriver::new(&client)
            .await
            .map_err(|e| Error::internal(format!("connecting to Redis: {e}")))?;
        Ok(Self::Redis(driver, url.into()))
    }

    /// The Redis URL, when nodes share a bus.
    pub fn url(&self) -> Option<&str> {
        match self {
            Self::Alone(_) => None,
            Self::Redis(_, url) => Some(url),
        }
    }

    /// What `SocketIo::builder().with_adapter` takes.
    pub fn adapter(self) -> RedisAdapterCtr<Self> {
        RedisAdapterCtr::new_with_driver(self, RedisAdapterConfig::default())
    }
}

impl Driver for Bus {
    type Error = RedisError;

    async fn publish(&self, chan: String, val: Vec<u8>) -> Result<(), RedisError> {
        match self {
            Self::Alone(_) => Ok(()),
            Self::Redis(driver, _) => driver.publish(chan, val).await,
        }
    }

    async fn subscribe(
        &self,
        chan: String,
        size: usize,
    ) -> Result<MessageStream<ChanItem>, RedisError> {
        match self {
            Self::Alone(open) => {
                let (tx, rx) = mpsc::channel(1);
                open.lock().unwrap_or_else(|p| p.into_inner()).push(tx);
                Ok(MessageStream::new(rx))
            }
            Self::Redis(driver, _) => driver.subscribe(chan, size).await,
        }
    }

    async fn unsubscribe(&self, chan: String) -> Result<(), RedisError> {
        match self {
            Self::Alone(_) => Ok(()),
            Self::Redis(driver, _) => driver.unsubscribe(chan).await,
        }
    }

    async fn num_serv(&self, chan: &str) -> Result<u16, RedisError> {
        match self {
            Self::Alone(_) => Ok(0),
            Self::Redis(driver, _) => driver.num_serv(chan).await,
        }
    }
}
