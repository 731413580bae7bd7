//! Real-time fan-out. Storage is the source of truth: a tailer task reads the durable
//! event feed in sequence order and broadcasts each event; a subscription first
//! subscribes to the broadcast, then replays what it missed from storage, then follows
//! the broadcast, dropping by sequence number what it already sent. No gap, no repeat.
//!
//! The tailer wakes on a local commit (`Broker::wake`) and also polls, so writes made
//! by other processes (the CLI, other nodes) reach subscribers too.

use crate::domain::cursor::EventCursor;
use crate::metrics::Metrics;
use crate::service::CHAT_ENABLED_SETTING;
use crate::store::{Store, StoreError, StoredEvent};
use futures_util::Stream;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::sync::{broadcast, Notify};
use tokio_util::sync::CancellationToken;

/// Events read from storage per query, in replay and in the tailer.
const READ_BATCH: i64 = 500;

/// What the broker fans out.
#[derive(Debug, Clone)]
pub enum BrokerMessage {
    /// A committed event.
    Event(Arc<StoredEvent>),
    /// The operator switched in-app chat off: seller subscriptions end.
    ChatDisabled,
}

/// Why a subscription stream ended with an error.
#[derive(Debug, Error)]
pub enum StreamError {
    /// The subscriber fell more than the buffer behind the live feed.
    #[error("subscriber fell too far behind; reconnect and resume with after: the last cursor received")]
    TooSlow,
    /// In-app chat was switched off (seller subscriptions only).
    #[error("In-app chat is not enabled")]
    ChatDisabled,
    /// Reading the feed failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The fan-out hub, one per server, held in application state.
pub struct Broker {
    sender: broadcast::Sender<BrokerMessage>,
    /// A local commit: read the feed, then tell other nodes.
    wake: Notify,
    /// Another node committed: read the feed.
    remote_wake: Notify,
    poll_interval: Duration,
    metrics: Arc<Metrics>,
}

impl Broker {
    /// A broker whose live buffer holds `capacity` messages per subscriber at most.
    pub fn new(capacity: usize, poll_interval: Duration, metrics: Arc<Metrics>) -> Arc<Self> {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Arc::new(Self { sender, wake: Notify::new(), remote_wake: Notify::new(), poll_interval, metrics })
    }

    /// Tells the tailer that new events were committed here.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Tells the tailer that another node committed new events.
    pub fn wake_remote(&self) {
        self.remote_wake.notify_one();
    }

    /// Starts the tailer; it stops when `stop` is cancelled.
    pub fn spawn_tailer(self: &Arc<Self>, store: Arc<dyn Store>, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
        let broker = self.clone();
        tokio::spawn(async move { broker.tail(store, stop).await })
    }

    async fn tail(&self, store: Arc<dyn Store>, stop: CancellationToken) {
        let mut last = loop {
            match store.last_event_position().await {
                Ok(position) => break position,
                Err(error) => tracing::warn!(%error, "event tailer cannot read the feed yet"),
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(self.poll_interval) => {}
            }
        };
        let mut chat_enabled = true;
        let mut committed_here = false;
        loop {
            match self.publish_new(store.as_ref(), last).await {
                Ok(position) => last = position,
                Err(error) => tracing::warn!(%error, "event tailer failed to read the feed"),
            }
            // One announcement per batch of local commits, outside any write transaction.
            if committed_here {
                if let Err(error) = store.announce_commit().await {
                    tracing::warn!(%error, "could not announce committed events to other nodes");
                }
            }
            let enabled = store.setting(CHAT_ENABLED_SETTING).await.map_or(chat_enabled, |v| v.as_deref() != Some("false"));
            if chat_enabled && !enabled {
                let _ = self.sender.send(BrokerMessage::ChatDisabled);
            }
            chat_enabled = enabled;
            committed_here = false;
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = self.wake.notified() => committed_here = true,
                _ = self.remote_wake.notified() => {}
                _ = tokio::time::sleep(self.poll_interval) => {}
            }
        }
    }

    /// Broadcasts every event after `last` in order; returns the new last position.
    async fn publish_new(&self, store: &dyn Store, mut last: EventCursor) -> Result<EventCursor, StoreError> {
        loop {
            let batch = store.events_after(last, None, READ_BATCH).await?;
            let full = batch.len() as i64 == READ_BATCH;
            for event in batch {
                last = event.position;
                // No receivers is fine: nobody is subscribed right now.
                let _ = self.sender.send(BrokerMessage::Event(Arc::new(event)));
            }
            if !full {
                return Ok(last);
            }
        }
    }

    /// The events `seller_id` may see (all when `None`) after feed position `after`
    /// (from now when `None`): replayed from storage, then live, gap-free.
    pub fn subscribe(
        self: &Arc<Self>,
        store: Arc<dyn Store>,
        seller_id: Option<i64>,
        after: Option<EventCursor>,
    ) -> impl Stream<Item = Result<Arc<StoredEvent>, StreamError>> + Send + 'static {
        let broker = self.clone();
        async_stream::try_stream! {
            let mut last = match after {
                Some(position) => position,
                None => store.last_event_position().await?,
            };
            'resubscribe: loop {
                // Subscribe before reading storage, so nothing committed meanwhile is missed.
                let mut live = broker.sender.subscribe();
                loop {
                    let batch = store.events_after(last, seller_id, READ_BATCH).await?;
                    let full = batch.len() as i64 == READ_BATCH;
                    for event in batch {
                        last = event.position;
                        broker.metrics.events_delivered.inc();
                        yield Arc::new(event);
                    }
                    if !full {
                        break;
                    }
                }
                let mut delivered_live = false;
                loop {
                    match live.recv().await {
                        Ok(BrokerMessage::Event(event)) => {
                            if event.position <= last || seller_id.is_some_and(|id| id != event.seller_id) {
                                continue;
                            }
                            last = event.position;
                            delivered_live = true;
                            broker.metrics.events_delivered.inc();
                            yield event;
                        }
                        Ok(BrokerMessage::ChatDisabled) if seller_id.is_some() => Err(StreamError::ChatDisabled)?,
                        Ok(BrokerMessage::ChatDisabled) => {}
                        // Lagging while catching up after a replay: replay again from storage.
                        Err(broadcast::error::RecvError::Lagged(_)) if !delivered_live => continue 'resubscribe,
                        Err(broadcast::error::RecvError::Lagged(_)) => Err(StreamError::TooSlow)?,
                        Err(broadcast::error::RecvError::Closed) => break 'resubscribe,
                    }
                }
            }
        }
    }
}
