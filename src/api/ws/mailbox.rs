//! A small bounded queue into one connection: what its operations yield and what the
//! gate refused. Unlike a tokio channel (which allocates a block of 32 slots up front),
//! it holds memory only while something waits in it, so an idle socket costs nothing here.

use std::collections::VecDeque;
use std::sync::Mutex;
use tokio::sync::{Notify, Semaphore};

/// Items waiting for one connection, `capacity` at most.
pub struct Mailbox<T> {
    queue: Mutex<VecDeque<T>>,
    /// Something was queued.
    ready: Notify,
    /// Free places (a sender waits for one).
    room: Semaphore,
}

impl<T> Mailbox<T> {
    /// An empty mailbox for `capacity` items.
    pub fn new(capacity: usize) -> Self {
        Self { queue: Mutex::new(VecDeque::new()), ready: Notify::new(), room: Semaphore::new(capacity.max(1)) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<T>> {
        self.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues `item`, waiting for room.
    pub async fn push(&self, item: T) {
        // The semaphore is never closed, so acquiring only waits.
        if let Ok(place) = self.room.acquire().await {
            place.forget();
        }
        self.queue_item(item);
    }

    /// Queues `item` if there is room; `false` when full (nothing queued).
    pub fn try_push(&self, item: T) -> bool {
        match self.room.try_acquire() {
            Ok(place) => place.forget(),
            Err(_) => return false,
        }
        self.queue_item(item);
        true
    }

    fn queue_item(&self, item: T) {
        self.lock().push_back(item);
        self.ready.notify_one();
    }

    /// Waits until something may have been queued (`take` may still find nothing).
    pub async fn ready(&self) {
        self.ready.notified().await;
    }

    /// The oldest item, freeing its place; `None` when empty. While more wait, `ready`
    /// stays ready (one item per wake-up keeps the connection's other work going); once
    /// empty, the queue's memory is released.
    pub fn take(&self) -> Option<T> {
        let mut queue = self.lock();
        let item = queue.pop_front()?;
        self.room.add_permits(1);
        if queue.is_empty() {
            *queue = VecDeque::new();
        } else {
            self.ready.notify_one();
        }
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::Mailbox;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn items_come_out_in_order_and_a_full_mailbox_holds_senders_back() {
        let mailbox = Arc::new(Mailbox::new(2));
        assert!(mailbox.try_push(1));
        mailbox.push(2).await;
        assert!(!mailbox.try_push(3), "full");
        let waiting = tokio::spawn({
            let mailbox = mailbox.clone();
            async move { mailbox.push(3).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "a sender waits for room");
        assert_eq!(mailbox.take(), Some(1));
        waiting.await.unwrap();
        // While items wait, `ready` returns at once.
        tokio::time::timeout(Duration::from_secs(1), mailbox.ready()).await.expect("ready");
        assert_eq!((mailbox.take(), mailbox.take(), mailbox.take()), (Some(2), Some(3), None));
    }
}
