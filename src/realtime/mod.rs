//! Real-time fan-out. Storage is the source of truth: a tailer task reads the durable
//! event feed in sequence order and publishes what it read.
//!
//! Operator subscriptions (every chat) follow a bounded broadcast of all events: they
//! subscribe to it first, replay what they missed from storage, then follow it, dropping
//! by sequence number what they already sent. No gap, no repeat; one that falls a whole
//! buffer behind is cut off and resumes with its last cursor.
//!
//! Seller subscriptions (one chat) are woken only by events of their own seller: each
//! arms its seller's signal, reads its chat's events after its last position from
//! storage, and sleeps until the next signal. An event in one chat costs nothing for the
//! subscribers of the other chats, and a seller subscription can never fall behind.
//!
//! WebSocket subscriptions use the fan-out engine ([`fanout`]) instead: small records
//! that the tailer delivers to from memory, rendering each event once per distinct
//! document. The streams above remain for subscriptions the engine does not take (a
//! document with several `chatEvents` fields).
//!
//! The tailer wakes on a local commit (`Broker::wake`) and also polls, so writes made
//! by other processes (the CLI, other nodes) reach subscribers too.

mod fanout;

pub use fanout::{EndReason, Fanout, FeedEvent, Outbox, Outgoing, Plan, StreamError, Subscription};

use fanout::READ_BATCH;

use crate::domain::ids::SellerId;
use crate::domain::cursor::EventCursor;
use crate::metrics::Metrics;
use crate::service::ChatSwitch;
use crate::store::{Store, StoreError};
use futures_util::{Stream, StreamExt};
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, Notify};
use tokio_util::sync::CancellationToken;

/// Subscription reads of storage (replays after `after`, seller wake-ups) running at
/// once; the rest queue in arrival order, so many replays cannot starve requests of
/// database connections, and each takes its turn.
const CONCURRENT_REPLAY_READS: usize = 4;

/// The fan-out hub, one per server, held in application state.
pub struct Broker {
    /// The durable feed: read by the tailer and by replays.
    store: Arc<dyn Store>,
    /// Every event, for operator subscriptions.
    sender: broadcast::Sender<FeedEvent>,
    /// One wake-up signal per seller that has a live subscription on this node.
    sellers: Mutex<HashMap<SellerId, Arc<Notify>>>,
    /// Whether in-app chat is enabled; seller subscriptions end when it is switched off.
    chat_switch: ChatSwitch,
    /// A local commit: read the feed, then tell other nodes.
    wake: Notify,
    /// Another node committed: read the feed.
    remote_wake: Notify,
    poll_interval: Duration,
    metrics: Arc<Metrics>,
    /// Turns for subscription reads of storage.
    replay_reads: Arc<tokio::sync::Semaphore>,
    /// The fan-out engine (WebSocket subscriptions).
    pub fanout: Arc<Fanout>,
}

impl Broker {
    /// A broker over the feed in `store` whose live buffer holds `capacity` events per
    /// operator subscriber at most; seller subscriptions end when `chat_switch` turns off.
    pub fn new(store: Arc<dyn Store>, chat_switch: ChatSwitch, capacity: usize, poll_interval: Duration, metrics: Arc<Metrics>) -> Arc<Self> {
        let (sender, _) = broadcast::channel(capacity.max(1));
        let replay_reads = Arc::new(tokio::sync::Semaphore::new(CONCURRENT_REPLAY_READS));
        let fanout = Fanout::new(store.clone(), capacity, poll_interval, metrics.clone(), replay_reads.clone());
        Arc::new(Self {
            store,
            sender,
            sellers: Mutex::default(),
            chat_switch,
            wake: Notify::new(),
            remote_wake: Notify::new(),
            poll_interval,
            metrics,
            replay_reads,
            fanout,
        })
    }

    /// Tells the tailer that new events were committed here.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Tells the tailer that another node committed new events.
    fn wake_remote(&self) {
        self.remote_wake.notify_one();
    }

    /// Starts the tailer; it stops when `stop` is cancelled.
    pub fn spawn_tailer(self: &Arc<Self>, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
        let broker = self.clone();
        tokio::spawn(async move { broker.tail(stop).await })
    }

    /// Starts listening for commits announced by other nodes (each wakes the tailer);
    /// `None` when only this node writes to the store.
    pub fn spawn_remote_listener(self: &Arc<Self>, stop: CancellationToken) -> Option<tokio::task::JoinHandle<()>> {
        let broker = self.clone();
        self.store.spawn_commit_listener(Arc::new(move || broker.wake_remote()), stop)
    }

