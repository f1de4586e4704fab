//! Blocks and presence visibility.

use uuid::Uuid;

use super::{
    Store,
    rows::{UserRow, user_columns, uuid},
};
use crate::error::{Error, Result};
use crate::model::{UserRecord, Visibility};

impl Store {
    /// Every block (blocker, blocked), and every user whose visibility is not `everyone`.
    pub async fn relations(&self) -> Result<(Vec<(Uuid, Uuid)>, Vec<(Uuid, Visibility)>)> {
        let blocks: Vec<(String, String)> =
            sqlx::query_as("select blocker_id, blocked_id from blocks")
                .fetch_all(&self.pool)
                .await?;
        let visible: Vec<(String, String)> = sqlx::query_as(
            "select id, presence_visibility from users where presence_visibility <> 'everyone'",
        )
        .fetch_all(&self.pool)
        .await?;
        let blocks = blocks
            .iter()
            .map(|(a, b)| Ok((uuid(a)?, uuid(b)?)))
            .collect::<Result<Vec<_>>>()?;
        let visible = visible
            .iter()
            .map(|(id, v)| {
                let v =
                    Visibility::parse(v).ok_or_else(|| Error::internal("malformed visibility"))?;
                Ok((uuid(id)?, v))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((blocks, visible))
    }

    /// `blocker` blocks (`on`) or unblocks `blocked`; true when that changed anything.
    pub async fn set_block(
        &self,
        blocker: Uuid,
        blocked: Uuid,
        on: bool,
        at: &str,
    ) -> Result<bool> {
        let done = if on {
            sqlx::query(
                "insert into blocks (blocker_id, blocked_id, created_at) values ($1, $2, $3) \
                 on conflict do nothing",
            )
            .bind(blocker.to_string())
            .bind(blocked.to_string())
            .bind(at)
            .execute(&self.pool)
            .await?
        } else {
            sqlx::query("delete from blocks where blocker_id = $1 and blocked_id = $2")
                .bind(blocker.to_string())
                .bind(blocked.to_string())
                .execute(&self.pool)
                .await?
        };
        Ok(done.rows_affected() > 0)
    }

    /// The users `blocker` blocks, by name.
    pub async fn blocked_by(&self, blocker: Uuid) -> Result<Vec<UserRecord>> {
        sqlx::query_as::<_, UserRow>(concat!(
            "select ",
            user_columns!(),
            " from users where id in (select blocked_id from blocks where blocker_id = $1) \
             order by lower(username)"
        ))
        .bind(blocker.to_string())
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(UserRecord::try_from)
        .collect()
    }

    pub async fn set_visibility(&self, user: Uuid, visibility: Visibility) -> Result<()> {
        sqlx::query("update users set presence_visibility = $1 where id = $2")
            .bind(visibility.as_str())
            .bind(user.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
