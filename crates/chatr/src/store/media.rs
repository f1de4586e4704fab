//! Rows that attachments touch: profile images, waveforms, served file names.

use uuid::Uuid;

use super::Store;
use crate::error::Result;

impl Store {
    /// Sets (or clears) a user's profile image; returns the previous one.
    pub async fn set_profile_image(&self, user: Uuid, url: Option<&str>) -> Result<Option<String>> {
        let mut tx = self.pool.begin().await?;
        let previous: Option<(Option<String>,)> =
            sqlx::query_as("select profile_image from users where id = $1")
                .bind(user.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        sqlx::query("update users set profile_image = $1 where id = $2")
            .bind(url)
            .bind(user.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(previous.and_then(|(p,)| p))
    }

    pub async fn set_waveform(&self, message: Uuid, waveform: &[f32], duration: f64) -> Result<()> {
        let waveform = serde_json::to_string(waveform).unwrap_or_else(|_| "[]".to_owned());
        sqlx::query("update messages set waveform = $1, duration = $2 where id = $3")
            .bind(waveform)
            .bind(duration)
            .bind(message.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Bytes of the files `user` has stored in messages.
    pub async fn stored_bytes(&self, user: Uuid) -> Result<i64> {
        let (sum,): (Option<i64>,) = sqlx::query_as(
            "select cast(sum(file_size) as bigint) from messages where sender_id = $1 and file_url is not null",
        )
        .bind(user.to_string())
        .fetch_one(&self.pool)
        .await?;
        Ok(sum.unwrap_or(0))
    }

    /// The original name of the attachment stored at `url`, for `Content-Disposition`.
    pub async fn attachment_name(&self, url: &str) -> Result<Option<String>> {
        let row: Option<(Option<String>,)> =
            sqlx::query_as("select file_name from messages where file_url = $1 limit 1")
                .bind(url)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.and_then(|(name,)| name))
    }
}
