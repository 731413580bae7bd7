//! Enforces the rate limits of SPEC §6 ([`RateLimits`]): per API key, per client IP, and
//! sends per credential, plus portal logins per client IP. Token buckets held in memory,
//! per node (several nodes each allow the full rate).

use crate::service::auth::Credential;
use crate::config::{Rate, RateLimits};
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A refused request: how long until one more would be allowed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limited {
    /// Wait at least this long.
    pub retry_after: Duration,
}

impl Limited {
    /// `Retry-After` in whole seconds (at least 1).
    pub fn retry_after_secs(self) -> u64 {
        self.retry_after.as_secs_f64().ceil().max(1.0) as u64
    }
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Token buckets for one kind of limit.
struct Buckets<K> {
    rate: Option<Rate>,
    buckets: Mutex<HashMap<K, Bucket>>,
}

/// Buckets kept before idle ones are dropped.
const MAX_TRACKED: usize = 100_000;

impl<K: Hash + Eq + Copy> Buckets<K> {
    fn new(rate: Option<Rate>) -> Self {
        Self { rate, buckets: Mutex::new(HashMap::new()) }
    }

    fn take(&self, key: K) -> Result<(), Limited> {
        let Some(rate) = self.rate else { return Ok(()) };
        let per_second = f64::from(rate.count) / rate.per.as_secs_f64();
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets.len() >= MAX_TRACKED {
            // A bucket idle for a whole window is full again: forgetting it changes nothing.
            buckets.retain(|_, b| now.duration_since(b.updated) < rate.per);
        }
        let bucket = buckets.entry(key).or_insert(Bucket { tokens: f64::from(rate.count), updated: now });
        let refill = now.duration_since(bucket.updated).as_secs_f64() * per_second;
        bucket.tokens = (bucket.tokens + refill).min(f64::from(rate.count));
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Limited { retry_after: Duration::from_secs_f64((1.0 - bucket.tokens) / per_second) })
        }
    }
}

/// The node's rate limiter.
pub struct RateLimiter {
    keys: Buckets<Credential>,
    ips: Buckets<IpAddr>,
    sends: Buckets<Credential>,
    logins: Buckets<IpAddr>,
}

impl RateLimiter {
    /// A limiter enforcing `limits`.
    pub fn new(limits: &RateLimits) -> Self {
        Self {
            keys: Buckets::new(limits.key),
            ips: Buckets::new(limits.ip),
            sends: Buckets::new(limits.send),
            logins: Buckets::new(limits.login),
        }
    }

    /// One request from `ip`.
    pub fn request_from(&self, ip: IpAddr) -> Result<(), Limited> {
        self.ips.take(ip)
    }

    /// One request with `credential`.
    pub fn request_with(&self, credential: Credential) -> Result<(), Limited> {
        self.keys.take(credential)
    }

    /// One message sent with `credential`.
    pub fn send_with(&self, credential: Credential) -> Result<(), Limited> {
        self.sends.take(credential)
    }

    /// One login attempt from `ip`.
    pub fn login_from(&self, ip: IpAddr) -> Result<(), Limited> {
        self.logins.take(ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::KeyId;

    #[test]
    fn a_bucket_allows_the_burst_then_says_when_to_retry() {
        let limiter = RateLimiter::new(&"send=3/10s".parse().unwrap());
        for _ in 0..3 {
            assert!(limiter.send_with(Credential::ApiKey(KeyId::from(1))).is_ok());
        }
        let limited = limiter.send_with(Credential::ApiKey(KeyId::from(1))).unwrap_err();
        assert!(limited.retry_after <= Duration::from_secs(4) && limited.retry_after_secs() >= 1);
        assert!(limiter.send_with(Credential::ApiKey(KeyId::from(2))).is_ok(), "credentials are limited separately");
        assert!(limiter.send_with(Credential::User(1)).is_ok(), "a user is not the key with the same number");
        assert!(limiter.request_with(Credential::ApiKey(KeyId::from(1))).is_ok(), "off limits never refuse");
    }

    #[test]
    fn logins_are_limited_per_ip() {
        let limiter = RateLimiter::new(&"login=2/1m".parse().unwrap());
        let (a, b) = (IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2]));
        assert!(limiter.login_from(a).is_ok() && limiter.login_from(a).is_ok());
        let limited = limiter.login_from(a).unwrap_err();
        assert!(limited.retry_after_secs() >= 29 && limited.retry_after_secs() <= 30, "{limited:?}");
        assert!(limiter.login_from(b).is_ok(), "another IP has its own bucket");
        assert!(limiter.request_from(a).is_ok(), "the login bucket is not the request bucket");
    }
}
