//! The rate limits `--rate-limits` sets (SPEC §6): per API key, per client IP, sends per
//! credential, and portal logins per client IP, written `key=750/10s,ip=600/10s,…`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

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
}
