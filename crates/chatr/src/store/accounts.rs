//! What an account does to its own data: edit histories, export, deletion.

use uuid::Uuid;

use super::{
    Store,
    rows::{MessageRow, message_columns, message_from, message_select, uuid},
};
use crate::error::Result;
use crate::model::{Edit, Message};

/// What deleting an account left to do outside the database.
pub struct Deleted {
    /// Files the account sent (and their previews), to remove from storage.
    pub files: Vec<String>,
    /// The account's messages, now tombstones, and who received each.
    pub tombstones: Vec<(Uuid, Uuid)>,
}

impl Store {
    /// The earlier versions of message `id`, oldest first.
    pub async fn edits_of(&self, id: Uuid) -> Result<Vec<Edit>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "select content, edited_at from message_edits where message_id = $1 order by seq",
        )
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(content, edited_at)| Edit { content, edited_at })
            .collect())
    }

    /// The position of every message `user` sent or received, oldest first:
    /// found conversation by conversation through the (sender, recipient)
    /// index, so an export reads no other user's rows.
    pub async fn positions_of(&self, user: Uuid) -> Result<Vec<i64>> {
        let me = user.to_string();
        let partners = self.contacts_of(user).await?;
        let mut seqs = Vec::new();
        for partner in partners {
            let rows: Vec<(i64,)> = sqlx::query_as(
                "select seq from messages where sender_id = $1 and recipient_id = $2 \
                 union all select seq from messages where sender_id = $2 and recipient_id = $1",
            )
            .bind(&me)
            .bind(partner.to_string())
            .fetch_all(&self.pool)
            .await?;
            seqs.extend(rows.into_iter().map(|(s,)| s));
        }
        seqs.sort_unstable();
        Ok(seqs)
    }

    /// The messages at `positions`, in that order, with their reactions.
    pub async fn messages_at(&self, positions: &[i64]) -> Result<Vec<Message>> {
        if positions.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (1..=positions.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "{} where m.seq in ({}) order by m.seq",
            message_select!(),
            placeholders.join(", ")
        );
        let mut query = sqlx::query_as::<_, MessageRow>(sqlx::AssertSqlSafe(sql));
        for seq in positions {
            query = query.bind(*seq);
        }
        let mut messages = query
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(Message::try_from)
            .collect::<Result<Vec<_>>>()?;
        self.attach_reactions(&mut messages).await?;
        Ok(messages)
    }

    /// The files `user` sent that are still stored: (url, original name).
    pub async fn files_sent_by(&self, user: Uuid) -> Result<Vec<(String, String)>> {
        let rows: Vec<(String, Option<String>)> = sqlx::query_as(
            "select file_url, file_name from messages where sender_id = $1 and file_url is not null order by seq",
        )
        .bind(user.to_string())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(url, name)| (url, name.unwrap_or_else(|| "file".into())))
            .collect())
    }

    /// Deletes an account (contract §6): it can no longer log in, the
    /// messages it sent become tombstones as after an unsend, its reactions
    /// and blocks go, its presence is hidden, and its username and email are
    /// freed for new registrations. Messages it received stay with their
    /// senders. One transaction.
    pub async fn delete_account(&self, user: Uuid, at: &str, revoke_ms: i64) -> Result<Deleted> {
        let id = user.to_string();
        let mut tx = self.write_transaction().await?;
        let rows: Vec<(String, String, Option<String>, Option<String>)> = sqlx::query_as(
            "select id, recipient_id, file_url, thumbnail_url from messages \
             where sender_id = $1 and deleted_at is null",
        )
        .bind(&id)
        .fetch_all(&mut *tx)
        .await?;
        if let Some(indexer) = &self.indexer {
            // The search index drops them on its next pass (see `indexer`);
            // the notes it has applied go, as after an edit.
            sqlx::query("insert into search_changes (seq) select seq from messages where sender_id = $1 and deleted_at is null")
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("delete from search_changes where id <= $1")
                .bind(
                    indexer
                        .changes_done()
                        .load(std::sync::atomic::Ordering::Relaxed),
                )
                .execute(&mut *tx)
                .await?;
        }
        for statement in [
            "delete from message_edits where message_id in (select id from messages where sender_id = $1)",
            "delete from reactions where message_id in (select id from messages where sender_id = $1)",
            "delete from reactions where user_id = $1",
            "delete from blocks where blocker_id = $1 or blocked_id = $1",
        ] {
            sqlx::query(statement).bind(&id).execute(&mut *tx).await?;
        }
        sqlx::query(
            "update messages set content = '', file_url = null, file_name = null, file_size = null, \
             file_type = null, waveform = null, duration = null, thumbnail_url = null, edited_at = null, \
             deleted_at = $2 where sender_id = $1 and deleted_at is null",
        )
        .bind(&id)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        // Its unread messages above the watermark are no longer unread, and
        // only the writer's own changes are in its tally (SQLite).
        self.writer().changed_elsewhere();
        let profile: Option<(Option<String>,)> =
            sqlx::query_as("select profile_image from users where id = $1")
                .bind(&id)
                .fetch_optional(&mut *tx)
                .await?;
        // The freed name keeps the account's row (its messages still point
        // at it) under a name no registration can take (a hyphen is not
        // allowed in usernames, and the email has no domain).
        let tag = &user.simple().to_string()[..12];
        sqlx::query(
            "update users set username = $2, email = $3, password_hash = '', profile_image = null, \
             presence_visibility = 'nobody', deleted_at = $4, tokens_valid_after = $5 where id = $1",
        )
        .bind(&id)
        .bind(format!("deleted-{tag}"))
        .bind(format!("deleted:{id}"))
        .bind(at)
        .bind(revoke_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut files: Vec<String> = rows
            .iter()
            .flat_map(|(_, _, file, thumb)| [file.clone(), thumb.clone()])
            .flatten()
            .collect();
        if let Some((Some(picture),)) = profile {
            files.push(picture);
        }
        let tombstones = rows
            .iter()
            .map(|(m, r, _, _)| Ok((uuid(m)?, uuid(r)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Deleted { files, tombstones })
    }
}
