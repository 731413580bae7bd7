//! Failed-login lock-out per (account, client IP) with exponential back-off, held in
//! memory per node. Keys are fixed-size hashes, the map has a hard cap (oldest entries
//! go first), and an attempt reserves its slot before the password is checked, so
//! concurrent guesses cannot slip past the limit while earlier ones are being verified.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Attempts per (account, IP) checked without delay; each one after that waits.
pub const FREE_ATTEMPTS: u32 = 5;
/// The wait after the last free attempt; it doubles with every further attempt.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait.
pub const MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);
/// An entry with no attempt for this long (and no wait left) is forgotten.
pub const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
/// Most (account, IP) pairs tracked; past it the least recently tried are dropped.
pub const MAX_TRACKED: usize = 50_000;

/// What an entry is filed under: SHA-256 of the e-mail address and the client IP, so
/// an entry takes the same few bytes whatever the client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LockoutKey([u8; 32]);

impl LockoutKey {
    /// The key of `email` (already normalised) tried from `ip`.
    pub fn new(email: &str, ip: IpAddr) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(email.as_bytes());
        hasher.update([0]);
        match ip {
            IpAddr::V4(v4) => hasher.update(v4.octets()),
            IpAddr::V6(v6) => hasher.update(v6.octets()),
        }
        Self(hasher.finalize().into())
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Attempts since the last success, counting those still being checked.
    attempts: u32,
    /// No attempt is checked before this.
    blocked_until: Instant,
    last_attempt: Instant,
}

impl Entry {
    fn forgettable(&self, now: Instant) -> bool {
        now >= self.blocked_until && now.duration_since(self.last_attempt) >= FORGET_AFTER
    }
}

/// The wait after attempt number `attempts` (none for the free ones).
pub fn backoff_after(attempts: u32) -> Duration {
    match attempts.checked_sub(FREE_ATTEMPTS) {
        None => Duration::ZERO,
        Some(extra) => FIRST_BACKOFF.saturating_mul(1u32.checked_shl(extra.min(31)).unwrap_or(u32::MAX)).min(MAX_BACKOFF),
    }
}

/// The lock-out table of one node.
pub struct Lockout {
    entries: Mutex<HashMap<LockoutKey, Entry>>,
    capacity: usize,
}

impl Default for Lockout {
    fn default() -> Self {
        Self::with_capacity(MAX_TRACKED)
    }
}

impl Lockout {
    /// A table holding at most `capacity` entries.
    pub fn with_capacity(capacity: usize) -> Self {
        Self { entries: Mutex::new(HashMap::new()), capacity: capacity.max(1) }
    }

    /// Reserves an attempt for `key`: counted as a failure from now on (a success
    /// clears it). Refused with the time left while `key` is waiting out a back-off.
    pub fn reserve(&self, key: LockoutKey) -> Result<(), Duration> {
        self.reserve_at(key, Instant::now())
    }

    fn reserve_at(&self, key: LockoutKey, now: Instant) -> Result<(), Duration> {
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(entry) = entries.get(&key) {
            if entry.blocked_until > now {
                return Err(entry.blocked_until - now);
            }
        } else if entries.len() >= self.capacity {
            Self::make_room(&mut entries, self.capacity, now);
        }
        let entry = entries.entry(key).or_insert(Entry { attempts: 0, blocked_until: now, last_attempt: now });
        if entry.forgettable(now) {
            entry.attempts = 0;
        }
        entry.attempts = entry.attempts.saturating_add(1);
        entry.last_attempt = now;
        entry.blocked_until = now + backoff_after(entry.attempts);
        Ok(())
    }

    /// Drops forgettable entries, then, if that is not enough, the least recently tried
    /// tenth, so inserting stays cheap on average.
    fn make_room(entries: &mut HashMap<LockoutKey, Entry>, capacity: usize, now: Instant) {
        entries.retain(|_, entry| !entry.forgettable(now));
        if entries.len() < capacity {
            return;
        }
        let mut by_age: Vec<(Instant, LockoutKey)> = entries.iter().map(|(key, entry)| (entry.last_attempt, *key)).collect();
        let evict = (capacity / 10).max(1).min(by_age.len());
        by_age.select_nth_unstable_by_key(evict - 1, |(at, _)| *at);
        for (_, key) in &by_age[..evict] {
            entries.remove(key);
        }
    }

    /// A correct password: `key` starts afresh.
    pub fn succeeded(&self, key: LockoutKey) {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(&key);
    }

    /// Entries held now (for tests and metrics).
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u32) -> LockoutKey {
        LockoutKey::new(&format!("user{n}@example.test"), IpAddr::from([127, 0, 0, 1]))
    }

    #[test]
    fn five_attempts_are_free_then_the_wait_doubles_up_to_fifteen_minutes() {
        let table = Lockout::default();
        let start = Instant::now();
        for _ in 0..4 {
            assert!(table.reserve_at(key(1), start).is_ok());
        }
        assert!(table.reserve_at(key(1), start).is_ok(), "the fifth is checked");
        assert_eq!(table.reserve_at(key(1), start), Err(Duration::from_secs(1)), "then one waits a second");
        let later = start + Duration::from_secs(1);
        assert!(table.reserve_at(key(1), later).is_ok());
        assert_eq!(table.reserve_at(key(1), later), Err(Duration::from_secs(2)));
        assert_eq!(backoff_after(5), Duration::from_secs(1));
        assert_eq!(backoff_after(8), Duration::from_secs(8));
        assert_eq!(backoff_after(40), MAX_BACKOFF);
        assert_eq!(backoff_after(u32::MAX), MAX_BACKOFF);
        assert!(table.reserve_at(key(2), later).is_ok(), "other accounts are not affected");
    }

    #[test]
    fn the_same_account_from_another_ip_is_not_locked() {
        let table = Lockout::default();
        let here = LockoutKey::new("a@b.test", IpAddr::from([10, 0, 0, 1]));
        let there = LockoutKey::new("a@b.test", IpAddr::from([10, 0, 0, 2]));
        for _ in 0..FREE_ATTEMPTS {
            table.reserve(here).unwrap();
        }
        assert!(table.reserve(here).is_err());
        assert!(table.reserve(there).is_ok());
    }

    #[test]
    fn success_clears_and_quiet_entries_are_forgotten() {
        let table = Lockout::default();
        let start = Instant::now();
        for _ in 0..FREE_ATTEMPTS {
            table.reserve_at(key(1), start).unwrap();
        }
        table.succeeded(key(1));
        assert!(table.reserve_at(key(1), start).is_ok(), "a success resets the count");
        for _ in 1..FREE_ATTEMPTS {
            table.reserve_at(key(1), start).unwrap();
        }
        let quiet = start + FORGET_AFTER + Duration::from_secs(1);
        for _ in 0..FREE_ATTEMPTS {
            assert!(table.reserve_at(key(1), quiet).is_ok(), "counting starts again after a quiet window");
        }
    }

    #[test]
    fn the_table_never_holds_more_than_its_capacity_and_drops_the_oldest() {
        let table = Lockout::with_capacity(100);
        let start = Instant::now();
        for n in 0..1_000 {
            table.reserve_at(key(n), start + Duration::from_millis(u64::from(n))).unwrap();
            assert!(table.len() <= 100);
        }
        let entries = table.entries.lock().unwrap();
        assert!(entries.contains_key(&key(999)) && !entries.contains_key(&key(0)), "the newest stay, the oldest go");
    }
}
