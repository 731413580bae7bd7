//! Any string as a global ID or cursor: never a panic, and whatever decodes encodes back
//! to something that decodes to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use marketchat::domain::cursor::{ChatCursor, EventCursor, MessageCursor, SellerCursor};
use marketchat::domain::ids::GlobalId;

fuzz_target!(|raw: &str| {
    if let Ok(id) = GlobalId::decode(raw) {
        assert_eq!(GlobalId::decode(&id.encode()).ok(), Some(id));
    }
    if let Ok(cursor) = MessageCursor::decode(raw) {
        assert_eq!(MessageCursor::decode(&cursor.encode()).ok(), Some(cursor));
    }
    if let Ok(cursor) = ChatCursor::decode(raw) {
        assert_eq!(ChatCursor::decode(&cursor.encode()).ok(), Some(cursor));
    }
    if let Ok(cursor) = SellerCursor::decode(raw) {
        assert_eq!(SellerCursor::decode(&cursor.encode()).ok(), Some(cursor));
    }
    if let Ok(cursor) = EventCursor::decode(raw) {
        assert_eq!(EventCursor::decode(&cursor.encode()).ok(), Some(cursor));
    }
});
