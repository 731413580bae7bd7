//! The operator's "Enable in-app chat" switch and its one owner. The send path asks it
//! before a seller writes, `chatEvents` asks it before a seller subscribes, and the event
//! broker watches it to end seller subscriptions when chat is switched off. The stored
//! setting is the truth (another process, such as the CLI, may change it): every read
//! goes to storage and tells the watchers when the value changed.

use super::error::ServiceError;
use crate::store::Store;
use std::sync::Arc;
use tokio::sync::watch;

/// Settings key of the operator's "Enable in-app chat" switch.
pub const CHAT_ENABLED_SETTING: &str = "chat_enabled";

/// Whether in-app chat is enabled; clones share the watched value.
#[derive(Clone)]
pub struct ChatSwitch {
    store: Arc<dyn Store>,
    /// The value last read or set, for watchers.
    known: Arc<watch::Sender<bool>>,
}

impl ChatSwitch {
    /// The switch stored in `store` (on until read otherwise).
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store, known: Arc::new(watch::Sender::new(true)) }
    }

    /// Whether sellers may chat now (default: on), read from storage.
    #[tracing::instrument(skip_all)]
    pub async fn enabled(&self) -> Result<bool, ServiceError> {
        let enabled = self.store.setting(CHAT_ENABLED_SETTING).await?.as_deref() != Some("false");
        self.publish(enabled);
        Ok(enabled)
    }

    /// Switches in-app chat on or off.
    #[tracing::instrument(skip_all)]
    pub async fn set(&self, enabled: bool) -> Result<(), ServiceError> {
        self.store.set_setting(CHAT_ENABLED_SETTING, if enabled { "true" } else { "false" }).await?;
        self.publish(enabled);
        Ok(())
    }

    /// The value last read or set, and each change after it.
    pub fn watch(&self) -> watch::Receiver<bool> {
        self.known.subscribe()
    }

    fn publish(&self, enabled: bool) {
        self.known.send_if_modified(|current| std::mem::replace(current, enabled) != enabled);
    }
}
