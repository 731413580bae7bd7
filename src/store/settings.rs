//! Whether the database answers, and the stored settings: what storage offers for them,
//! and the statements every SQL back end runs for it, written once.

use super::sql::every_backend;
use super::records::StoreResult;
use async_trait::async_trait;
use tracing::instrument;

/// The database's health and settings (a part of `Store`).
#[async_trait]
pub trait SettingStore {
    /// Whether the database answers.
    async fn ping(&self) -> StoreResult<()>;
    /// A setting's stored value.
    async fn setting(&self, name: &str) -> StoreResult<Option<String>>;
    /// Stores a setting.
    async fn set_setting(&self, name: &str, value: &str) -> StoreResult<()>;
}

every_backend! {
    #[async_trait]
    impl SettingStore for B {
        #[instrument(level = "debug", skip_all)]
        async fn ping(&self) -> StoreResult<()> {
            sqlx::query("SELECT 1").execute(self.readers()).await?;
            Ok(())
        }

        #[instrument(level = "debug", skip_all)]
        async fn setting(&self, name: &str) -> StoreResult<Option<String>> {
            let value = sqlx::query_scalar("SELECT value FROM settings WHERE name = $1").bind(name).fetch_optional(self.readers()).await?;
            Ok(value)
        }

        #[instrument(level = "debug", skip_all)]
        async fn set_setting(&self, name: &str, value: &str) -> StoreResult<()> {
            sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value")
                .bind(name)
                .bind(value)
                .execute(self.writer())
                .await?;
            Ok(())
        }
    }
}
