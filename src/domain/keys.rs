//! API key secrets: generated with 256 bits of randomness, stored only as a SHA-256 hash.

use super::ids::SellerId;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Every key starts with this, so leaked keys are easy to spot in code and logs.
pub const KEY_PREFIX: &str = "mck_";

/// Whom an API key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOwner {
    /// The operator; `admin` keys may also call the provisioning API (sellers, their
    /// keys). Only the command line makes admin keys.
    Operator {
        /// Created with `key create --operator --admin`.
        admin: bool,
    },
    /// One seller account.
    Seller(SellerId),
}

impl KeyOwner {
    /// The seller, for a seller key.
    pub fn seller_id(self) -> Option<SellerId> {
        match self {
            KeyOwner::Seller(seller_id) => Some(seller_id),
            KeyOwner::Operator { .. } => None,
        }
    }

    /// Whether this is an operator admin key.
    pub fn is_admin(self) -> bool {
        matches!(self, KeyOwner::Operator { admin: true })
    }
}

/// A freshly generated key: the secret (shown once) and the hash to store.
pub struct NewKey {
    /// The secret the client sends; never stored.
    pub secret: String,
    /// SHA-256 of the secret, hex-encoded.
    pub hash: String,
}

/// Generates a key from `rng` (256 random bits).
pub fn generate_key(rng: &mut impl RngCore) -> NewKey {
    generate_secret(rng, KEY_PREFIX)
}

/// Generates a 256-bit secret with `prefix` (API keys, session tokens) and its hash.
pub fn generate_secret(rng: &mut impl RngCore, prefix: &str) -> NewKey {
    let mut bytes = [0u8; 32];
    rng.fill_bytes(&mut bytes);
    let secret = format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = hash_key(&secret);
    NewKey { secret, hash }
}

/// The stored form of a presented key. Keys carry 256 random bits, so a plain
/// SHA-256 is enough: there is nothing to brute-force that a slow hash would protect.
pub fn hash_key(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.trim().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_hash_to_their_stored_form() {
        let mut rng = rand::thread_rng();
        let a = generate_key(&mut rng);
        let b = generate_key(&mut rng);
        assert_ne!(a.secret, b.secret);
        assert!(a.secret.starts_with(KEY_PREFIX) && a.secret.len() >= KEY_PREFIX.len() + 43);
        assert_eq!(hash_key(&a.secret), a.hash);
        assert!(!a.hash.contains(&a.secret));
    }
}
