//! Reading messages: single messages, offline backlog, history, conversations.

use uuid::Uuid;

use super::{
    Backend, Store,
    rows::{MessageRow, UserRow, message_columns, message_from, message_select},
};
use crate::error::Result;
use crate::model::{Message, Reaction, UserRecord};

/// Where an older page of history ends.
pub enum HistoryCursor {
    Latest,
    /// Strictly older than this message (which must belong to the conversation).
    BeforeMessage(Uuid),
    /// Strictly older than this timestamp (contract format).
    BeforeTime(String),
}

/// The message `sender` sent with `client_id` (a repeated `clientMessageId`).
fn messages(rows: Vec<MessageRow>) -> Result<Vec<Message>> {
    rows.into_iter().map(Message::try_from).collect()
}

/// The conversations query; `$above` adds to each partner's count the
/// unread messages above SQLite's unread watermark (migration 0010), which
/// `unread_counts` does not count yet.
macro_rules! conversations_sql {
    ($above:literal) => {
        concat!(
            "with partners as ( \
                 select user_b as partner from contacts where user_a = $1 \
                 union all select user_a from contacts where user_b = $1 \
             ), unread as materialized ( \
                 select sender_id as partner, n from unread_counts where recipient_id = $1 \
             ), latest as ( \
                 select partners.partner, ( \
                     select max(seq) from ( \
                         select max(seq) as seq from messages where sender_id = $1 and recipient_id = partners.partner \
                         union all \
                         select max(seq) from messages where sender_id = partners.partner and recipient_id = $1 \
                     ) as both_ways \
                 ) as seq, \
                 coalesce(unread.n, 0)", $above, " as unread, \
                 (select count(*) from blocks where blocker_id = $1 and blocked_id = partners.partner) as blocked \
                 from partners left join unread on unread.partner = partners.partner \
             ) \
             select ",
            message_columns!(),
            ", p.id as p_id, p.username as p_username, p.profile_image as p_profile_image, \
               p.last_seen as p_last_seen, p.created_at as p_created_at, \
               p.presence_visibility as p_presence_visibility, latest.unread, latest.blocked \
             from latest \
             join messages m on m.seq = latest.seq \
             join users u on u.id = m.sender_id \
             left join messages r on r.id = m.reply_to_id \
             join users p on p.id = latest.partner \
             order by m.seq desc"
        )
    };
}

impl Store {
    /// The message `sender` sent with `client_id` (what a repeated
    /// `clientMessageId` answers with).
    pub async fn message_by_client_id(
        &self,
        sender: Uuid,
        client_id: Option<String>,
    ) -> Result<Option<Message>> {
        sqlx::query_as::<_, MessageRow>(concat!(
            message_select!(),
            " where m.sender_id = $1 and m.client_message_id = $2"
        ))
        .bind(sender.to_string())
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?
        .map(Message::try_from)
        .transpose()
    }

    /// One message, with its reactions.
    pub async fn message(&self, id: Uuid) -> Result<Option<Message>> {
        let message =
            sqlx::query_as::<_, MessageRow>(concat!(message_select!(), " where m.id = $1"))
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?
                .map(Message::try_from)
                .transpose()?;
        let Some(mut message) = message else {
            return Ok(None);
        };
        self.attach_reactions(std::slice::from_mut(&mut message))
            .await?;
        Ok(Some(message))
    }

