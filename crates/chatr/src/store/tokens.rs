//! Revoked tokens and per-user token cut-offs (see `auth::revocation`).

use uuid::Uuid;

use super::{Store, rows::uuid};
use crate::error::Result;

impl Store {
    /// Revokes one token until `expires_at` (seconds since the epoch).
    pub async fn revoke_token(&self, jti: Uuid, user: Uuid, expires_at: i64) -> Result<()> {
        sqlx::query(
            "insert into revoked_tokens (jti, user_id, expires_at) values ($1, $2, $3) \
             on conflict (jti) do nothing",
        )
        .bind(jti.to_string())
        .bind(user.to_string())
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every token of `user` issued before `at_ms` stops working.
    pub async fn set_tokens_valid_after(&self, user: Uuid, at_ms: i64) -> Result<()> {
        sqlx::query("update users set tokens_valid_after = $1 where id = $2")
            .bind(at_ms)
            .bind(user.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Tokens revoked and not yet expired at `now` (seconds), and each
    /// user's cut-off; expired revocations are deleted on the way.
    pub async fn revocations(&self, now: i64) -> Result<(Vec<(Uuid, i64)>, Vec<(Uuid, i64)>)> {
        sqlx::query("delete from revoked_tokens where expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        let tokens: Vec<(String, i64)> =
            sqlx::query_as("select jti, expires_at from revoked_tokens")
                .fetch_all(&self.pool)
                .await?;
        let users: Vec<(String, i64)> = sqlx::query_as(
            "select id, tokens_valid_after from users where tokens_valid_after is not null",
        )
        .fetch_all(&self.pool)
        .await?;
        let parse = |rows: Vec<(String, i64)>| -> Result<Vec<(Uuid, i64)>> {
            rows.into_iter()
                .map(|(id, n)| Ok((uuid(&id)?, n)))
                .collect()
        };
        Ok((parse(tokens)?, parse(users)?))
    }

    /// Whether `user` exists, and if so the users it has exchanged a message
    /// with: what a connecting session needs, in one query.
    pub async fn user_and_contacts(&self, user: Uuid) -> Result<Option<Vec<Uuid>>> {
        const SQL: &str = "select cast(0 as bigint) as k, id from users where id = $1 and deleted_at is null \
             union all select 1, user_b from contacts where user_a = $1 \
             union all select 1, user_a from contacts where user_b = $1";
        let key = user.to_string();
        let rows: Vec<(i64, String)> = match &self.reader {
            Some(reader) => reader.read(|c| {
                c.prepare_cached(SQL)?
                    .query_map([&key], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect()
            })?,
            None => sqlx::query_as(SQL).bind(&key).fetch_all(&self.pool).await?,
        };
        if !rows.iter().any(|(k, _)| *k == 0) {
            return Ok(None);
        }
        rows.iter()
            .filter(|(k, _)| *k == 1)
            .map(|(_, id)| uuid(id))
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }
}
