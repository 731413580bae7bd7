//! Opaque, stable pagination cursors. Each names a position in one ordered list.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use super::ids::{MessageId, SellerId, Seq};
use base64::Engine;
use thiserror::Error;

/// A cursor that cannot be used here.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("is not a valid cursor")]
pub struct CursorError;

/// A position in a chat thread: the chat (keyed by seller) and the message's sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageCursor {
    /// The seller whose thread this cursor belongs to.
    pub seller_id: SellerId,
    /// The message's position in the thread.
    pub seq: Seq,
}

/// A position in the operator's chat list, ordered by the chat's latest message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatCursor {
    /// The global ID number of the chat's latest message when the page was read.
    pub last_message_id: MessageId,
}

/// A position in the operator's chat list sorted `WAITING_LONGEST`: oldest wait first,
/// ties by seller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitCursor {
    /// The chat's `awaitingReplySince` (Unix ms) when the page was read.
    pub awaiting_since: i64,
    /// The chat's seller.
    pub seller_id: SellerId,
}

/// A position in the seller list, ordered by folded name then ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SellerCursor {
    /// The case-folded business name.
    pub name_key: String,
    /// The seller's row number, breaking ties between equal names.
    pub seller_id: SellerId,
}

fn encode(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(text)
}

/// Decodes a cursor into its tag and fields (at most `parts` fields; the last keeps any ':').
fn decode<'a>(raw: &str, tag: &str, parts: usize, buffer: &'a mut String) -> Result<Vec<&'a str>, CursorError> {
    let bytes = URL_SAFE_NO_PAD.decode(raw.trim()).map_err(|_| CursorError)?;
    *buffer = String::from_utf8(bytes).map_err(|_| CursorError)?;
    let rest = buffer.strip_prefix(tag).and_then(|r| r.strip_prefix(':')).ok_or(CursorError)?;
    let fields: Vec<&str> = rest.splitn(parts, ':').collect();
    if fields.len() != parts {
        return Err(CursorError);
    }
    Ok(fields)
}

fn positive(field: &str) -> Result<i64, CursorError> {
    if field.is_empty() || !field.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CursorError);
    }
    match field.parse::<i64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(CursorError),
    }
}

impl MessageCursor {
    /// The opaque string clients see.
    pub fn encode(self) -> String {
        encode(&format!("m:{}:{}", self.seller_id, self.seq.get()))
    }

    /// Parses a message cursor.
    pub fn decode(raw: &str) -> Result<Self, CursorError> {
        let mut buffer = String::new();
        let fields = decode(raw, "m", 2, &mut buffer)?;
        Ok(Self { seller_id: SellerId::from(positive(fields[0])?), seq: Seq::new(positive(fields[1])?) })
    }

    /// Parses a cursor that must belong to `seller_id`'s thread.
    pub fn decode_for(raw: &str, seller_id: SellerId) -> Result<Self, CursorError> {
        let cursor = Self::decode(raw)?;
        if cursor.seller_id != seller_id {
            return Err(CursorError);
        }
        Ok(cursor)
    }
}

impl ChatCursor {
    /// The opaque string clients see.
    pub fn encode(self) -> String {
        encode(&format!("c:{}", self.last_message_id))
    }

    /// Parses a chat-list cursor.
    pub fn decode(raw: &str) -> Result<Self, CursorError> {
        let mut buffer = String::new();
        let fields = decode(raw, "c", 1, &mut buffer)?;
        Ok(Self { last_message_id: MessageId::from(positive(fields[0])?) })
    }
}

impl WaitCursor {
    /// The opaque string clients see.
    pub fn encode(self) -> String {
        encode(&format!("w:{}:{}", self.awaiting_since, self.seller_id))
    }

    /// Parses a waiting-longest chat-list cursor.
    pub fn decode(raw: &str) -> Result<Self, CursorError> {
        let mut buffer = String::new();
        let fields = decode(raw, "w", 2, &mut buffer)?;
        Ok(Self { awaiting_since: positive(fields[0])?, seller_id: SellerId::from(positive(fields[1])?) })
    }
}

