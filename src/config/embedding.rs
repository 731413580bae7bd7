//! Where the server lives and who may frame it: `--public-url` (absolute links, such as a
//! sign-in's `url`) and `--embed-origins` (the marketplace pages allowed to frame the
//! embedded seller chat: its `Content-Security-Policy: frame-ancestors` and the only
//! origins the chat tells the unread count to).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// The server's public base URL, e.g. `https://chat.example.com` (no trailing slash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl(String);

impl PublicUrl {
    /// The URL as text, without a trailing slash.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for PublicUrl {
    type Err = String;

    /// An absolute http(s) URL without query or fragment; a path prefix is kept.
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let url = url::Url::parse(raw.trim()).map_err(|error| format!("{raw:?} is not a URL: {error}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(format!("{raw:?} must be an http:// or https:// URL"));
        }
        if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
            return Err(format!("{raw:?} must not carry credentials, a query or a fragment"));
        }
        Ok(Self(url.as_str().trim_end_matches('/').to_owned()))
    }
}

impl fmt::Display for PublicUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Origins (`scheme://host[:port]`) that may frame the embed pages; none by default
/// (shared, so each request copies a pointer).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EmbedOrigins(Arc<[String]>);

impl EmbedOrigins {
    /// The origins, each as `scheme://host[:port]` (the default port left out).
    pub fn origins(&self) -> &[String] {
        &self.0
    }

    /// The `frame-ancestors` source list: the origins, or `'none'` when there are none.
    pub fn frame_ancestors(&self) -> String {
        if self.0.is_empty() {
            "'none'".to_owned()
        } else {
            self.0.join(" ")
        }
    }
}

impl FromStr for EmbedOrigins {
    type Err = String;

    /// A comma-separated list of http(s) origins; empty allows nobody. Wildcards,
    /// keywords (`'self'`, `*`) and anything with a path, query or credentials are refused,
    /// so the list can only ever name whole sites.
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let mut origins: Vec<String> = Vec::new();
        for entry in raw.split(',').map(str::trim).filter(|entry| !entry.is_empty()) {
            let origin = parse_origin(entry)?;
            if !origins.contains(&origin) {
                origins.push(origin);
            }
        }
        Ok(Self(origins.into()))
    }
}

/// One origin, as a browser serialises it (lower-case scheme and host, default port left out).
fn parse_origin(entry: &str) -> Result<String, String> {
    let refused = |why: &str| format!("{entry:?} is not an origin like https://seller.example.com ({why})");
    if entry.contains('*') {
        return Err(refused("wildcards are not allowed"));
    }
    let url = url::Url::parse(entry).map_err(|error| refused(&error.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refused("http or https only"));
    }
    if url.host().is_none() || !url.username().is_empty() || url.password().is_some() {
        return Err(refused("a host without credentials"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(refused("no path, query or fragment"));
    }
    Ok(url.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embed_origins_are_whole_http_sites_only() {
        let origins: EmbedOrigins = " https://Seller.Example.com , http://127.0.0.2:8081/,https://seller.example.com:443".parse().unwrap();
        assert_eq!(origins.origins(), ["https://seller.example.com", "http://127.0.0.2:8081"]);
        assert_eq!(origins.frame_ancestors(), "https://seller.example.com http://127.0.0.2:8081");
        assert_eq!("".parse::<EmbedOrigins>().unwrap().frame_ancestors(), "'none'");
        for bad in ["*", "https://*.example.com", "'self'", "seller.example.com", "ftp://x.test", "https://x.test/portal", "https://u:p@x.test", "https://x.test?a=1", "javascript:alert(1)"] {
            assert!(bad.parse::<EmbedOrigins>().is_err(), "{bad} is refused");
        }
    }

    #[test]
    fn the_public_url_is_an_absolute_http_url() {
        assert_eq!("https://chat.example.com/".parse::<PublicUrl>().unwrap().as_str(), "https://chat.example.com");
        assert_eq!("https://example.com/chat/".parse::<PublicUrl>().unwrap().as_str(), "https://example.com/chat");
        for bad in ["chat.example.com", "ftp://x.test", "https://x.test/?a=1", "https://x.test/#f", "https://u:p@x.test"] {
            assert!(bad.parse::<PublicUrl>().is_err(), "{bad} is refused");
        }
    }
}
