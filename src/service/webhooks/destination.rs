//! Where webhook deliveries may go. By default only public addresses: registration refuses
//! IP-literal hosts that are not public and `localhost` names, and every delivery checks
//! the address it actually connects to (a name may resolve elsewhere by then), through a
//! DNS resolver that drops non-public addresses and a check of IP-literal hosts, which
//! the HTTP client connects to without resolving.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use url::{Host, Url};

/// Which webhook destinations may be reached (one rule for registration and delivery).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DestinationPolicy {
    /// Loopback, private, link-local and other non-public addresses are allowed too.
    pub allow_private: bool,
}

/// A destination the policy refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("destination is not a public address")]
pub struct NotPublic;

impl DestinationPolicy {
    /// Whether deliveries may connect to `ip`.
    pub fn permits(self, ip: IpAddr) -> bool {
        self.allow_private || is_public(ip)
    }

    /// Checks an endpoint URL at registration: absolute http(s) with a host, which (unless
    /// private targets are allowed) is neither a non-public IP literal nor a `localhost`
    /// name. Returns the URL as the HTTP client will read it.
    pub fn check_registration(self, raw: &str) -> Result<Url, String> {
        let url = parse_http_url(raw)?;
        let refused = match url.host() {
            Some(Host::Domain(name)) => !self.allow_private && is_localhost(name),
            Some(_) => self.check_ip_literal(&url).is_err(),
            None => true,
        };
        if refused {
            return Err(format!("{:?}: {NotPublic} (allowed only with --webhook-allow-private)", raw.trim()));
        }
        Ok(url)
    }

    /// Checks the host of `url` when it is an IP literal (the HTTP client connects to
    /// those without asking the resolver); names are checked by [`PublicResolver`].
    pub fn check_ip_literal(self, url: &Url) -> Result<(), NotPublic> {
        let ip = match url.host() {
            Some(Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(Host::Ipv6(ip)) => IpAddr::V6(ip),
            _ => return Ok(()),
        };
        if self.permits(ip) {
            Ok(())
        } else {
            Err(NotPublic)
        }
    }
}

/// Parses an absolute http(s) URL the way the HTTP client does (so `http://2130706433/`
/// and `http://127.1/` read as `127.0.0.1`).
pub fn parse_http_url(raw: &str) -> Result<Url, String> {
    let trimmed = raw.trim();
    let not_http = || format!("{raw:?} is not an http(s) URL");
    if trimmed.contains(char::is_whitespace) {
        return Err(not_http());
    }
    let url = Url::parse(trimmed).map_err(|_| not_http())?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(not_http());
    }
    Ok(url)
}

/// `localhost`, `*.localhost` (RFC 6761: always loopback), with or without the final dot.
fn is_localhost(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// Whether `ip` is a public unicast address: not loopback, private, shared (CGNAT),
/// link-local, multicast, broadcast, unspecified, documentation, benchmarking or reserved;
/// IPv6 forms that embed an IPv4 address (mapped, NAT64, 6to4) are judged by it.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => is_public_v6(ip),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let refused = a == 0 // "this network", including 0.0.0.0
        || a == 10 // private
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || a == 127 // loopback
        || (a == 169 && b == 254) // link-local, including cloud metadata 169.254.169.254
        || (a == 172 && (16..32).contains(&b)) // private
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // documentation (TEST-NET-1)
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 192 && b == 168) // private
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // documentation (TEST-NET-2)
        || (a == 203 && b == 0 && c == 113) // documentation (TEST-NET-3)
        || a >= 224; // multicast, reserved, broadcast
    !refused
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let embedded_v4 = |high: u16, low: u16| Ipv4Addr::from((u32::from(high) << 16) | u32::from(low));
    match s {
        // IPv4-mapped (::ffff:a.b.c.d): the IPv4 address is what is reached.
        [0, 0, 0, 0, 0, 0xffff, high, low] => is_public_v4(embedded_v4(high, low)),
        // NAT64 well-known prefix (64:ff9b::/96).
        [0x64, 0xff9b, 0, 0, 0, 0, high, low] => is_public_v4(embedded_v4(high, low)),
        // 6to4 (2002:AABB:CCDD::/48).
        [0x2002, high, low, ..] => is_public_v4(embedded_v4(high, low)),
        // Only global unicast (2000::/3) is public: this refuses ::, ::1, IPv4-compatible
        // ::/96, local-use NAT64, discard-only, unique local fc00::/7, link-local
        // fe80::/10, site-local and multicast ff00::/8.
        [first, ..] if first & 0xe000 != 0x2000 => false,
        // IETF protocol assignments incl. Teredo and benchmarking (2001::/23), and
        // documentation (2001:db8::/32, 3fff::/20).
        [0x2001, second, ..] if second < 0x200 || second == 0xdb8 => false,
        [0x3fff, second, ..] if second < 0x1000 => false,
        _ => true,
    }
}

/// A DNS resolver for the delivery client that keeps only the addresses the policy permits
/// (refusing the name when none is left), so the check holds for the address connected to.
#[derive(Debug, Clone, Copy)]
pub struct PublicResolver {
    /// The rule applied to every resolved address.
    pub policy: DestinationPolicy,
}

impl Resolve for PublicResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        Box::pin(async move {
            let resolved = tokio::net::lookup_host((name.as_str(), 0)).await?;
            let permitted: Vec<SocketAddr> = resolved.filter(|addr| policy.permits(addr.ip())).collect();
            if permitted.is_empty() {
                return Err(NotPublic.into());
            }
            Ok(Box::new(permitted.into_iter()) as Addrs)
        })
    }
}

