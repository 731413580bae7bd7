//! Embedded seller chat (SPEC §11): what a sign-in request from the marketplace's back
//! end may hold, how long its token lives, and where the token leads. The marketplace
//! mints a single-use token for one of *its* seller users; redeeming it opens a bearer
//! session of that user, who is keyed by (seller, the marketplace's user ID).

use super::ids::{GlobalId, SellerId};
use std::time::Duration;
use thiserror::Error;

/// Every sign-in token starts with this (easy to spot in code and logs).
pub const SIGN_IN_TOKEN_PREFIX: &str = "mct_";
/// Every embed session token starts with this: a bearer credential of the Seller API,
/// told apart from API keys (`mck_`) by it.
pub const EMBED_SESSION_PREFIX: &str = "mce_";
/// The embedded seller chat page; the token follows in the fragment (`#token=…`), which
/// browsers never send to a server, so it stays out of access logs and `Referer`.
pub const EMBED_SELLER_PATH: &str = "/embed/seller";
/// How long a sign-in token lives when the request does not say.
pub const DEFAULT_TTL_SECS: i64 = 300;
/// The longest a sign-in token may live.
pub const MAX_TTL_SECS: i64 = 3_600;
/// The longest marketplace user ID (and seller external ID) accepted, in characters.
pub const MAX_EXTERNAL_ID_CHARS: usize = 255;
/// The longest display name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// The longest e-mail address accepted, in bytes (as for portal logins).
pub const MAX_EMAIL_BYTES: usize = 254;

/// Input a sign-in request cannot be made from: the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field} {message}")]
pub struct SignInInputError {
    /// The input field (`sellerId`, `externalId`, `user.externalId`, `user.name`,
    /// `user.email`, `ttlSeconds`) or `base`.
    pub field: &'static str,
    /// What is wrong, in words.
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> SignInInputError {
    SignInInputError { field, message: message.into() }
}

/// Which seller the user belongs to: by marketchat's ID or by the marketplace's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SellerRef {
    /// The seller (from a `Seller` global ID).
    Id(SellerId),
    /// The seller's `externalId`.
    ExternalId(String),
}

impl SellerRef {
    /// Exactly one of `sellerId` (a `Seller` global ID) and `externalId`.
    pub fn parse(seller_id: Option<&str>, external_id: Option<&str>) -> Result<Self, SignInInputError> {
        match (seller_id, external_id) {
            (Some(_), Some(_)) => Err(invalid("base", "give either sellerId or externalId, not both")),
            (None, None) => Err(invalid("base", "sellerId or externalId is required")),
            (Some(raw), None) => GlobalId::decode_as::<SellerId>(raw).map(SellerRef::Id).map_err(|e| invalid("sellerId", e.to_string())),
            (None, Some(raw)) => Ok(SellerRef::ExternalId(required_text("externalId", raw, MAX_EXTERNAL_ID_CHARS)?)),
        }
    }
}

/// The marketplace's seller user being signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SellerUserIdentity {
    /// The marketplace's ID of the user (unique within the seller), trimmed.
    pub external_id: String,
    /// Display name, trimmed.
    pub name: String,
    /// A contact address, lower-cased; not a login.
    pub email: Option<String>,
}

impl SellerUserIdentity {
    /// Checks and trims the `user` input; a blank e-mail counts as none.
    pub fn parse(external_id: &str, name: &str, email: Option<&str>) -> Result<Self, SignInInputError> {
        let external_id = required_text("user.externalId", external_id, MAX_EXTERNAL_ID_CHARS)?;
        let name = required_text("user.name", name, MAX_NAME_CHARS)?;
        let email = match email.map(str::trim).filter(|e| !e.is_empty()) {
            None => None,
            Some(email) => Some(parse_email(email)?),
        };
        Ok(Self { external_id, name, email })
    }
}

/// A trimmed, non-blank text of at most `max_chars` characters without control characters.
fn required_text(field: &'static str, raw: &str, max_chars: usize) -> Result<String, SignInInputError> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(invalid(field, "can't be blank"));
    }
    if text.chars().count() > max_chars {
        return Err(invalid(field, format!("is too long (at most {max_chars} characters)")));
    }
    if text.chars().any(char::is_control) {
        return Err(invalid(field, "can't contain control characters"));
    }
    Ok(text.to_owned())
}

