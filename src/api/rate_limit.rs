//! Rate limits as SPEC §6: per API key, per client IP, and sends per credential, plus
//! portal logins per client IP. Token buckets held in memory, per node (several nodes
//! each allow the full rate).

use super::auth::Credential;
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A rate: `count` events per `per`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Events allowed in one window (also the burst).
    pub count: u32,
    /// The window.
    pub per: Duration,
}

/// The limits; `None` switches one off.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimits {
    /// Requests per API key.
    pub key: Option<Rate>,
    /// Requests per client IP.
    pub ip: Option<Rate>,
    /// Messages sent per credential.
    pub send: Option<Rate>,
    /// Portal login attempts (`POST /login`) per client IP.
    pub login: Option<Rate>,
}

impl RateLimits {
    /// Marketplacer's limits, and ten logins a minute per IP:
    /// `key=750/10s,ip=600/10s,send=50/10s,login=10/1m`.
    pub fn marketplacer() -> Self {
        let rate = |count| Some(Rate { count, per: Duration::from_secs(10) });
        Self { key: rate(750), ip: rate(600), send: rate(50), login: Some(Rate { count: 10, per: Duration::from_secs(60) }) }
    }

    /// No limits (benchmarks, trusted internal deployments).
    pub fn off() -> Self {
        Self { key: None, ip: None, send: None, login: None }
    }
}

impl FromStr for RateLimits {
    type Err = String;

    /// `off`, or comma-separated `key=N/Ds`, `ip=N/Ds`, `send=N/Ds`, `login=N/Ds` (`ms`, `s`, `m`);
    /// a limit left out is off.
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let raw = raw.trim();
        if raw.eq_ignore_ascii_case("off") {
            return Ok(Self::off());
        }
        let mut limits = Self::off();
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, rate) = part.split_once('=').ok_or_else(|| format!("{part:?}: expected NAME=COUNT/WINDOW"))?;
            let rate = parse_rate(rate).ok_or_else(|| format!("{part:?}: expected COUNT/WINDOW such as 750/10s"))?;
            match name.trim() {
                "key" => limits.key = Some(rate),
                "ip" => limits.ip = Some(rate),
                "send" => limits.send = Some(rate),
                "login" => limits.login = Some(rate),
                other => return Err(format!("unknown limit {other:?} (key, ip, send, login)")),
            }
        }
        Ok(limits)
    }
}

fn parse_rate(raw: &str) -> Option<Rate> {
    let (count, window) = raw.trim().split_once('/')?;
    let count: u32 = count.trim().parse().ok().filter(|c| *c > 0)?;
    let window = window.trim();
    let (number, unit) = window.split_at(window.find(|c: char| !c.is_ascii_digit())?);
    let number: u64 = number.parse().ok().filter(|n| *n > 0)?;
    let per = match unit {
        "ms" => Duration::from_millis(number),
        "s" => Duration::from_secs(number),
        "m" => Duration::from_secs(number * 60),
        _ => return None,
    };
    Some(Rate { count, per })
}

impl fmt::Display for RateLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = [("key", self.key), ("ip", self.ip), ("send", self.send), ("login", self.login)]
            .into_iter()
            .filter_map(|(name, rate)| rate.map(|r| format!("{name}={}/{}ms", r.count, r.per.as_millis())))
            .collect();
        if parts.is_empty() {
            f.write_str("off")
        } else {
            f.write_str(&parts.join(","))
        }
    }
}

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

    #[test]
    fn parses_the_spec_form_and_off() {
        assert_eq!("key=750/10s,ip=600/10s,send=50/10s,login=10/1m".parse::<RateLimits>().unwrap(), RateLimits::marketplacer());
        assert_eq!(RateLimits::marketplacer().to_string().parse::<RateLimits>().unwrap(), RateLimits::marketplacer());
        assert_eq!("off".parse::<RateLimits>().unwrap(), RateLimits::off());
        let only_send: RateLimits = "send=3/1m".parse().unwrap();
        assert_eq!(only_send.send, Some(Rate { count: 3, per: Duration::from_secs(60) }));
        assert!(only_send.key.is_none() && only_send.ip.is_none() && only_send.login.is_none());
        assert_eq!("off".parse::<RateLimits>().unwrap().login, None, "off switches the login limit off too");
        for bad in ["key=0/10s", "key=5", "key=5/10h", "bogus=1/1s", "key=x/1s", "key=5/0s"] {
            assert!(bad.parse::<RateLimits>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_bucket_allows_the_burst_then_says_when_to_retry() {
        let limiter = RateLimiter::new(&"send=3/10s".parse().unwrap());
        for _ in 0..3 {
            assert!(limiter.send_with(Credential::ApiKey(1)).is_ok());
        }
        let limited = limiter.send_with(Credential::ApiKey(1)).unwrap_err();
        assert!(limited.retry_after <= Duration::from_secs(4) && limited.retry_after_secs() >= 1);
        assert!(limiter.send_with(Credential::ApiKey(2)).is_ok(), "credentials are limited separately");
        assert!(limiter.send_with(Credential::User(1)).is_ok(), "a user is not the key with the same number");
        assert!(limiter.request_with(Credential::ApiKey(1)).is_ok(), "off limits never refuse");
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
