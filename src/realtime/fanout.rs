//! The fan-out engine. A subscription is a small record: the shared [`Plan`] that renders
//! events for everyone who asked the same, its chat (none: every chat), how far it got,
//! and its connection's [`Outbox`]. The tailer delivers each new event from memory to the
//! live subscriptions of its chat and of every chat, rendering it once per distinct plan
//! and queueing the same bytes for each. A new subscription first catches up from
//! storage on its own task, then goes live without a gap or a repeat: it goes live only
//! if the tailer published nothing while it read (else it reads again), and a live
//! subscription skips positions it already has.
//!
//! A live subscriber whose connection's queue is full is too slow: an operator
//! subscription (every chat) ends with an error and its connection closes; a seller
//! subscription (one chat) falls back to catching up from storage, as it never could
//! fall behind.

use crate::domain::cursor::EventCursor;
use crate::domain::ids::SellerId;
use crate::metrics::Metrics;
use crate::store::{Store, StoreError, StoredEvent};
use futures_util::future::BoxFuture;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use thiserror::Error;
use tokio::sync::{Notify, Semaphore};
use tokio_util::bytes::Bytes;

/// Events read from storage per query, in replay and in the tailer.
pub(super) const READ_BATCH: i64 = 500;

/// One event of the durable feed, as subscriptions receive it (shared by every receiver).
pub type FeedEvent = Arc<StoredEvent>;

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

/// Why the server ended a subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// It fell more than the buffer behind (its connection closes too).
    TooSlow,
    /// In-app chat was switched off (seller subscriptions).
    ChatDisabled,
}

impl EndReason {
    /// The stream error a subscription ends with.
    pub fn error(self) -> StreamError {
        match self {
            Self::TooSlow => StreamError::TooSlow,
            Self::ChatDisabled => StreamError::ChatDisabled,
        }
    }
}

/// Renders events for every subscription that asked the same thing (API, document,
/// operation, variables).
pub trait Plan: Send + Sync {
    /// The `payload` of the `next` message carrying `event`; `None` when the API does not
    /// carry it.
    fn render<'a>(&'a self, event: &'a FeedEvent) -> BoxFuture<'a, Option<Bytes>>;
    /// The `payload` of the `next` message that ends a subscription for `reason`.
    fn render_end(&self, reason: EndReason) -> BoxFuture<'_, Bytes>;
}

/// One subscription's record.
pub struct Subscription {
    /// Its key in the registry.
    key: u64,
    /// The operation ID, JSON-encoded (framed as is).
    id: Box<str>,
    plan: Arc<dyn Plan>,
    /// The one chat it follows; `None`: every chat.
    seller_id: Option<SellerId>,
    outbox: Arc<Outbox>,
    progress: Mutex<Progress>,
}

#[derive(Default)]
struct Progress {
    /// The last position delivered (or skipped); `None` until it is known.
    last: Option<EventCursor>,
    /// The tailer delivers to it (it caught up).
    live: bool,
    /// Unsubscribed or ended: nothing more is queued.
    ended: bool,
}

impl Subscription {
    /// The operation ID as a JSON string.
    pub fn id_json(&self) -> &str {
        &self.id
    }

    /// Whether it was unsubscribed or ended (queued events for it are dropped).
    pub fn is_ended(&self) -> bool {
        self.progress().ended
    }

    fn progress(&self) -> MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The live subscriptions of one node, by chat.
#[derive(Default)]
pub(super) struct Registry {
    /// Subscriptions to every chat.
    all: HashMap<u64, Arc<Subscription>>,
    /// Subscriptions to one chat.
    sellers: HashMap<SellerId, HashMap<u64, Arc<Subscription>>>,
    /// The last position the tailer published (`None` before it started).
    published: Option<EventCursor>,
}

impl Registry {
    fn insert(&mut self, subscription: &Arc<Subscription>) {
        let map = match subscription.seller_id {
            Some(seller_id) => self.sellers.entry(seller_id).or_default(),
            None => &mut self.all,
        };
        map.insert(subscription.key, subscription.clone());
    }

    fn remove(&mut self, subscription: &Subscription) {
        match subscription.seller_id {
            Some(seller_id) => {
                if let Some(map) = self.sellers.get_mut(&seller_id) {
                    map.remove(&subscription.key);
                    if map.is_empty() {
                        self.sellers.remove(&seller_id);
                    }
                }
            }
            None => {
                self.all.remove(&subscription.key);
            }
        }
    }