    async fn tail(self: &Arc<Self>, stop: CancellationToken) {
        let store = self.store.as_ref();
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
        self.fanout.published_from(last);
        let mut chat_enabled = self.chat_switch.watch();
        let mut committed_here = false;
        loop {
            match self.publish_new(store, last).await {
                Ok(position) => last = position,
                Err(error) => tracing::warn!(%error, "event tailer failed to read the feed"),
            }
            // One announcement per batch of local commits, outside any write transaction.
            if committed_here {
                if let Err(error) = store.announce_commit().await {
                    tracing::warn!(%error, "could not announce committed events to other nodes");
                }
            }
            // Reading the switch tells seller subscriptions when another process turned
            // chat off; a failed read keeps the value last known.
            let _ = self.chat_switch.enabled().await;
            if !*chat_enabled.borrow_and_update() {
                self.fanout.end_seller_subscriptions().await;
            }
            committed_here = false;
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = chat_enabled.changed() => {}
                _ = self.wake.notified() => committed_here = true,
                _ = self.remote_wake.notified() => {}
                _ = tokio::time::sleep(self.poll_interval) => {}
            }
        }
    }

    /// Publishes every event after `last` in order; returns the new last position.
    async fn publish_new(self: &Arc<Self>, store: &dyn Store, mut last: EventCursor) -> Result<EventCursor, StoreError> {
        let mut touched = Vec::new();
        loop {
            let batch = store.events_after(last, None, READ_BATCH).await?;
            let full = batch.len() as i64 == READ_BATCH;
            for event in batch {
                last = event.position;
                touched.push(event.seller_id);
                let event = Arc::new(event);
                self.fanout.deliver(&event).await;
                // No receivers is fine: no operator is subscribed right now.
                let _ = self.sender.send(event);
            }
            if !full {
                break;
            }
        }
        touched.sort_unstable();
        touched.dedup();
        let sellers = self.sellers.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for seller_id in touched {
            if let Some(signal) = sellers.get(&seller_id) {
                signal.notify_waiters();
            }
        }
        Ok(last)
    }

    /// The events `seller_id` may see (all when `None`) after feed position `after`
    /// (from now when `None`), gap-free.
    pub fn subscribe(
        self: &Arc<Self>,
        seller_id: Option<SellerId>,
        after: Option<EventCursor>,
    ) -> impl Stream<Item = Result<FeedEvent, StreamError>> + Send + 'static {
        match seller_id {
            Some(seller_id) => self.clone().seller_events(seller_id, after).left_stream(),
            None => self.clone().all_events(after).right_stream(),
        }
    }

    /// Every chat's events: replayed from storage, then from the broadcast.
    fn all_events(self: Arc<Self>, after: Option<EventCursor>) -> impl Stream<Item = Result<FeedEvent, StreamError>> + Send + 'static {
        async_stream::try_stream! {
            let mut last = match after {
                Some(position) => position,
                None => self.store.last_event_position().await?,
            };
            'resubscribe: loop {
                // Subscribe before reading storage, so nothing committed meanwhile is missed.
                let mut live = self.sender.subscribe();
                let mut stored = self.stored_after(None, last);
                while let Some(event) = stored.next().await {
                    last = event.position;
                    yield event;
                }
                let mut delivered_live = false;
                loop {
                    match live.recv().await {
                        Ok(event) => {
                            if event.position <= last {
                                continue;
                            }
                            last = event.position;
                            delivered_live = true;
                            self.metrics.events_delivered.inc();
                            yield event;
                        }
                        // Lagging while catching up after a replay: replay again from storage.
                        Err(broadcast::error::RecvError::Lagged(_)) if !delivered_live => continue 'resubscribe,
                        Err(broadcast::error::RecvError::Lagged(_)) => Err(StreamError::TooSlow)?,
                        Err(broadcast::error::RecvError::Closed) => break 'resubscribe,
                    }
                }
            }
        }
    }

    /// The events of `seller_id` (all when `None`) after `last`, read from storage in
    /// batches, each counted as delivered. Each batch waits its turn among subscription
    /// reads and the task yields after it, so replays share the server fairly. A failed
    /// read (the database is briefly away) is retried every poll interval: the stream
    /// pauses and resumes where it stopped.
    fn stored_after(self: &Arc<Self>, seller_id: Option<SellerId>, mut last: EventCursor) -> Pin<Box<dyn Stream<Item = FeedEvent> + Send>> {
        let broker = self.clone();
        Box::pin(async_stream::stream! {
            loop {
                let batch = {
                    let _turn = broker.replay_reads.acquire().await;
                    broker.store.events_after(last, seller_id, READ_BATCH).await
                };
                let batch = match batch {
                    Ok(batch) => batch,
                    Err(error) => {
                        tracing::warn!(%error, "could not read events for a subscription; retrying");
                        tokio::time::sleep(broker.poll_interval).await;
                        continue;
                    }
                };
                let full = batch.len() as i64 == READ_BATCH;
                for event in batch {
                    last = event.position;
                    broker.metrics.events_delivered.inc();
                    yield Arc::new(event);
                }
                if !full {
                    break;
                }
                tokio::task::yield_now().await;
            }
        })
    }

    /// One seller's events: read from storage whenever the tailer signals that seller.
    fn seller_events(self: Arc<Self>, seller_id: SellerId, after: Option<EventCursor>) -> impl Stream<Item = Result<FeedEvent, StreamError>> + Send + 'static {
        async_stream::try_stream! {
            let signal = SellerSignal::arm(&self, seller_id);
            let mut chat_enabled = self.chat_switch.watch();
            let mut last = match after {
                Some(position) => position,
                None => self.store.last_event_position().await?,
            };
            loop {
                // Armed before reading storage, so an event published meanwhile wakes us.
                let woken = signal.notify().notified();
                tokio::pin!(woken);
                woken.as_mut().enable();
                let mut stored = self.stored_after(Some(seller_id), last);
                while let Some(event) = stored.next().await {
                    last = event.position;
                    yield event;
                }
                if !*chat_enabled.borrow_and_update() {
                    Err(StreamError::ChatDisabled)?;
                }
                tokio::select! {
                    _ = woken => {}
                    _ = chat_enabled.changed() => {}
                }
            }
        }
    }
}