/// A plausible e-mail address: one `@` with text on both sides, no spaces or controls.
fn parse_email(email: &str) -> Result<String, SignInInputError> {
    if email.len() > MAX_EMAIL_BYTES {
        return Err(invalid("user.email", format!("is too long (at most {MAX_EMAIL_BYTES} bytes)")));
    }
    let well_formed = match email.split_once('@') {
        Some((local, domain)) => !local.is_empty() && !domain.is_empty() && !domain.contains('@'),
        None => false,
    };
    if !well_formed || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("user.email", "is not an e-mail address"));
    }
    Ok(email.to_lowercase())
}

/// How long a sign-in token lives: 1 s to [`MAX_TTL_SECS`], [`DEFAULT_TTL_SECS`] if not given.
pub fn token_lifetime(ttl_seconds: Option<i32>) -> Result<Duration, SignInInputError> {
    let seconds = ttl_seconds.map_or(DEFAULT_TTL_SECS, i64::from);
    if !(1..=MAX_TTL_SECS).contains(&seconds) {
        return Err(invalid("ttlSeconds", format!("must be between 1 and {MAX_TTL_SECS}")));
    }
    Ok(Duration::from_secs(seconds.unsigned_abs()))
}

/// Where a sign-in token leads: the embed page with the token in the fragment; absolute
/// when the server knows its public URL (`--public-url`), else the path.
pub fn embed_url(public_url: Option<&str>, token: &str) -> String {
    let base = public_url.map_or("", |url| url.trim_end_matches('/'));
    format!("{base}{EMBED_SELLER_PATH}#token={token}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sign_in_names_exactly_one_seller() {
        use crate::domain::ids::IdKind;
        let gid = SellerId::from(7).gid();
        assert_eq!(SellerRef::parse(Some(&gid), None), Ok(SellerRef::Id(SellerId::from(7))));
        assert_eq!(SellerRef::parse(None, Some("  shop-7 ")), Ok(SellerRef::ExternalId("shop-7".to_owned())));
        assert_eq!(SellerRef::parse(Some(&gid), Some("shop-7")).unwrap_err().field, "base");
        assert_eq!(SellerRef::parse(None, None).unwrap_err().field, "base");
        assert_eq!(SellerRef::parse(Some("nonsense"), None).unwrap_err().field, "sellerId");
        let message = GlobalId::new(IdKind::ChatMessage, 7).encode();
        assert_eq!(SellerRef::parse(Some(&message), None).unwrap_err().field, "sellerId");
        assert_eq!(SellerRef::parse(None, Some("   ")).unwrap_err().field, "externalId");
    }

    #[test]
    fn the_user_needs_an_id_and_a_name_and_may_have_an_address() {
        let user = SellerUserIdentity::parse(" u-1 ", " Ann ", Some(" Ann@Shop.Test ")).unwrap();
        assert_eq!(user, SellerUserIdentity { external_id: "u-1".into(), name: "Ann".into(), email: Some("ann@shop.test".into()) });
        assert_eq!(SellerUserIdentity::parse("u-1", "Ann", Some("  ")).unwrap().email, None);
        assert_eq!(SellerUserIdentity::parse("", "Ann", None).unwrap_err().field, "user.externalId");
        assert_eq!(SellerUserIdentity::parse("u-1", " ", None).unwrap_err().field, "user.name");
        assert_eq!(SellerUserIdentity::parse("u-1", "Ann\u{0}", None).unwrap_err().field, "user.name");
        assert_eq!(SellerUserIdentity::parse(&"x".repeat(256), "Ann", None).unwrap_err().field, "user.externalId");
        assert!(SellerUserIdentity::parse(&"é".repeat(255), "Ann", None).is_ok(), "characters, not bytes");
        for bad in ["ann", "@shop.test", "ann@", "a b@shop.test", "a@b@c"] {
            assert_eq!(SellerUserIdentity::parse("u-1", "Ann", Some(bad)).unwrap_err().field, "user.email", "{bad}");
        }
    }

    #[test]
    fn tokens_live_five_minutes_by_default_and_at_most_an_hour() {
        assert_eq!(token_lifetime(None), Ok(Duration::from_secs(300)));
        assert_eq!(token_lifetime(Some(1)), Ok(Duration::from_secs(1)));
        assert_eq!(token_lifetime(Some(3_600)), Ok(Duration::from_secs(3_600)));
        for bad in [0, -5, 3_601, i32::MAX, i32::MIN] {
            assert_eq!(token_lifetime(Some(bad)).unwrap_err().field, "ttlSeconds");
        }
    }

    #[test]
    fn the_url_carries_the_token_in_its_fragment() {
        assert_eq!(embed_url(None, "mct_x"), "/embed/seller#token=mct_x");
        assert_eq!(embed_url(Some("https://chat.example.com/"), "mct_x"), "https://chat.example.com/embed/seller#token=mct_x");
    }
}
