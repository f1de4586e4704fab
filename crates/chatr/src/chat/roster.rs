//! Who is online across a cluster (with `REDIS_URL`). Each node keeps its own
//! session counts (`presence`); here a node says when it has its first and
//! its last session of a user, and Redis tells whether that made the user's
//! first or last session in the whole cluster, so each transition is
//! announced once. A node holds a lease it refreshes; when a node dies without
//! saying goodbye its lease runs out, and one live node (whoever takes the
//! reap lock) removes the dead node's users and announces those who are now
//! offline, with the dead node's last heartbeat as their `lastSeen`.
//!
//! Keys: `chatr:online:{user}` hash node → 1; `chatr:chosen:{user}` the
//! status a user chose (absent = online); `chatr:node:{node}:users` set;
//! `chatr:node:{node}:lease` (expires); `chatr:nodes` set;
//! `chatr:heartbeats` hash node → time; `chatr:reap:{node}` lock.

use std::time::Duration;

use redis::{self as redis_client, AsyncCommands, aio::MultiplexedConnection};
use uuid::Uuid;

use crate::clock;
use crate::error::{Error, Result};
use crate::model::PresenceStatus;

/// A node whose lease is this old is dead; refreshed every [`HEARTBEAT`].
const LEASE: Duration = Duration::from_secs(15);
pub const HEARTBEAT: Duration = Duration::from_secs(5);
const NODES: &str = "chatr:nodes";
const HEARTBEATS: &str = "chatr:heartbeats";

fn online_key(user: Uuid) -> String {
    format!("chatr:online:{user}")
}
fn sessions_key(user: Uuid) -> String {
    format!("chatr:sessions:{user}")
}
fn chosen_key(user: Uuid) -> String {
    format!("chatr:chosen:{user}")
}
fn users_key(node: &str) -> String {
    format!("chatr:node:{node}:users")
}
fn lease_key(node: &str) -> String {
    format!("chatr:node:{node}:lease")
}

fn redis_error(e: redis_client::RedisError) -> Error {
    Error::internal(format!("redis: {e}"))
}

pub struct Roster {
    conn: MultiplexedConnection,
    node: String,
}

/// A user a dead node left offline, and when that node was last heard of.
pub struct Departed {
    pub user: Uuid,
    pub last_seen: String,
}

impl Roster {
    pub async fn connect(url: &str) -> Result<Self> {
        let client = redis_client::Client::open(url).map_err(redis_error)?;
        let conn = client
            .get_multiplexed_async_connection()
            .await
            .map_err(redis_error)?;
        let roster = Self {
            conn,
            node: Uuid::new_v4().to_string(),
        };
        roster.heartbeat().await?;
        Ok(roster)
    }

    /// Refreshes this node's lease.
    /// Whether Redis answers.
    pub async fn ping(&self) -> bool {
        let mut conn = self.conn.clone();
        redis_client::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .is_ok()
    }

    pub async fn heartbeat(&self) -> Result<()> {
        let mut conn = self.conn.clone();
        redis_client::pipe()
            .atomic()
            .set_ex(lease_key(&self.node), 1, LEASE.as_secs())
            .ignore()
            .sadd(NODES, &self.node)
            .ignore()
            .hset(HEARTBEATS, &self.node, clock::now())
            .ignore()
            .query_async::<()>(&mut conn)
            .await
            .map_err(redis_error)
    }

    /// This node has its first session of `user`: true when no other node has one.
    pub async fn arrived(&self, user: Uuid) -> Result<bool> {
        let mut conn = self.conn.clone();
        let (nodes,): (u64,) = redis_client::pipe()
            .atomic()
            .hset(online_key(user), &self.node, 1)
            .ignore()
            .sadd(users_key(&self.node), user.to_string())
            .ignore()
            .hlen(online_key(user))
            .query_async(&mut conn)
            .await
            .map_err(redis_error)?;
        Ok(nodes == 1)
    }

    /// Counts one more session of `user` on this node unless the cluster
    /// already has `cap`: false (and nothing counted) when it has.
    pub async fn admit(&self, user: Uuid, cap: u32) -> Result<bool> {
        let mut conn = self.conn.clone();
        let key = sessions_key(user);
        let (counts,): (Vec<u64>,) = redis_client::pipe()
            .atomic()
            .hincr(&key, &self.node, 1)
            .ignore()
            .sadd(users_key(&self.node), user.to_string())
            .ignore()
            .hvals(&key)
            .query_async(&mut conn)
            .await
            .map_err(redis_error)?;
        if counts.iter().sum::<u64>() > u64::from(cap) {
            self.release(user).await?;
            return Ok(false);
        }
        Ok(true)
    }

    /// One session of `user` on this node is gone (see [`Roster::admit`]).
    pub async fn release(&self, user: Uuid) -> Result<()> {
        let mut conn = self.conn.clone();
        let left: i64 = conn
            .hincr(sessions_key(user), &self.node, -1)
            .await
            .map_err(redis_error)?;
        if left <= 0 {
            let _: () = conn
                .hdel(sessions_key(user), &self.node)
                .await
                .map_err(redis_error)?;
        }
        Ok(())
    }

    /// This node's last session of `user` ended: true when no node has one.
    pub async fn left(&self, user: Uuid) -> Result<bool> {
        self.remove(user, &self.node).await
    }