/// Whether `error` was caused (at any depth) by a refused destination.
pub fn caused_by_refusal(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if error.is::<NotPublic>() {
            return true;
        }
        current = error.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: DestinationPolicy = DestinationPolicy { allow_private: false };
    const OPEN: DestinationPolicy = DestinationPolicy { allow_private: true };

    /// Every spelling of a non-public destination, as a registered URL.
    const REFUSED_URLS: &[&str] = &[
        // loopback, in every spelling the URL parser accepts
        "http://127.0.0.1:8080/hook",
        "http://127.1/",
        "http://127.0.1/",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://0x7f.1/",
        "http://0177.0.0.1/",
        "http://0177.1/",
        "http://127.255.255.254/",
        "http://[::1]/",
        "http://[0:0:0:0:0:0:0:1]:9000/",
        "http://localhost/",
        "http://LOCALHOST:3000/hook",
        "http://localhost./",
        "http://api.localhost/",
        // unspecified
        "http://0.0.0.0/",
        "http://0/",
        "http://[::]/",
        // private, shared (CGNAT), link-local, cloud metadata
        "http://10.0.0.1/",
        "http://10.255.255.255/",
        "http://172.16.0.1/",
        "http://172.31.255.255/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",
        "http://100.127.255.255/",
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.0.1/",
        "http://[fc00::1]/",
        "http://[fd12:3456::1]/",
        "http://[fe80::1]/",
        "http://[fec0::1]/",
        // multicast, broadcast, reserved
        "http://224.0.0.1/",
        "http://239.255.255.250/",
        "http://255.255.255.255/",
        "http://240.0.0.1/",
        "http://[ff02::1]/",
        // documentation and benchmarking
        "http://192.0.2.1/",
        "http://198.51.100.7/",
        "http://203.0.113.9/",
        "http://198.18.0.1/",
        "http://192.0.0.8/",
        "http://[2001:db8::1]/",
        "http://[3fff::1]/",
        // IPv6 forms embedding a refused IPv4 address, and other special IPv6 blocks
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:7f00:1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://[::ffff:10.0.0.1]/",
        "http://[::127.0.0.1]/",
        "http://[::a00:1]/",
        "http://[64:ff9b::127.0.0.1]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://[64:ff9b:1::1]/",
        "http://[2002:7f00:1::]/",
        "http://[2002:c0a8:101::1]/",
        "http://[2001::1]/",
        "http://[100::1]/",
    ];

    #[test]
    fn non_public_destinations_are_refused_at_registration_in_every_spelling() {
        for url in REFUSED_URLS {
            let refused = STRICT.check_registration(url);
            assert!(refused.as_ref().is_err_and(|e| e.contains("not a public address")), "{url}: {refused:?}");
            assert!(OPEN.check_registration(url).is_ok(), "{url} is allowed with allow_private");
        }
    }

    #[test]
    fn ip_literals_are_read_as_the_http_client_reads_them() {
        for spelling in ["http://2130706433/", "http://0x7f000001/", "http://0x7f.1/", "http://0177.0.0.1/", "http://127.1/"] {
            let url = parse_http_url(spelling).unwrap();
            assert_eq!(url.host(), Some(Host::Ipv4(Ipv4Addr::LOCALHOST)), "{spelling}");
            assert_eq!(STRICT.check_ip_literal(&url), Err(NotPublic), "{spelling}");
            assert_eq!(OPEN.check_ip_literal(&url), Ok(()));
            // reqwest sends to the same host.
            assert_eq!(reqwest::Url::parse(spelling).unwrap().host_str(), Some("127.0.0.1"));
        }
        let named = parse_http_url("http://localhost/").unwrap();
        assert_eq!(STRICT.check_ip_literal(&named), Ok(()), "names are left to the resolver");
    }

    #[test]
    fn public_destinations_are_allowed() {
        for url in [
            "https://hooks.example.com/in",
            "http://hooks.example.com:8080/x?y=1",
            "https://93.184.216.34/hook",
            "http://8.8.8.8/",
            "http://1.1.1.1/",
            "http://100.128.0.1/",
            "http://172.32.0.1/",
            "http://192.169.0.1/",
            "http://[2606:4700::1111]/",
            "http://[2a00:1450:4001:82b::200e]/",
            "http://[::ffff:93.184.216.34]/",
            "http://[64:ff9b::5db8:d822]/",
            "http://[2002:5db8:d822::1]/",
            "https://notlocalhost.example/",
            "https://localhost.example.com/",
        ] {
            assert!(STRICT.check_registration(url).is_ok(), "{url}");
        }
        for ip in ["93.184.216.34", "2606:4700::1111"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn only_absolute_http_urls_are_accepted() {
        for url in ["ftp://x", "http://", "https://", "not a url", "/relative", "http://exa mple.com/", "mailto:a@b.c", "file:///etc/passwd"] {
            let refused = OPEN.check_registration(url);
            assert!(refused.as_ref().is_err_and(|e| e.contains("not an http(s) URL")), "{url}: {refused:?}");
        }
    }

    #[tokio::test]
    async fn the_resolver_refuses_names_that_resolve_only_to_non_public_addresses() {
        let strict = PublicResolver { policy: STRICT };
        let error = strict.resolve("localhost".parse().unwrap()).await.err().expect("refused");
        assert!(caused_by_refusal(&*error), "{error}");
        let open = PublicResolver { policy: OPEN };
        let addrs: Vec<SocketAddr> = open.resolve("localhost".parse().unwrap()).await.expect("resolved").collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()) && !addrs.is_empty(), "{addrs:?}");
    }
}
