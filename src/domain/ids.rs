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
    /// An internal note beside a chat (operator side only).
    ChatNote,
    /// A saved reply (operator side only).
    SavedReply,
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
            IdKind::ChatNote => "ChatNote",
            IdKind::SavedReply => "SavedReply",
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
            IdKind::ChatNote,
            IdKind::SavedReply,
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

    /// Parses an ID that must name a `T` (a seller, a message …), returning the typed row ID.
    pub fn decode_as<T: RowId>(raw: &str) -> Result<T, IdError> {
        let id = Self::decode(raw)?;
        if id.kind != T::KIND {
            return Err(IdError::WrongType { expected: T::KIND.type_name() });
        }
        Ok(T::from(id.number))
    }
}

/// A table's row number that has a global ID of one kind.
pub trait RowId: Copy + From<i64> {
    /// The kind its global ID names.
    const KIND: IdKind;

}

/// Declares row-number newtypes, each with the kind of global ID it encodes to.
macro_rules! row_ids {
    ($($(#[$doc:meta])* $name:ident => $kind:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(i64);

        impl $name {
            /// The row number.
            pub const fn get(self) -> i64 {
                self.0
            }

            /// The opaque global ID clients see.
            pub fn gid(self) -> String {
                GlobalId::new(IdKind::$kind, self.0).encode()
            }
        }

        impl From<i64> for $name {
            fn from(number: i64) -> Self {
                Self(number)
            }
        }

        impl RowId for $name {
            const KIND: IdKind = IdKind::$kind;
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    )*};
}

row_ids! {
    /// A seller account's row number (its chat has the same number).
    SellerId => Seller;
    /// A chat message's global row number.
    MessageId => ChatMessage;
    /// An API key's row number.
    KeyId => ApiKey;
    /// A webhook endpoint's row number.
    WebhookId => WebhookEndpoint;
    /// An operator portal user's row number.
    OperatorUserId => OperatorUser;
    /// A chat note's row number.
    NoteId => ChatNote;
    /// A saved reply's row number.
    SavedReplyId => SavedReply;
}

impl SellerId {
    /// The global ID of this seller's chat (a chat is keyed by its seller).
    pub fn chat_gid(self) -> String {
        GlobalId::new(IdKind::Chat, self.0).encode()
    }
}

/// A message's position in its thread: 1, 2, 3, … in the order the thread's messages
/// were committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Seq(i64);

impl Seq {
    /// Wraps a stored position.
    pub const fn new(position: i64) -> Self {
        Self(position)
    }

    /// The position as a number.
    pub const fn get(self) -> i64 {
        self.0
    }
}

/// Encodes a portal user's ID: `SellerUser-<n>` for a seller's user, `OperatorUser-<n>`
/// for the operator's (both number the same `users` table).
pub fn user_gid(user_id: i64, is_seller_user: bool) -> String {
    let kind = if is_seller_user { IdKind::SellerUser } else { IdKind::OperatorUser };
    GlobalId::new(kind, user_id).encode()
}

impl std::fmt::Display for Seq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<i64> for Seq {
    fn from(position: i64) -> Self {
        Self(position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn matches_the_spec_examples() {
        assert_eq!(MessageId::from(42).gid(), "Q2hhdE1lc3NhZ2UtNDI=");
        assert_eq!(SellerId::from(7).gid(), "U2VsbGVyLTc=");
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
            GlobalId::decode_as::<MessageId>(&SellerId::from(7).gid()),
            Err(IdError::WrongType { expected: "ChatMessage" })
        );
        assert_eq!(GlobalId::decode_as::<SellerId>(&SellerId::from(7).gid()), Ok(SellerId::from(7)));
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