/// A seller subscription's hold on its seller's wake-up signal; the broker forgets the
/// signal when the last subscription of that seller ends.
struct SellerSignal {
    broker: Arc<Broker>,
    seller_id: SellerId,
    notify: Option<Arc<Notify>>,
}

impl SellerSignal {
    fn arm(broker: &Arc<Broker>, seller_id: SellerId) -> Self {
        let mut sellers = broker.sellers.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let notify = sellers.entry(seller_id).or_default().clone();
        Self { broker: broker.clone(), seller_id, notify: Some(notify) }
    }

    fn notify(&self) -> &Notify {
        self.notify.as_deref().expect("present until dropped")
    }
}

impl Drop for SellerSignal {
    fn drop(&mut self) {
        // Clones and drops of the signals happen under the lock, so the count is exact.
        let mut sellers = self.broker.sellers.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        drop(self.notify.take());
        if sellers.get(&self.seller_id).is_some_and(|notify| Arc::strong_count(notify) == 1) {
            sellers.remove(&self.seller_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time::UnixMillis;
    use crate::domain::Side;
    use crate::store::{self, NewMessage};

    fn message_for(seller_id: SellerId, body: &str) -> NewMessage {
        NewMessage {
            seller_id,
            sent_by: Side::Admin,
            sender_label: None,
            body: body.to_owned(),
            client_mutation_id: None,
            now: UnixMillis::new(0),
            dedupe_since: UnixMillis::new(0),
        }
    }

    #[tokio::test]
    async fn a_seller_subscription_gets_only_its_chat_and_the_broker_forgets_it_when_it_ends() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("broker.db").display());
        let store = store::connect(&url, &Default::default()).await.unwrap();
        let (a, b) = (store.create_seller("A", UnixMillis::new(0)).await.unwrap().id, store.create_seller("B", UnixMillis::new(0)).await.unwrap().id);
        let broker = Broker::new(store.clone(), ChatSwitch::new(store.clone()), 16, Duration::from_millis(20), Arc::new(Metrics::default()));
        let stop = CancellationToken::new();
        let tailer = broker.spawn_tailer(stop.clone());

        let mut for_a = Box::pin(broker.subscribe(Some(a), Some(EventCursor::START)));
        let mut for_b = Box::pin(broker.subscribe(Some(b), Some(EventCursor::START)));
        let mut for_all = Box::pin(broker.subscribe(None, Some(EventCursor::START)));
        store.create_message(&message_for(a, "to A")).await.unwrap();
        broker.wake();
        let event = tokio::time::timeout(Duration::from_secs(5), for_a.next()).await.unwrap().unwrap().unwrap();
        assert_eq!(event.seller_id, a);
        let event = tokio::time::timeout(Duration::from_secs(5), for_all.next()).await.unwrap().unwrap().unwrap();
        assert_eq!(event.seller_id, a);
        assert!(tokio::time::timeout(Duration::from_millis(200), for_b.next()).await.is_err(), "B hears nothing of A");

        // Live: armed subscriptions wake on the next event of their chat.
        store.create_message(&message_for(b, "to B")).await.unwrap();
        broker.wake();
        let event = tokio::time::timeout(Duration::from_secs(5), for_b.next()).await.unwrap().unwrap().unwrap();
        assert_eq!(event.seller_id, b);
        assert_eq!(broker.sellers.lock().unwrap().len(), 2);

        drop((for_a, for_b, for_all));
        assert!(broker.sellers.lock().unwrap().is_empty(), "no signal outlives its subscriptions");
        stop.cancel();
        tailer.await.unwrap();
    }
}
