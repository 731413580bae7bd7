//! One connection's queue of outgoing subscription messages: the fan-out engine pushes
//! rendered events (shared bytes) and subscription ends; the connection's task takes them
//! in order and writes them. Live events are bounded per connection; a subscriber whose
//! queue is full is too slow.

use super::fanout::{EndReason, Subscription};
use tokio_util::bytes::Bytes;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

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
