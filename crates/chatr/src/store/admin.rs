//! What operators read and change (`/api/admin`, `chatr admin`): accounts
//! with their role and state, and counts for `stats`.

use serde::Serialize;
use uuid::Uuid;

use super::Store;
use crate::error::Result;

/// An account as an operator sees it.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminUser {
    #[schema(format = Uuid)]
    pub id: String,
    pub username: String,
    pub email: String,
    /// `admin` or `user`.
    pub role: String,
    pub created_at: String,
    #[schema(required = true)]
    pub last_seen: Option<String>,
    /// When the account was disabled; `null` while it may log in.
    #[schema(required = true)]
    pub disabled_at: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub users: i64,
    pub admins: i64,
    pub disabled: i64,
    pub messages: i64,
    pub stored_files: i64,
    pub stored_bytes: i64,
}

const ADMIN_USER: &str =
    "select id, username, email, role, created_at, last_seen, disabled_at from users";

impl Store {
    /// Accounts (deleted ones left out) whose username or email contains
    /// `term`, or whose id is `term`; all of them without a term.
    pub async fn admin_users(
        &self,
        term: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<AdminUser>> {
        let pattern = term.map(|t| format!("%{}%", super::users::escape_like(&t.to_lowercase())));
        let rows = sqlx::query_as::<_, AdminUser>(sqlx::AssertSqlSafe(format!(
            "{ADMIN_USER} where deleted_at is null and (cast($1 as text) is null or id = $2 \
             or lower(username) like $1 escape '\\' or lower(email) like $1 escape '\\') \
             order by lower(username) limit $3 offset $4"
        )))
        .bind(pattern)
        .bind(term.unwrap_or_default().to_owned())
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    pub async fn admin_user(&self, id: Uuid) -> Result<Option<AdminUser>> {
        Ok(sqlx::query_as::<_, AdminUser>(sqlx::AssertSqlSafe(format!(
            "{ADMIN_USER} where id = $1 and deleted_at is null"
        )))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?)
    }

    /// `(role, disabled)` of a live account.
    pub async fn account_state(&self, id: Uuid) -> Result<Option<(String, bool)>> {
        let row: Option<(String, Option<String>)> = sqlx::query_as(
            "select role, disabled_at from users where id = $1 and deleted_at is null",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(role, disabled)| (role, disabled.is_some())))
    }

    pub async fn set_role(&self, id: Uuid, role: &str) -> Result<bool> {
        let done = sqlx::query("update users set role = $1 where id = $2 and deleted_at is null")
            .bind(role)
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Disables (at `at`) or enables an account.
    pub async fn set_disabled(&self, id: Uuid, at: Option<&str>) -> Result<bool> {
        let done =
            sqlx::query("update users set disabled_at = $1 where id = $2 and deleted_at is null")
                .bind(at)
                .bind(id.to_string())
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn counts(&self) -> Result<Counts> {
        let (users, admins, disabled): (i64, i64, i64) = sqlx::query_as(
            "select cast(count(*) as bigint), \
                    cast(coalesce(sum(case when role = 'admin' then 1 else 0 end), 0) as bigint), \
                    cast(coalesce(sum(case when disabled_at is not null then 1 else 0 end), 0) as bigint) \
             from users where deleted_at is null",
        )
        .fetch_one(&self.pool)
        .await?;
        let (messages, stored_files, stored_bytes): (i64, i64, i64) = sqlx::query_as(
            "select cast(count(*) as bigint), \
                    cast(coalesce(sum(case when file_url is not null then 1 else 0 end), 0) as bigint), \
                    cast(coalesce(sum(case when file_url is not null then file_size else 0 end), 0) as bigint) \
             from messages",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(Counts {
            users,
            admins,
            disabled,
            messages,
            stored_files,
            stored_bytes,
        })
    }
}