impl SellerCursor {
    /// The opaque string clients see.
    pub fn encode(&self) -> String {
        encode(&format!("s:{}:{}", self.seller_id, self.name_key))
    }

    /// Parses a seller-list cursor.
    pub fn decode(raw: &str) -> Result<Self, CursorError> {
        let mut buffer = String::new();
        let fields = decode(raw, "s", 2, &mut buffer)?;
        Ok(Self { seller_id: SellerId::from(positive(fields[0])?), name_key: fields[1].to_owned() })
    }
}

/// A position in the event feed of `chatEvents`, ordered by (`tx`, `seq`).
///
/// `seq` numbers events as they are inserted. On SQLite, whose one writer commits in
/// insert order, that is the whole order and `tx` is always 0. On PostgreSQL a sequence
/// value is taken before commit, so `tx` is the writing transaction's ID and readers only
/// read events of transactions older than every transaction still running: an event
/// that becomes visible later always sorts after every position already read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventCursor {
    /// The writing transaction (0 on SQLite).
    pub tx: i64,
    /// The event's insert sequence number (0: before the first event).
    pub seq: i64,
}

impl EventCursor {
    /// Before the first event: `after` this replays the whole feed.
    pub const START: EventCursor = EventCursor { tx: 0, seq: 0 };

    /// The opaque string clients see.
    pub fn encode(self) -> String {
        encode(&format!("e:{}:{}", self.tx, self.seq))
    }

    /// Parses an event cursor.
    pub fn decode(raw: &str) -> Result<Self, CursorError> {
        let mut buffer = String::new();
        let fields = decode(raw, "e", 2, &mut buffer)?;
        Ok(Self { tx: non_negative(fields[0])?, seq: non_negative(fields[1])? })
    }
}

fn non_negative(field: &str) -> Result<i64, CursorError> {
    if field == "0" {
        return Ok(0);
    }
    positive(field)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_cursor_of_another_thread_is_refused() {
        let cursor = MessageCursor { seller_id: SellerId::from(1), seq: Seq::new(5) }.encode();
        assert_eq!(MessageCursor::decode_for(&cursor, SellerId::from(2)), Err(CursorError));
        assert!(MessageCursor::decode_for(&cursor, SellerId::from(1)).is_ok());
    }

    #[test]
    fn cursors_of_other_lists_are_refused() {
        let chat = ChatCursor { last_message_id: MessageId::from(3) }.encode();
        assert_eq!(MessageCursor::decode(&chat), Err(CursorError));
        assert_eq!(SellerCursor::decode(&chat), Err(CursorError));
    }

    proptest! {
        #[test]
        fn message_cursors_round_trip(seller_id in 1i64..=i64::MAX, seq in 1i64..=i64::MAX) {
            let cursor = MessageCursor { seller_id: SellerId::from(seller_id), seq: Seq::new(seq) };
            prop_assert_eq!(MessageCursor::decode(&cursor.encode()), Ok(cursor));
        }

        #[test]
        fn seller_cursors_round_trip(seller_id in 1i64..=i64::MAX, name_key in any::<String>()) {
            let cursor = SellerCursor { seller_id: SellerId::from(seller_id), name_key };
            prop_assert_eq!(SellerCursor::decode(&cursor.encode()), Ok(cursor));
        }

        #[test]
        fn event_cursors_round_trip(tx in 0i64..=i64::MAX, seq in 0i64..=i64::MAX) {
            let cursor = EventCursor { tx, seq };
            prop_assert_eq!(EventCursor::decode(&cursor.encode()), Ok(cursor));
        }

        #[test]
        fn decoding_never_panics(raw in any::<String>()) {
            let _ = EventCursor::decode(&raw);
            let _ = MessageCursor::decode(&raw);
            let _ = ChatCursor::decode(&raw);
            let _ = SellerCursor::decode(&raw);
        }

        #[test]
        fn decoding_base64_garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..48)) {
            let raw = URL_SAFE_NO_PAD.encode(&bytes);
            if let Ok(cursor) = MessageCursor::decode(&raw) {
                prop_assert!(cursor.seq.get() > 0 && cursor.seller_id.get() > 0);
            }
        }
    }
}
