//! Which proxies are trusted to name the client (`--trusted-proxies`): their
//! `X-Forwarded-For` gives the client's address for per-IP rate limits, and their
//! `X-Forwarded-Proto` says whether the client used HTTPS. Untrusted peers cannot choose
//! their address or scheme with those headers.

use axum::http::HeaderMap;
use ipnet::IpNet;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

/// Addresses (single IPs or CIDR ranges) of proxies whose `X-Forwarded-For` we believe
/// (shared, so each request's extractor copies a pointer, not the list).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Arc<[IpNet]>);

impl TrustedProxies {
    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client behind `peer`: walking `X-Forwarded-For` from the right (the entry our
    /// peer appended), the first address that is not a trusted proxy.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let forwarded = list_entries(headers, "x-forwarded-for").map(|entry| entry.parse::<IpAddr>().ok()).collect::<Vec<_>>();
        let mut client = peer;
        for entry in forwarded.into_iter().rev() {
            match entry {
                Some(ip) if self.trusts(ip) => client = ip,
                Some(ip) => return ip,
                // A malformed entry: stop at the last address we could vouch for.
                None => break,
            }
        }
        client
    }

    /// Whether the client reached a trusted proxy over HTTPS: `X-Forwarded-Proto` counts
    /// only when `peer` is a trusted proxy (the entry it appended, the rightmost, decides);
    /// anyone else could simply claim it.
    pub fn forwarded_proto_https(&self, peer: IpAddr, headers: &HeaderMap) -> bool {
        if !self.trusts(peer) {
            return false;
        }
        list_entries(headers, "x-forwarded-proto").next_back().is_some_and(|proto| proto.eq_ignore_ascii_case("https"))
    }
}

/// The comma-separated entries of every `name` header, in order, trimmed.
fn list_entries<'a>(headers: &'a HeaderMap, name: &'static str) -> impl DoubleEndedIterator<Item = &'a str> {
    headers.get_all(name).iter().filter_map(|value| value.to_str().ok()).flat_map(|value| value.split(',')).map(str::trim)
}

impl FromStr for TrustedProxies {
    type Err = String;

    /// A comma-separated list of IPs and CIDR ranges; empty trusts nobody.
    fn from_str(list: &str) -> Result<Self, Self::Err> {
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{entry:?} is neither an IP address nor a CIDR range"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|nets| Self(nets.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", value.parse().unwrap());
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn only_a_trusted_peer_may_name_the_client() {
        let trusted: TrustedProxies = "10.0.0.0/8, 192.168.1.7".parse().unwrap();
        let headers = forwarded("203.0.113.9");
        assert_eq!(trusted.client_ip(ip("10.1.2.3"), &headers), ip("203.0.113.9"));
        assert_eq!(trusted.client_ip(ip("192.168.1.7"), &headers), ip("203.0.113.9"));
        assert_eq!(trusted.client_ip(ip("198.51.100.4"), &headers), ip("198.51.100.4"), "untrusted peer: header ignored");
        assert_eq!(TrustedProxies::default().client_ip(ip("10.1.2.3"), &headers), ip("10.1.2.3"), "nobody trusted by default");
    }

    #[test]
    fn the_rightmost_untrusted_entry_is_the_client_so_a_spoofed_prefix_does_not_count() {
        let trusted: TrustedProxies = "10.0.0.0/8".parse().unwrap();
        // The client wrote "1.2.3.4" itself; our proxy appended the address it saw.
        assert_eq!(trusted.client_ip(ip("10.0.0.1"), &forwarded("1.2.3.4, 203.0.113.9, 10.0.0.2")), ip("203.0.113.9"));
        assert_eq!(trusted.client_ip(ip("10.0.0.1"), &forwarded("10.0.0.3")), ip("10.0.0.3"), "all trusted: the farthest proxy");
        assert_eq!(trusted.client_ip(ip("10.0.0.1"), &forwarded("garbage, 10.0.0.3")), ip("10.0.0.3"));
        assert_eq!(trusted.client_ip(ip("10.0.0.1"), &HeaderMap::new()), ip("10.0.0.1"), "no header: the peer");
    }

    #[test]
    fn only_a_trusted_peer_may_say_the_client_used_https() {
        let trusted: TrustedProxies = "10.0.0.0/8".parse().unwrap();
        let mut https = HeaderMap::new();
        https.insert("x-forwarded-proto", "https".parse().unwrap());
        assert!(trusted.forwarded_proto_https(ip("10.0.0.1"), &https));
        assert!(!trusted.forwarded_proto_https(ip("198.51.100.4"), &https), "an untrusted peer's claim is ignored");
        assert!(!TrustedProxies::default().forwarded_proto_https(ip("10.0.0.1"), &https), "nobody trusted by default");
        assert!(!trusted.forwarded_proto_https(ip("10.0.0.1"), &HeaderMap::new()));
        let mut appended = HeaderMap::new();
        appended.insert("x-forwarded-proto", "https, http".parse().unwrap());
        assert!(!trusted.forwarded_proto_https(ip("10.0.0.1"), &appended), "the entry our proxy appended decides");
    }

    #[test]
    fn bad_entries_are_refused_with_a_clear_message() {
        assert!("".parse::<TrustedProxies>().unwrap().0.is_empty());
        let error = "10.0.0.0/8, proxy.local".parse::<TrustedProxies>().unwrap_err();
        assert!(error.contains("proxy.local"), "{error}");
        assert!("10.0.0.0/33".parse::<TrustedProxies>().is_err());
    }
}