    /// Records `event` as published; returns the live subscriptions it is for.
    fn publish(&mut self, event: &FeedEvent) -> Vec<Arc<Subscription>> {
        self.published = Some(event.position);
        let chat = self.sellers.get(&event.seller_id).into_iter().flat_map(|map| map.values());
        self.all.values().chain(chat).filter(|subscription| subscription.progress().live).cloned().collect()
    }
}

static NEXT_KEY: AtomicU64 = AtomicU64::new(1);

/// The engine, one per server (inside the broker).
pub struct Fanout {
    /// The durable feed, for catching up.
    store: Arc<dyn Store>,
    registry: Mutex<Registry>,
    /// Live events queued per connection at most.
    capacity: usize,
    poll_interval: Duration,
    metrics: Arc<Metrics>,
    /// Turns for subscription reads of storage (shared with the broker's replays).
    replay_reads: Arc<Semaphore>,
}

impl Fanout {
    /// An engine catching up from `store`, queueing `capacity` live events per connection.
    pub(super) fn new(store: Arc<dyn Store>, capacity: usize, poll_interval: Duration, metrics: Arc<Metrics>, replay_reads: Arc<Semaphore>) -> Arc<Self> {
        Arc::new(Self { store, registry: Mutex::default(), capacity: capacity.max(1), poll_interval, metrics, replay_reads })
    }