    /// Messages to `user` still `sent` with a position in `(after, upto]`,
    /// oldest first, at most `limit` (one page of offline delivery).
    pub async fn pending_page(
        &self,
        user: Uuid,
        after: i64,
        upto: i64,
        limit: i64,
    ) -> Result<Vec<(i64, Message)>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            seq: i64,
            #[sqlx(flatten)]
            message: MessageRow,
        }
        const SQL: &str = concat!(
            "select m.seq, ",
            message_columns!(),
            message_from!(),
            // `messages_pending` holds exactly these rows, whatever was read.
            " where m.recipient_id = $1 and m.status = 'sent' \
             and m.seq > $2 and m.seq <= $3 \
             order by m.seq limit $4"
        );
        let key = user.to_string();
        let rows: Vec<Row> = match &self.reader {
            Some(reader) => reader.read(|c| {
                c.prepare_cached(SQL)?
                    .query_map(rusqlite::params![key, after, upto, limit], |r| {
                        Ok(Row {
                            seq: r.get("seq")?,
                            message: MessageRow::read(r)?,
                        })
                    })?
                    .collect()
            })?,
            None => {
                sqlx::query_as(SQL)
                    .bind(&key)
                    .bind(after)
                    .bind(upto)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        let (seqs, mut messages): (Vec<i64>, Vec<Message>) = rows
            .into_iter()
            .map(|r| Ok((r.seq, Message::try_from(r.message)?)))
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .unzip();
        self.attach_reactions(&mut messages).await?;
        Ok(seqs.into_iter().zip(messages).collect())
    }

    /// The highest message position in the store (0 when there is none).
    pub async fn max_seq(&self) -> Result<i64> {
        const SQL: &str = "select max(seq) from messages";
        let max: Option<i64> = match &self.reader {
            Some(reader) => reader.read(|c| c.prepare_cached(SQL)?.query_row([], |r| r.get(0)))?,
            None => {
                sqlx::query_as::<_, (Option<i64>,)>(SQL)
                    .fetch_one(&self.pool)
                    .await?
                    .0
            }
        };
        Ok(max.unwrap_or(0))
    }

    /// One page of the conversation between `me` and `other`, oldest first.
    /// `None` when the cursor message is not part of this conversation.
    pub async fn history(
        &self,
        me: Uuid,
        other: Uuid,
        cursor: HistoryCursor,
        limit: i64,
    ) -> Result<Option<Vec<Message>>> {
        let (me, other) = (me.to_string(), other.to_string());
        let (before_seq, before_time) = match cursor {
            HistoryCursor::Latest => (i64::MAX, None),
            HistoryCursor::BeforeTime(t) => (i64::MAX, Some(t)),
            HistoryCursor::BeforeMessage(id) => {
                let seq: Option<(i64,)> = sqlx::query_as(
                    "select seq from messages where id = $1 and \
                     ((sender_id = $2 and recipient_id = $3) or (sender_id = $3 and recipient_id = $2))",
                )
                .bind(id.to_string())
                .bind(&me)
                .bind(&other)
                .fetch_optional(&self.pool)
                .await?;
                match seq {
                    Some((seq,)) => (seq, None),
                    None => return Ok(None),
                }
            }
        };
        // Each direction walks its own (sender, recipient, seq) index backwards and
        // stops after `limit` rows; the newest `limit` of the two is the page. An OR
        // over both directions would sort the whole conversation for every page.
        let rows = sqlx::query_as::<_, MessageRow>(concat!(
            "select * from ( \
               select * from (select m.seq, ",
            message_columns!(),
            message_from!(),
            " where m.sender_id = $1 and m.recipient_id = $2 and m.seq < $3 \
                    and (cast($4 as text) is null or m.created_at < $4) \
                  order by m.seq desc limit $5) as mine \
               union all \
               select * from (select m.seq, ",
            message_columns!(),
            message_from!(),
            " where m.sender_id = $2 and m.recipient_id = $1 and m.seq < $3 \
                    and (cast($4 as text) is null or m.created_at < $4) \
                  order by m.seq desc limit $5) as theirs \
               order by seq desc limit $5) as page \
             order by seq"
        ))
        .bind(&me)
        .bind(&other)
        .bind(before_seq)
        .bind(before_time)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut page = messages(rows)?;
        self.attach_reactions(&mut page).await?;
        Ok(Some(page))
    }

    /// One row per contact: the partner, the newest message between the two,
    /// how many of the partner's messages `me` has not read, and whether `me`
    /// blocks the partner. Newest first.
    pub async fn conversations(&self, me: Uuid) -> Result<Vec<(UserRecord, Message, i64, bool)>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            message: MessageRow,
            p_id: String,
            p_username: String,
            p_profile_image: Option<String>,
            p_last_seen: Option<String>,
            p_created_at: String,
            p_presence_visibility: String,
            unread: i64,
            blocked: i64,
        }
        let sql = match self.backend {
            Backend::Sqlite => conversations_sql!(
                " + (select count(*) from messages \
                   where sender_id = partners.partner and recipient_id = $1 \
                   and seq > (select seq from unread_watermark) \
                   and read_at is null and deleted_at is null)"
            ),
            Backend::Postgres => conversations_sql!(""),
        };
        let rows: Vec<Row> = sqlx::query_as(sql)
            .bind(me.to_string())
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let partner = UserRecord::try_from(UserRow {
                id: r.p_id,
                username: r.p_username,
                email: String::new(),
                profile_image: r.p_profile_image,
                last_seen: r.p_last_seen,
                created_at: r.p_created_at,
                presence_visibility: r.p_presence_visibility,
            })?;
            out.push((
                partner,
                Message::try_from(r.message)?,
                r.unread,
                r.blocked > 0,
            ));
        }
        let mut messages: Vec<Message> = out.iter().map(|(_, m, _, _)| m.clone()).collect();
        self.attach_reactions(&mut messages).await?;
        for ((_, m, _, _), with) in out.iter_mut().zip(messages) {
            *m = with;
        }
        Ok(out)
    }

    /// Fills in the reactions of `messages` (one query for all of them).
    pub async fn attach_reactions(&self, messages: &mut [Message]) -> Result<()> {
        if messages.is_empty() {
            return Ok(());
        }
        for chunk in messages.chunks_mut(250) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "select message_id, user_id, emoji from reactions where message_id in ({}) \
                 order by created_at, user_id",
                placeholders.join(", ")
            );
            let ids: Vec<String> = chunk.iter().map(|m| m.id.to_string()).collect();
            let rows: Vec<(String, String, String)> = match &self.reader {
                Some(reader) => reader.read(|c| {
                    c.prepare_cached(&sql)?
                        .query_map(rusqlite::params_from_iter(&ids), |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                        })?
                        .collect()
                })?,
                None => {
                    let mut query =
                        sqlx::query_as::<_, (String, String, String)>(sqlx::AssertSqlSafe(sql));
                    for id in ids {
                        query = query.bind(id);
                    }
                    query.fetch_all(&self.pool).await?
                }
            };
            for (message, user, emoji) in rows {
                let (message, user) = (super::rows::uuid(&message)?, super::rows::uuid(&user)?);
                if let Some(m) = chunk.iter_mut().find(|m| m.id == message) {
                    m.reactions.push(Reaction {
                        user_id: user,
                        emoji,
                    });
                }
            }
        }
        Ok(())
    }
}
