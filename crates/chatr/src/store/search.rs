//! Full-text search in a user's own conversations: SQLite's FTS5 (in a file
//! of its own, filled by a thread of its own: see `indexer`) or PostgreSQL's `tsvector` with a GIN
//! index. The words of a query are matched whole, the last one as a prefix.

use uuid::Uuid;

use super::{
    Backend, Store,
    rows::{MessageRow, message_columns},
};
use crate::error::Result;
use crate::model::Message;

/// The words of a search: letters and digits, lower case, at most 16 of 64 characters.
pub fn words(q: &str) -> Vec<String> {
    q.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(16)
        .map(|w| w.chars().take(64).collect::<String>().to_lowercase())
        .collect()
}

/// FTS5: `"w1" AND "w2"*`; PostgreSQL: `w1 & w2:*`. Words are letters and
/// digits only, so nothing in them is query syntax.
fn query(backend: Backend, words: &[String]) -> String {
    let last = words.len().saturating_sub(1);
    let terms: Vec<String> = words
        .iter()
        .enumerate()
        .map(|(i, w)| match (backend, i == last) {
            (Backend::Sqlite, false) => format!("\"{w}\""),
            (Backend::Sqlite, true) => format!("\"{w}\"*"),
            (Backend::Postgres, false) => w.clone(),
            (Backend::Postgres, true) => format!("{w}:*"),
        })
        .collect();
    match backend {
        Backend::Sqlite => terms.join(" AND "),
        Backend::Postgres => terms.join(" & "),
    }
}

impl Store {
    /// Messages between `me` and anyone (or only `with`) whose content has
    /// every word of `words`, newest first, older than position `before`.
    /// Unsent messages never match.
    pub async fn search_messages(
        &self,
        me: Uuid,
        words: &[String],
        with: Option<Uuid>,
        before: i64,
        limit: i64,
    ) -> Result<Vec<Message>> {
        if words.is_empty() {
            return Ok(Vec::new());
        }
        let matching = match self.backend {
            Backend::Sqlite => {
                "m.seq in (select rowid from search.messages_fts where messages_fts match $1)"
            }
            Backend::Postgres => "m.search @@ to_tsquery('simple', $1)",
        };
        let sql = format!(
            "select {} from messages m join users u on u.id = m.sender_id \
             left join messages r on r.id = m.reply_to_id \
             where {matching} and (m.sender_id = $2 or m.recipient_id = $2) \
               and (cast($3 as text) is null \
                    or (m.sender_id = $3 and m.recipient_id = $2) or (m.sender_id = $2 and m.recipient_id = $3)) \
               and m.deleted_at is null and m.seq < $4 \
             order by m.seq desc limit $5",
            message_columns!()
        );
        let rows = sqlx::query_as::<_, MessageRow>(sqlx::AssertSqlSafe(sql))
            .bind(query(self.backend, words))
            .bind(me.to_string())
            .bind(with.map(|w| w.to_string()))
            .bind(before)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        let mut messages = rows
            .into_iter()
            .map(Message::try_from)
            .collect::<Result<Vec<_>>>()?;
        self.attach_reactions(&mut messages).await?;
        Ok(messages)
    }

    /// The position of message `id` if `me` sent or received it.
    pub async fn position_for(&self, me: Uuid, id: Uuid) -> Result<Option<i64>> {
        let row: Option<(i64,)> = sqlx::query_as(
            "select seq from messages where id = $1 and (sender_id = $2 or recipient_id = $2)",
        )
        .bind(id.to_string())
        .bind(me.to_string())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(seq,)| seq))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_built_from_words_only() {
        let w = words("Hello, wörld! \"x\" OR NEAR(");
        assert_eq!(w, ["hello", "wörld", "x", "or", "near"]);
        assert_eq!(query(Backend::Sqlite, &w[..2]), "\"hello\" AND \"wörld\"*");
        assert_eq!(query(Backend::Postgres, &w[..2]), "hello & wörld:*");
        assert!(words("  !!  ").is_empty());
    }
}
