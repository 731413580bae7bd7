//! Retention: messages (and their events) older than the retention period are removed in
//! small batches, short transactions that never hold up senders for long.

use super::clock::Clock;
use crate::store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Rows removed per transaction.
const BATCH: i64 = 500;
/// How often the worker looks for old rows.
const INTERVAL: Duration = Duration::from_secs(3_600);

/// Removes messages older than `keep` now and then every hour, until `stop`.
pub fn spawn(store: Arc<dyn Store>, clock: Clock, keep: Duration, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let cutoff = clock.now().minus(keep);
            loop {
                match store.remove_before(cutoff, BATCH).await {
                    Ok(0) => break,
                    Ok(removed) => tracing::info!(removed, "retention removed old rows"),
                    Err(error) => {
                        tracing::warn!(%error, "retention failed; will retry");
                        break;
                    }
                }
                if stop.is_cancelled() {
                    return;
                }
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(INTERVAL) => {}
            }
        }
    })
}
