//! Reading messages: single messages, offline backlog, history, conversations.

use uuid::Uuid;

use super::{
    Store,
    rows::{MessageRow, UserRow, message_columns, message_select},
};
use crate::chat::model::{Message, UserRecord};
use crate::error::Result;

/// Where an older page of history ends.
pub enum HistoryCursor {
    Latest,
    /// Strictly older than this message (which must belong to the conversation).
    BeforeMessage(Uuid),
    /// Strictly older than this timestamp (contract format).
    BeforeTime(String),
}

/// The message `sender` sent with `client_id` (a repeated `clientMessageId`).
pub(super) async fn by_client_id(
    pool: &sqlx::AnyPool,
    sender: Uuid,
    client_id: Option<String>,
) -> Result<Option<Message>> {
    sqlx::query_as::<_, MessageRow>(concat!(
        message_select!(),
        " where m.sender_id = $1 and m.client_message_id = $2"
    ))
    .bind(sender.to_string())
    .bind(client_id)
    .fetch_optional(pool)
    .await?
    .map(Message::try_from)
    .transpose()
}

fn messages(rows: Vec<MessageRow>) -> Result<Vec<Message>> {
    rows.into_iter().map(Message::try_from).collect()
}

impl Store {
    pub async fn message(&self, id: Uuid) -> Result<Option<Message>> {
        sqlx::query_as::<_, MessageRow>(concat!(message_select!(), " where m.id = $1"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .map(Message::try_from)
            .transpose()
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
        let rows: Vec<Row> = sqlx::query_as(concat!(
            "select m.seq, ",
            message_columns!(),
            " from messages m join users u on u.id = m.sender_id \
             where m.recipient_id = $1 and m.status = 'sent' and m.seq > $2 and m.seq <= $3 \
             order by m.seq limit $4"
        ))
        .bind(user.to_string())
        .bind(after)
        .bind(upto)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| Ok((r.seq, Message::try_from(r.message)?)))
            .collect()
    }

    /// The highest message position in the store (0 when there is none).
    pub async fn max_seq(&self) -> Result<i64> {
        let (max,): (Option<i64>,) = sqlx::query_as("select max(seq) from messages")
            .fetch_one(&self.pool)
            .await?;
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
            " from messages m join users u on u.id = m.sender_id \
                  where m.sender_id = $1 and m.recipient_id = $2 and m.seq < $3 \
                    and (cast($4 as text) is null or m.created_at < $4) \
                  order by m.seq desc limit $5) as mine \
               union all \
               select * from (select m.seq, ",
            message_columns!(),
            " from messages m join users u on u.id = m.sender_id \
                  where m.sender_id = $2 and m.recipient_id = $1 and m.seq < $3 \
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
        messages(rows).map(Some)
    }

    /// One row per contact: the partner, the newest message between the two,
    /// and how many of the partner's messages `me` has not read. Newest first.
    pub async fn conversations(&self, me: Uuid) -> Result<Vec<(UserRecord, Message, i64)>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            message: MessageRow,
            p_id: String,
            p_username: String,
            p_profile_image: Option<String>,
            p_last_seen: Option<String>,
            p_created_at: String,
            unread: i64,
        }
        let rows: Vec<Row> = sqlx::query_as(concat!(
            "with partners as ( \
                 select user_b as partner from contacts where user_a = $1 \
                 union all select user_a from contacts where user_b = $1 \
             ), latest as ( \
                 select partner, ( \
                     select max(seq) from ( \
                         select max(seq) as seq from messages where sender_id = $1 and recipient_id = partner \
                         union all \
                         select max(seq) from messages where sender_id = partner and recipient_id = $1 \
                     ) as both_ways \
                 ) as seq, \
                 (select count(*) from messages \
                    where recipient_id = $1 and sender_id = partner and read_at is null) as unread \
                 from partners \
             ) \
             select ",
            message_columns!(),
            ", p.id as p_id, p.username as p_username, p.profile_image as p_profile_image, \
               p.last_seen as p_last_seen, p.created_at as p_created_at, latest.unread \
             from latest \
             join messages m on m.seq = latest.seq \
             join users u on u.id = m.sender_id \
             join users p on p.id = latest.partner \
             order by m.seq desc"
        ))
        .bind(me.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                let partner = UserRecord::try_from(UserRow {
                    id: r.p_id,
                    username: r.p_username,
                    email: String::new(),
                    profile_image: r.p_profile_image,
                    last_seen: r.p_last_seen,
                    created_at: r.p_created_at,
                })?;
                Ok((partner, Message::try_from(r.message)?, r.unread))
            })
            .collect()
    }
}
