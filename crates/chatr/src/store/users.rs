//! The `users` table.

use std::collections::HashMap;

use uuid::Uuid;

use super::{
    Store,
    rows::{UserRow, user_columns},
};
use crate::error::{Error, Result};
use crate::model::UserRecord;

pub struct NewUser<'a> {
    pub id: Uuid,
    pub username: &'a str,
    pub email: &'a str,
    pub password_hash: &'a str,
    pub created_at: &'a str,
}

impl Store {
    /// Inserts a user; a taken username or email is a `Conflict` naming the field.
    pub async fn insert_user(&self, user: &NewUser<'_>) -> Result<()> {
        // Integers, not booleans: SQLite has no boolean type to decode.
        let taken: Option<(i64, i64)> = sqlx::query_as(
            "select cast(case when lower(username) = lower($1) then 1 else 0 end as bigint), \
                    cast(case when lower(email) = lower($2) then 1 else 0 end as bigint) from users \
             where lower(username) = lower($1) or lower(email) = lower($2) limit 1",
        )
        .bind(user.username)
        .bind(user.email)
        .fetch_optional(&self.pool)
        .await?;
        match taken {
            Some((1, _)) => return Err(conflict("username", "username is already taken")),
            Some(_) => return Err(conflict("email", "email is already registered")),
            None => {}
        }
        let result = sqlx::query(
            "insert into users (id, username, email, password_hash, created_at) values ($1, $2, $3, $4, $5)",
        )
        .bind(user.id.to_string())
        .bind(user.username)
        .bind(user.email)
        .bind(user.password_hash)
        .bind(user.created_at)
        .execute(&self.pool)
        .await;
        match result {
            // Two registrations raced past the check above.
            Err(e) if Error::is_unique_violation(&e) => {
                Err(conflict("username", "username or email is already taken"))
            }
            other => other.map(drop).map_err(Error::from),
        }
    }

    pub async fn user_by_id(&self, id: Uuid) -> Result<Option<UserRecord>> {
        sqlx::query_as::<_, UserRow>(concat!(
            "select ",
            user_columns!(),
            " from users where id = $1"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?
        .map(UserRecord::try_from)
        .transpose()
    }

    /// The user whose username or email is `login` (case-insensitive), with the password hash.
    pub async fn user_for_login(&self, login: &str) -> Result<Option<(UserRecord, String)>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            user: UserRow,
            password_hash: String,
        }
        let row: Option<Row> = sqlx::query_as(concat!(
            "select ",
            user_columns!(),
            ", password_hash from users \
             where (lower(username) = lower($1) or lower(email) = lower($1)) and deleted_at is null limit 1"
        ))
        .bind(login)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((UserRecord::try_from(r.user)?, r.password_hash)))
            .transpose()
    }

    pub async fn password_hash(&self, id: Uuid) -> Result<Option<String>> {
        let row: Option<(String,)> =
            sqlx::query_as("select password_hash from users where id = $1")
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(h,)| h))
    }

    pub async fn set_password_hash(&self, id: Uuid, hash: &str) -> Result<()> {
        sqlx::query("update users set password_hash = $1 where id = $2")
            .bind(hash)
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every user but `me`, by username.
    pub async fn list_users(&self, me: Uuid, limit: i64, offset: i64) -> Result<Vec<UserRecord>> {
        sqlx::query_as::<_, UserRow>(concat!(
            "select ",
            user_columns!(),
            " from users where id <> $1 and deleted_at is null order by lower(username) limit $2 offset $3"
        ))
        .bind(me.to_string())
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(UserRecord::try_from)
        .collect()
    }

    /// Users but `me` whose username contains `term`, or whose whole email
    /// is `term`, case-insensitively.
    pub async fn search_users(&self, me: Uuid, term: &str, limit: i64) -> Result<Vec<UserRecord>> {
        let pattern = format!("%{}%", escape_like(&term.to_lowercase()));
        sqlx::query_as::<_, UserRow>(concat!(
            "select ",
            user_columns!(),
            " from users where id <> $1 and deleted_at is null \
             and (lower(username) like $2 escape '\\' or lower(email) = lower($3)) \
             order by lower(username) limit $4"
        ))
        .bind(me.to_string())
        .bind(pattern)
        .bind(term)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(UserRecord::try_from)
        .collect()
    }

    /// `lastSeen` of each of `ids` that is a user (absent: no such user).
    pub async fn last_seen_of(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, Option<String>>> {
        let mut found = HashMap::with_capacity(ids.len());
        // Bounded batches keep each statement within every backend's parameter limit.
        for chunk in ids.chunks(250) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "select id, last_seen from users where id in ({})",
                placeholders.join(", ")
            );
            let mut query = sqlx::query_as::<_, (String, Option<String>)>(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(id.to_string());
            }
            for (id, last_seen) in query.fetch_all(&self.pool).await? {
                found.insert(super::rows::uuid(&id)?, last_seen);
            }
        }
        Ok(found)
    }

    /// The users `user` has exchanged at least one message with.
    pub async fn contacts_of(&self, user: Uuid) -> Result<Vec<Uuid>> {
        let ids: Vec<(String,)> = sqlx::query_as(
            "select user_b from contacts where user_a = $1 union all select user_a from contacts where user_b = $1",
        )
        .bind(user.to_string())
        .fetch_all(&self.pool)
        .await?;
        ids.iter().map(|(id,)| super::rows::uuid(id)).collect()
    }
}

fn conflict(field: &'static str, message: &'static str) -> Error {
    Error::Conflict {
        message: message.into(),
        field: Some(field),
    }
}

/// Escapes LIKE wildcards so that a search for `50%` finds "50%", not everything.
pub(super) fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
