-- Core chat schema: sellers, one chat per seller, messages, API keys, settings.
-- Times are Unix milliseconds (INTEGER).

CREATE TABLE sellers (
    id            INTEGER PRIMARY KEY,
    business_name TEXT    NOT NULL,
    -- lower-cased name: the sort key of `sellers` and the haystack of `search`
    name_key      TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
);
-- sellers(first, after): keyset by (name_key, id)
CREATE INDEX sellers_by_name ON sellers (name_key, id);

-- Exactly one chat per seller, keyed by the seller. Counters are maintained inside
-- the transactions that change messages, so reads never count rows.
CREATE TABLE chats (
    seller_id          INTEGER PRIMARY KEY REFERENCES sellers (id),
    message_count      INTEGER NOT NULL DEFAULT 0, -- also the last assigned seq
    unread_by_seller   INTEGER NOT NULL DEFAULT 0, -- Admin messages with read_at NULL
    unread_by_operator INTEGER NOT NULL DEFAULT 0, -- Seller messages with read_at NULL
    last_message_id    INTEGER                     -- NULL until the first message
);
-- chats(first, after): most recently active first; message ids only grow
CREATE INDEX chats_by_activity ON chats (last_message_id) WHERE last_message_id IS NOT NULL;
-- chats(unreadOnly: true)
CREATE INDEX chats_unread_by_activity ON chats (last_message_id) WHERE unread_by_operator > 0;

CREATE TABLE messages (
    id                 INTEGER PRIMARY KEY,
    seller_id          INTEGER NOT NULL REFERENCES chats (seller_id),
    seq                INTEGER NOT NULL,
    sent_by            TEXT    NOT NULL CHECK (sent_by IN ('Admin', 'Seller')),
    sender_label       TEXT,
    body               TEXT    NOT NULL,
    created_at         INTEGER NOT NULL,
    read_at            INTEGER,
    client_mutation_id TEXT
);
-- chatMessages pages: keyset on (seller_id, seq); also makes seq unique per chat
CREATE UNIQUE INDEX messages_by_thread ON messages (seller_id, seq);
-- chatMessageRead: the other side's unread messages of one thread
CREATE INDEX messages_unread ON messages (seller_id, sent_by, seq) WHERE read_at IS NULL;
-- idempotent chatMessageCreate: one message per (thread, side, clientMutationId)
CREATE UNIQUE INDEX messages_by_client_mutation ON messages (seller_id, sent_by, client_mutation_id)
    WHERE client_mutation_id IS NOT NULL;

CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY,
    key_hash     TEXT    NOT NULL UNIQUE,    -- SHA-256 of the secret; the secret is never stored
    seller_id    INTEGER REFERENCES sellers (id), -- NULL: an operator key
    label        TEXT,
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER,
    last_used_at INTEGER
);

CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