    /// A connection's outgoing queue, bounded by the live buffer.
    pub fn outbox(&self) -> Arc<Outbox> {
        Outbox::new(self.capacity)
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Subscribes operation `id` (JSON-encoded) of a connection to the events of
    /// `seller_id` (every chat when `None`) after `after` (from now when `None`),
    /// rendered by `plan` into `outbox`. It catches up from storage, then goes live.
    pub fn register(
        self: &Arc<Self>,
        id: Box<str>,
        plan: Arc<dyn Plan>,
        seller_id: Option<SellerId>,
        after: Option<EventCursor>,
        outbox: Arc<Outbox>,
    ) -> Arc<Subscription> {
        let key = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
        let progress = Mutex::new(Progress { last: after, ..Progress::default() });
        let subscription = Arc::new(Subscription { key, id, plan, seller_id, outbox, progress });
        self.registry().insert(&subscription);
        tokio::spawn(self.clone().catch_up(subscription.clone()));
        subscription
    }

    /// Ends `subscription` without a message (the client completed it or left).
    pub fn unregister(&self, subscription: &Subscription) {
        subscription.progress().ended = true;
        self.registry().remove(subscription);
    }

    /// Ends `subscription` with the error of `reason`.
    async fn end(&self, subscription: &Arc<Subscription>, reason: EndReason) {
        let error = subscription.plan.render_end(reason).await;
        {
            let mut progress = subscription.progress();
            if progress.ended {
                return;
            }
            progress.ended = true;
            subscription.outbox.push_end(subscription.clone(), error, reason);
        }
        self.registry().remove(subscription);
    }

    /// Ends every seller subscription (in-app chat was switched off).
    pub(super) async fn end_seller_subscriptions(&self) {
        let ended: Vec<_> = {
            let mut registry = self.registry();
            if registry.sellers.is_empty() {
                return;
            }
            registry.sellers.drain().flat_map(|(_, map)| map.into_values()).collect()
        };
        for subscription in ended {
            self.end(&subscription, EndReason::ChatDisabled).await;
        }
    }

    /// Marks the tailer's starting position as published.
    pub(super) fn published_from(&self, position: EventCursor) {
        self.registry().published = Some(position);
    }

    /// Delivers `event` to the live subscriptions it is for, rendering it once per plan.
    pub(super) async fn deliver(self: &Arc<Self>, event: &FeedEvent) {
        let targets = self.registry().publish(event);
        if targets.is_empty() {
            return;
        }
        // Plans are few (usually one per API), so a list beats a map.
        let mut rendered: Vec<(usize, Option<Bytes>)> = Vec::new();
        for subscription in targets {
            let plan = Arc::as_ptr(&subscription.plan) as *const () as usize;
            let payload = match rendered.iter().find(|(p, _)| *p == plan) {
                Some((_, payload)) => payload.clone(),
                None => {
                    let payload = subscription.plan.render(event).await;
                    self.metrics.events_rendered.inc();
                    rendered.push((plan, payload.clone()));
                    payload
                }
            };
            self.deliver_live(&subscription, event.position, payload).await;
        }
    }

    async fn deliver_live(self: &Arc<Self>, subscription: &Arc<Subscription>, position: EventCursor, payload: Option<Bytes>) {
        {
            let mut progress = subscription.progress();
            if progress.ended || !progress.live || progress.last.is_some_and(|last| last >= position) {
                return;
            }
            let Some(payload) = payload else {
                progress.last = Some(position);
                return;
            };
            if subscription.outbox.try_push_event(subscription.clone(), payload) {
                progress.last = Some(position);
                self.metrics.events_delivered.inc();
                return;
            }
            if subscription.seller_id.is_some() {
                // One chat cannot flood a connection: catch up from storage instead.
                progress.live = false;
                drop(progress);
                tokio::spawn(self.clone().catch_up(subscription.clone()));
                return;
            }
        }
        self.end(subscription, EndReason::TooSlow).await;
    }

    /// Replays `subscription`'s events from storage after its last position, paced by its
    /// connection, until it can go live. A failed read is retried every poll interval.
    async fn catch_up(self: Arc<Self>, subscription: Arc<Subscription>) {
        let last = subscription.progress().last;
        let mut last = match last {
            Some(position) => position,
            None => loop {
                match self.store.last_event_position().await {
                    Ok(position) => break position,
                    Err(error) => tracing::warn!(%error, "could not read the feed's end for a subscription; retrying"),
                }
                if subscription.is_ended() {
                    return;
                }
                tokio::time::sleep(self.poll_interval).await;
            },
        };
        subscription.progress().last.get_or_insert(last);
        loop {
            if subscription.is_ended() {
                return;
            }
            let (batch, seen) = {
                let _turn = self.replay_reads.acquire().await;
                let seen = self.registry().published;
                (self.store.events_after(last, subscription.seller_id, READ_BATCH).await, seen)
            };
            let batch = match batch {
                Ok(batch) => batch,
                Err(error) => {
                    tracing::warn!(%error, "could not read events for a subscription; retrying");
                    tokio::time::sleep(self.poll_interval).await;
                    continue;
                }
            };
            let full = batch.len() as i64 == READ_BATCH;
            for event in batch {
                let position = event.position;
                let event = Arc::new(event);
                let payload = subscription.plan.render(&event).await;
                self.metrics.events_rendered.inc();
                if let Some(payload) = payload {
                    // Other subscriptions of the connection may take the room first.
                    loop {
                        subscription.outbox.room().await;
                        let mut progress = subscription.progress();
                        if progress.ended {
                            return;
                        }
                        if subscription.outbox.try_push_event(subscription.clone(), payload.clone()) {
                            self.metrics.events_delivered.inc();
                            progress.last = Some(position);
                            break;
                        }
                    }
                } else {
                    subscription.progress().last = Some(position);
                }
                last = position;
            }
            if full {
                tokio::task::yield_now().await;
                continue;
            }
            if self.go_live(&subscription, seen, last) {
                return;
            }
            if seen.is_none() {
                // The tailer has not started yet.
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }

    /// Hands `subscription` to the tailer if it published nothing since `seen` (so the
    /// read up to `last` missed nothing); `false`: read again.
    fn go_live(&self, subscription: &Subscription, seen: Option<EventCursor>, last: EventCursor) -> bool {
        let registry = self.registry();
        if seen.is_none() || registry.published != seen {
            return false;
        }
        let mut progress = subscription.progress();
        if !progress.ended {
            progress.last = Some(progress.last.map_or(last, |known| known.max(last)));
            progress.live = true;
        }
        true
    }

    /// Subscriptions registered now (live or catching up), for tests and metrics.
    pub fn subscription_count(&self) -> usize {
        let registry = self.registry();
        registry.all.len() + registry.sellers.values().map(HashMap::len).sum::<usize>()
    }
}

/// Something to write for one subscription.
pub enum Outgoing {
    /// An event: the `payload` of a `next` message, shared by every subscriber of the plan.
    Event(Arc<Subscription>, Bytes),
    /// The subscription ended: write the `next` carrying `error`, then `complete`.
    Ended(Arc<Subscription>, Bytes, EndReason),
}

/// A connection's outgoing queue.
pub struct Outbox {
    queue: Mutex<Queue>,
    /// Something was queued.
    ready: Notify,
    /// The connection took what was queued (replays wait for room).
    room: Notify,
    /// Events queued at most.
    capacity: usize,
}

#[derive(Default)]
struct Queue {
    items: VecDeque<Outgoing>,
    /// Events among `items`.
    events: usize,
}

impl Outbox {
    /// An empty queue holding `capacity` events at most.
    pub fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self { queue: Mutex::default(), ready: Notify::new(), room: Notify::new(), capacity: capacity.max(1) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues an event; `false` when the queue is full (nothing queued).
    pub(super) fn try_push_event(&self, subscription: Arc<Subscription>, payload: Bytes) -> bool {
        {
            let mut queue = self.lock();
            if queue.events >= self.capacity {
                return false;
            }
            queue.events += 1;
            queue.items.push_back(Outgoing::Event(subscription, payload));
        }
        self.ready.notify_one();
        true
    }

    /// Queues the end of a subscription (always: at most one per subscription).
    pub(super) fn push_end(&self, subscription: Arc<Subscription>, error: Bytes, reason: EndReason) {
        self.lock().items.push_back(Outgoing::Ended(subscription, error, reason));
        self.ready.notify_one();
    }

    /// Whether another event fits.
    fn has_room(&self) -> bool {
        self.lock().events < self.capacity
    }

    /// Waits until another event fits (replays are paced by the connection's writes).
    pub(super) async fn room(&self) {
        loop {
            let taken = self.room.notified();
            tokio::pin!(taken);
            taken.as_mut().enable();
            if self.has_room() {
                return;
            }
            taken.await;
        }
    }

    /// Waits until something may be queued (possibly already taken: `take` may find nothing).
    pub async fn ready(&self) {
        self.ready.notified().await;
    }

    /// Moves everything queued to `into`, in order.
    pub fn take(&self, into: &mut VecDeque<Outgoing>) {
        {
            let mut queue = self.lock();
            if queue.items.is_empty() {
                return;
            }
            queue.events = 0;
            if into.is_empty() {
                std::mem::swap(into, &mut queue.items);
            } else {
                into.extend(queue.items.drain(..));
            }
        }
        self.room.notify_waiters();
    }
}
