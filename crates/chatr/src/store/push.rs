//! Web Push subscriptions (issue 14) and the one preference about them.
//! Written rarely (a browser subscribes once), so through the pool.

use uuid::Uuid;

use super::Store;
use crate::error::Result;

/// Subscriptions one user keeps (the newest).
pub const MAX_PER_USER: i64 = 20;

/// A browser's push subscription, as `PushSubscription.toJSON()` gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    pub endpoint: String,
    /// The browser's P-256 public key, base64url.
    pub p256dh: String,
    /// The browser's authentication secret, base64url.
    pub auth: String,
}

impl Store {
    /// Saves `sub` for the session `token` of `user` (until `expires_at`,
    /// seconds); an endpoint already known changes hands.
    pub async fn save_subscription(
        &self,
        user: Uuid,
        token: Uuid,
        expires_at: i64,
        sub: &Subscription,
    ) -> Result<()> {
        sqlx::query(
            "insert into push_subscriptions \
               (endpoint, user_id, token_id, expires_at, p256dh, auth, created_at) \
             values ($1, $2, $3, $4, $5, $6, $7) \
             on conflict (endpoint) do update set user_id = excluded.user_id, \
               token_id = excluded.token_id, expires_at = excluded.expires_at, \
               p256dh = excluded.p256dh, auth = excluded.auth, created_at = excluded.created_at",
        )
        .bind(&sub.endpoint)
        .bind(user.to_string())
        .bind(token.to_string())
        .bind(expires_at)
        .bind(&sub.p256dh)
        .bind(&sub.auth)
        .bind(crate::clock::now())
        .execute(&self.pool)
        .await?;
        // A user keeps their newest few: browsers that cleared their data
        // leave subscriptions behind, and nothing a client sends grows unbounded.
        sqlx::query(
            "delete from push_subscriptions where user_id = $1 and endpoint not in \
             (select endpoint from push_subscriptions where user_id = $1 \
              order by created_at desc, endpoint limit $2)",
        )
        .bind(user.to_string())
        .bind(MAX_PER_USER)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Removes `endpoint` if `user` holds it; whether it did.
    pub async fn remove_subscription(&self, user: Uuid, endpoint: &str) -> Result<bool> {
        let done =
            sqlx::query("delete from push_subscriptions where endpoint = $1 and user_id = $2")
                .bind(endpoint)
                .bind(user.to_string())
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The push service said the subscription is gone (`404`/`410`).
    pub async fn forget_endpoint(&self, endpoint: &str) -> Result<()> {
        sqlx::query("delete from push_subscriptions where endpoint = $1")
            .bind(endpoint)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A session ended (logout): its subscriptions go with it.
    pub async fn remove_token_subscriptions(&self, token: Uuid) -> Result<()> {
        sqlx::query("delete from push_subscriptions where token_id = $1")
            .bind(token.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every session of `user` ended (logout everywhere, a new password,
    /// a disabled or deleted account).
    pub async fn remove_user_subscriptions(&self, user: Uuid) -> Result<()> {
        sqlx::query("delete from push_subscriptions where user_id = $1")
            .bind(user.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The subscriptions of `user` whose session lives at `now` (seconds).
    pub async fn subscriptions_of(&self, user: Uuid, now: i64) -> Result<Vec<Subscription>> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "select endpoint, p256dh, auth from push_subscriptions \
             where user_id = $1 and expires_at >= $2",
        )
        .bind(user.to_string())
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(endpoint, p256dh, auth)| Subscription {
                endpoint,
                p256dh,
                auth,
            })
            .collect())
    }

    /// Whether `user` has a live subscription: asked for every message to a
    /// user who is away, so one indexed read, before anything else is done.
    pub async fn has_subscriptions(&self, user: Uuid, now: i64) -> Result<bool> {
        let row: Option<(i64,)> = sqlx::query_as(
            "select cast(1 as bigint) from push_subscriptions \
             where user_id = $1 and expires_at >= $2 limit 1",
        )
        .bind(user.to_string())
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// Deletes the subscriptions whose session expired before `now`
    /// (housekeeping, once a minute).
    pub async fn prune_subscriptions(&self, now: i64) -> Result<()> {
        sqlx::query("delete from push_subscriptions where expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Whether a message is still worth a push to its recipient: not
    /// unsent, and its sender not blocked by the recipient since.
    pub async fn push_still_wanted(&self, message: Uuid) -> Result<bool> {
        let row: Option<(i64,)> = sqlx::query_as(
            "select cast(1 as bigint) from messages m where m.id = $1 and m.deleted_at is null \
             and not exists (select 1 from blocks b \
                             where b.blocker_id = m.recipient_id and b.blocked_id = m.sender_id)",
        )
        .bind(message.to_string())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    pub async fn push_previews(&self, user: Uuid) -> Result<bool> {
        let row: Option<(i64,)> =
            sqlx::query_as("select cast(push_previews as bigint) from users where id = $1")
                .bind(user.to_string())
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.is_none_or(|(on,)| on != 0))
    }

    pub async fn set_push_previews(&self, user: Uuid, on: bool) -> Result<()> {
        sqlx::query("update users set push_previews = $1 where id = $2")
            .bind(i64::from(on))
            .bind(user.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
