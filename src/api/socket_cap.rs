//! A cap on the subscription sockets one credential holds open, so one key or portal
//! user cannot take every subscription slot.

use crate::service::auth::Credential;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Open sockets per credential, so one key cannot take every subscription slot.
pub struct SocketsPerCredential {
    max: usize,
    open: Mutex<HashMap<Credential, usize>>,
}

impl SocketsPerCredential {
    /// At most `max` open sockets per credential.
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self { max, open: Mutex::default() })
    }

    /// Counts one more socket for `credential`; `None` when it holds `max` already.
    pub fn open(self: &Arc<Self>, credential: Credential) -> Option<SocketHeld> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(credential).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(SocketHeld { counts: self.clone(), credential })
    }
}

/// One counted socket; uncounted when dropped.
pub struct SocketHeld {
    counts: Arc<SocketsPerCredential>,
    credential: Credential,
}

impl Drop for SocketHeld {
    fn drop(&mut self) {
        let mut open = self.counts.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.credential) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.credential);
            }
        }
    }
}