    /// Takes `node` out of `user`'s entry (and `user` out of the node's set);
    /// true when no node is left, and then the user's choice goes too: a
    /// choice of away/offline lasts while the user is connected.
    async fn remove(&self, user: Uuid, node: &str) -> Result<bool> {
        let mut conn = self.conn.clone();
        let (nodes,): (u64,) = redis_client::pipe()
            .atomic()
            .hdel(online_key(user), node)
            .ignore()
            .hdel(sessions_key(user), node)
            .ignore()
            .srem(users_key(node), user.to_string())
            .ignore()
            .hlen(online_key(user))
            .query_async(&mut conn)
            .await
            .map_err(redis_error)?;
        if nodes == 0 {
            let _: () = conn.del(chosen_key(user)).await.map_err(redis_error)?;
        }
        Ok(nodes == 0)
    }

    /// Whether each of `ids` has a session on some node.
    pub async fn online(&self, ids: &[Uuid]) -> Result<Vec<bool>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis_client::pipe();
        for id in ids {
            pipe.hlen(online_key(*id));
        }
        let counts: Vec<u64> = pipe
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        Ok(counts.into_iter().map(|n| n > 0).collect())
    }

    /// What each of `ids` chose to show (online when they chose nothing).
    pub async fn chosen(&self, ids: &[Uuid]) -> Result<Vec<PresenceStatus>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().map(|id| chosen_key(*id)).collect();
        let values: Vec<Option<String>> =
            self.conn.clone().mget(keys).await.map_err(redis_error)?;
        Ok(values
            .into_iter()
            .map(|v| {
                v.as_deref()
                    .and_then(PresenceStatus::parse)
                    .unwrap_or(PresenceStatus::Online)
            })
            .collect())
    }

    /// Records a choice; true when it differs from the one before.
    pub async fn choose(&self, user: Uuid, status: PresenceStatus) -> Result<bool> {
        let before: Option<String> = redis_client::cmd("SET")
            .arg(chosen_key(user))
            .arg(status.as_str())
            .arg("GET")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        let before = before
            .as_deref()
            .and_then(PresenceStatus::parse)
            .unwrap_or(PresenceStatus::Online);
        Ok(before != status)
    }

    /// Spends `cost` of `budget` in the current window of `window_secs`;
    /// false when more than `limit` was spent in it, on any node.
    pub async fn spend(
        &self,
        budget: &str,
        cost: u64,
        limit: u64,
        window_secs: u64,
    ) -> Result<bool> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let key = format!("chatr:rate:{budget}:{}", now / window_secs.max(1));
        let (count,): (u64,) = redis_client::pipe()
            .atomic()
            .incr(&key, cost)
            .expire(&key, (2 * window_secs) as i64)
            .ignore()
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        Ok(count <= limit)
    }

    /// How much of `budget` was spent in the current window (without spending).
    pub async fn spent(&self, budget: &str, window_secs: u64) -> Result<u64> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let key = format!("chatr:rate:{budget}:{}", now / window_secs.max(1));
        let count: Option<u64> = self.conn.clone().get(&key).await.map_err(redis_error)?;
        Ok(count.unwrap_or(0))
    }

    /// Removes the users of nodes whose lease ran out; returns those who are
    /// now offline everywhere. Each dead node is reaped by one live node.
    pub async fn reap(&self) -> Result<Vec<Departed>> {
        let mut conn = self.conn.clone();
        let nodes: Vec<String> = conn.smembers(NODES).await.map_err(redis_error)?;
        let mut departed = Vec::new();
        for node in nodes.into_iter().filter(|n| *n != self.node) {
            let alive: bool = conn.exists(lease_key(&node)).await.map_err(redis_error)?;
            if alive {
                continue;
            }
            let mine: bool = redis_client::cmd("SET")
                .arg(format!("chatr:reap:{node}"))
                .arg(&self.node)
                .arg("NX")
                .arg("EX")
                .arg(60)
                .query_async::<Option<String>>(&mut conn)
                .await
                .map_err(redis_error)?
                .is_some();
            if !mine {
                continue;
            }
            let last_seen: Option<String> =
                conn.hget(HEARTBEATS, &node).await.map_err(redis_error)?;
            let last_seen = last_seen.unwrap_or_else(clock::now);
            let users: Vec<String> = conn.smembers(users_key(&node)).await.map_err(redis_error)?;
            for user in users {
                let Ok(user) = Uuid::parse_str(&user) else {
                    continue;
                };
                if self.remove(user, &node).await? {
                    departed.push(Departed {
                        user,
                        last_seen: last_seen.clone(),
                    });
                }
            }
            redis_client::pipe()
                .atomic()
                .del(users_key(&node))
                .ignore()
                .srem(NODES, &node)
                .ignore()
                .hdel(HEARTBEATS, &node)
                .ignore()
                .query_async::<()>(&mut conn)
                .await
                .map_err(redis_error)?;
        }
        Ok(departed)
    }

    /// A graceful stop: this node leaves at once instead of waiting to be reaped.
    pub async fn retire(&self) {
        let mut conn = self.conn.clone();
        let _ = redis_client::pipe()
            .atomic()
            .del(lease_key(&self.node))
            .ignore()
            .query_async::<()>(&mut conn)
            .await;
    }
}
