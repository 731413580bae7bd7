-- The durable event feed behind chatEvents(after:): one row per created message and per
-- read, written in the same transaction as the change. `seq` only grows (AUTOINCREMENT
-- never reuses a value), so "events after N" is a gap-free, repeat-free replay.

CREATE TABLE events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    seller_id   INTEGER NOT NULL REFERENCES chats (seller_id),
    kind        TEXT    NOT NULL CHECK (kind IN ('message_created', 'messages_read')),
    message_id  INTEGER REFERENCES messages (id), -- message_created: the message
    sent_by     TEXT,                            -- messages_read: whose messages were read
    read_at     INTEGER,                         -- messages_read: the readAt set
    message_ids TEXT,                            -- messages_read: JSON array of message ids
    created_at  INTEGER NOT NULL
);
-- a seller's replay: its own events after a cursor
CREATE INDEX events_by_seller ON events (seller_id, seq);
