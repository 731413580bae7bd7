//! Opaque global IDs in Marketplacer's style: base64 of `Type-<n>`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use thiserror::Error;

/// The object types that have global IDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdKind {
    /// A seller account.
    Seller,
    /// A seller's chat with the operator.
    Chat,
    /// One chat message.
    ChatMessage,
    /// An API key (for the CLI's key commands).
    ApiKey,
    /// A webhook endpoint.
    WebhookEndpoint,
    /// A portal user of the operator.
    OperatorUser,
    /// A portal user of a seller.
    SellerUser,
}

impl IdKind {
    /// The type name inside the encoded ID.
    pub fn type_name(self) -> &'static str {
        match self {
            IdKind::Seller => "Seller",
            IdKind::Chat => "Chat",
            IdKind::ChatMessage => "ChatMessage",
            IdKind::ApiKey => "ApiKey",
            IdKind::WebhookEndpoint => "WebhookEndpoint",
            IdKind::OperatorUser => "OperatorUser",
            IdKind::SellerUser => "SellerUser",
        }
    }

    fn from_type_name(name: &str) -> Option<Self> {
        [
            IdKind::Seller,
            IdKind::Chat,
            IdKind::ChatMessage,
            IdKind::ApiKey,
            IdKind::WebhookEndpoint,
            IdKind::OperatorUser,
            IdKind::SellerUser,
        ]
        .into_iter()
            .find(|kind| kind.type_name() == name)
    }
}

/// Why a string is not a usable global ID.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IdError {
    /// Not base64 of `Type-<positive number>`.
    #[error("is not a valid ID")]
    Malformed,
    /// A well-formed ID of another type.
    #[error("is not a {expected} ID")]
    WrongType {
        /// The type the caller asked for.
        expected: &'static str,
    },
}

/// A decoded global ID: its type and its row number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GlobalId {
    /// The object type.
    pub kind: IdKind,
    /// The row number (always positive).
    pub number: i64,
}

impl GlobalId {
    /// Builds an ID from a type and a row number.
    pub fn new(kind: IdKind, number: i64) -> Self {
        Self { kind, number }
    }

    /// The opaque string clients see.
    pub fn encode(self) -> String {
        STANDARD.encode(format!("{}-{}", self.kind.type_name(), self.number))
    }

    /// Parses any global ID.
    pub fn decode(raw: &str) -> Result<Self, IdError> {
        let bytes = STANDARD.decode(raw.trim()).map_err(|_| IdError::Malformed)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| IdError::Malformed)?;
        let (type_name, number) = text.rsplit_once('-').ok_or(IdError::Malformed)?;
        let kind = IdKind::from_type_name(type_name).ok_or(IdError::Malformed)?;
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdError::Malformed);
        }
        let number: i64 = number.parse().map_err(|_| IdError::Malformed)?;
        if number <= 0 {
            return Err(IdError::Malformed);
        }
        Ok(Self { kind, number })
    }

    /// Parses an ID that must be of `kind`, returning its row number.
    pub fn decode_as(raw: &str, kind: IdKind) -> Result<i64, IdError> {
        let id = Self::decode(raw)?;
        if id.kind != kind {
            return Err(IdError::WrongType { expected: kind.type_name() });
        }
        Ok(id.number)
    }
}

/// Encodes a portal user's ID: `SellerUser-<n>` for a seller's user, `OperatorUser-<n>`
/// for the operator's (both number the same `users` table).
pub fn user_gid(user_id: i64, is_seller_user: bool) -> String {
    let kind = if is_seller_user { IdKind::SellerUser } else { IdKind::OperatorUser };
    GlobalId::new(kind, user_id).encode()
}

/// Encodes a seller's ID.
pub fn seller_gid(seller_id: i64) -> String {
    GlobalId::new(IdKind::Seller, seller_id).encode()
}

/// Encodes a chat's ID (a chat is keyed by its seller).
pub fn chat_gid(seller_id: i64) -> String {
    GlobalId::new(IdKind::Chat, seller_id).encode()
}

/// Encodes a message's ID.
pub fn message_gid(message_id: i64) -> String {
    GlobalId::new(IdKind::ChatMessage, message_id).encode()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn matches_the_spec_examples() {
        assert_eq!(message_gid(42), "Q2hhdE1lc3NhZ2UtNDI=");
        assert_eq!(seller_gid(7), "U2VsbGVyLTc=");
        assert_eq!(GlobalId::decode("U2VsbGVyLTc=").unwrap(), GlobalId::new(IdKind::Seller, 7));
    }

    #[test]
    fn user_ids_name_their_side() {
        assert_eq!(GlobalId::decode(&user_gid(3, false)).unwrap(), GlobalId::new(IdKind::OperatorUser, 3));
        assert_eq!(GlobalId::decode(&user_gid(5, true)).unwrap(), GlobalId::new(IdKind::SellerUser, 5));
        assert_eq!(user_gid(3, false), "T3BlcmF0b3JVc2VyLTM=");
    }

    #[test]
    fn wrong_type_is_reported_as_such() {
        assert_eq!(
            GlobalId::decode_as(&seller_gid(7), IdKind::ChatMessage),
            Err(IdError::WrongType { expected: "ChatMessage" })
        );
    }

    #[test]
    fn rejects_malformed_ids() {
        for raw in ["", "x", "U2VsbGVy", "!!!", &STANDARD.encode("Seller-0"), &STANDARD.encode("Seller--1"),
            &STANDARD.encode("Seller-1x"), &STANDARD.encode("Nope-1"), &STANDARD.encode("Seller-99999999999999999999")] {
            assert_eq!(GlobalId::decode(raw), Err(IdError::Malformed), "{raw:?}");
        }
    }

    proptest! {
        #[test]
        fn round_trips(number in 1i64..=i64::MAX, kind in prop::sample::select(vec![IdKind::Seller, IdKind::Chat, IdKind::ChatMessage, IdKind::ApiKey, IdKind::WebhookEndpoint, IdKind::OperatorUser, IdKind::SellerUser])) {
            let id = GlobalId::new(kind, number);
            prop_assert_eq!(GlobalId::decode(&id.encode()), Ok(id));
        }

        #[test]
        fn never_panics_on_arbitrary_input(raw in any::<String>()) {
            let _ = GlobalId::decode(&raw);
        }

        #[test]
        fn never_panics_on_arbitrary_base64_payloads(bytes in prop::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(id) = GlobalId::decode(&STANDARD.encode(&bytes)) {
                prop_assert!(id.number > 0);
            }
        }
    }
}
