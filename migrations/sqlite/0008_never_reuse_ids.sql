-- IDs that clients see are never handed out twice. A plain INTEGER PRIMARY KEY takes
-- max(id) + 1, so removing the newest rows (retention) reused their IDs; AUTOINCREMENT
-- never does. SQLite adds it only by rebuilding a table: each table is copied aside,
-- dropped and made again with the same columns, then refilled with the same rows and IDs
-- (which also sets its AUTOINCREMENT counter), and its indexes and triggers are made
-- again. Foreign keys stay as written (other tables refer to these by name). Child
-- tables are set aside before their parents are dropped, so the only references left
-- dangling meanwhile are those of `chats` (to sellers) and `events` (to messages), both
-- looked up by index; those violations are deferred, undone as the rows come back, and
-- the commit would fail if any were left.
PRAGMA defer_foreign_keys = ON;

-- Children first: sessions (of users), api_keys and users (of sellers), webhook
-- attempts (of deliveries) and deliveries (of endpoints) are copied aside and dropped.
CREATE TABLE sessions_kept AS SELECT * FROM sessions;
DROP TABLE sessions;
CREATE TABLE api_keys_kept AS SELECT * FROM api_keys;
DROP TABLE api_keys;
CREATE TABLE users_kept AS SELECT * FROM users;
DROP TABLE users;
CREATE TABLE webhook_attempts_kept AS SELECT * FROM webhook_attempts;
DROP TABLE webhook_attempts;
CREATE TABLE webhook_deliveries_kept AS SELECT * FROM webhook_deliveries;
DROP TABLE webhook_deliveries;

-- sellers
CREATE TABLE sellers_kept AS SELECT * FROM sellers;
DROP TABLE sellers;
CREATE TABLE sellers (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    business_name TEXT    NOT NULL,
    -- lower-cased name: the sort key of `sellers` and the haystack of `search`
    name_key      TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
);
INSERT INTO sellers (id, business_name, name_key, created_at)
SELECT id, business_name, name_key, created_at FROM sellers_kept;
DROP TABLE sellers_kept;
CREATE INDEX sellers_by_name ON sellers (name_key, id);

-- messages (the insert trigger and indexes go with the table and are made again)
CREATE TABLE messages_kept AS SELECT * FROM messages;
DROP TABLE messages;
CREATE TABLE messages (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    seller_id          INTEGER NOT NULL REFERENCES chats (seller_id),
    seq                INTEGER NOT NULL,
    sent_by            TEXT    NOT NULL CHECK (sent_by IN ('Admin', 'Seller')),
    sender_label       TEXT,
    body               TEXT    NOT NULL,
    created_at         INTEGER NOT NULL,
    read_at            INTEGER,
    client_mutation_id TEXT
);
INSERT INTO messages (id, seller_id, seq, sent_by, sender_label, body, created_at, read_at, client_mutation_id)
SELECT id, seller_id, seq, sent_by, sender_label, body, created_at, read_at, client_mutation_id FROM messages_kept;
-- Retention may already have removed the newest messages; the chats remember the
-- highest ID handed out, so the counter starts above it.
UPDATE sqlite_sequence SET seq = max(seq, (SELECT coalesce(max(last_message_id), 0) FROM chats)) WHERE name = 'messages';
INSERT INTO sqlite_sequence (name, seq)
SELECT 'messages', (SELECT max(last_message_id) FROM chats)
WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'messages')
  AND (SELECT max(last_message_id) FROM chats) IS NOT NULL;
DROP TABLE messages_kept;
CREATE UNIQUE INDEX messages_by_thread ON messages (seller_id, seq);
CREATE INDEX messages_unread ON messages (seller_id, sent_by, seq) WHERE read_at IS NULL;
CREATE UNIQUE INDEX messages_by_client_mutation ON messages (seller_id, sent_by, client_mutation_id)
    WHERE client_mutation_id IS NOT NULL;
CREATE INDEX messages_by_time ON messages (created_at);
CREATE TRIGGER messages_after_insert AFTER INSERT ON messages
BEGIN
    UPDATE chats
       SET message_count      = NEW.seq,
           unread_by_seller   = unread_by_seller + (NEW.sent_by = 'Admin'),
           unread_by_operator = unread_by_operator + (NEW.sent_by = 'Seller'),
           last_message_id    = NEW.id
     WHERE seller_id = NEW.seller_id;
    INSERT INTO events (seller_id, kind, message_id, created_at)
    VALUES (NEW.seller_id, 'message_created', NEW.id, NEW.created_at);
END;

-- api_keys (sellers are back)
CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    key_hash     TEXT    NOT NULL UNIQUE,    -- SHA-256 of the secret; the secret is never stored
    seller_id    INTEGER REFERENCES sellers (id), -- NULL: an operator key
    label        TEXT,
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER,
    last_used_at INTEGER
);
INSERT INTO api_keys (id, key_hash, seller_id, label, created_at, revoked_at, last_used_at)
SELECT id, key_hash, seller_id, label, created_at, revoked_at, last_used_at FROM api_keys_kept;
DROP TABLE api_keys_kept;

-- users
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT    NOT NULL UNIQUE,      -- lower-cased
    name          TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,             -- argon2id, PHC string
    seller_id     INTEGER REFERENCES sellers (id), -- a seller user; NULL: an operator user
    role          TEXT CHECK (role IS NULL OR role IN
                      ('customer-support', 'marketing', 'finance', 'webmaster', 'full-admin', 'viewer')),
    created_at    INTEGER NOT NULL
);
INSERT INTO users (id, email, name, password_hash, seller_id, role, created_at)
SELECT id, email, name, password_hash, seller_id, role, created_at FROM users_kept;
DROP TABLE users_kept;

-- webhook endpoints and deliveries
CREATE TABLE webhook_endpoints_kept AS SELECT * FROM webhook_endpoints;
DROP TABLE webhook_endpoints;
CREATE TABLE webhook_endpoints (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    url        TEXT    NOT NULL,
    secret     TEXT    NOT NULL,
    events     TEXT    NOT NULL,           -- comma-separated event types
    created_at INTEGER NOT NULL,
    removed_at INTEGER,
    cursor_tx  INTEGER NOT NULL DEFAULT 0, -- feed position already turned into deliveries
    cursor_seq INTEGER NOT NULL DEFAULT 0
);
INSERT INTO webhook_endpoints (id, url, secret, events, created_at, removed_at, cursor_tx, cursor_seq)
SELECT id, url, secret, events, created_at, removed_at, cursor_tx, cursor_seq FROM webhook_endpoints_kept;
DROP TABLE webhook_endpoints_kept;

CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint_id     INTEGER NOT NULL REFERENCES webhook_endpoints (id),
    event_id        TEXT    NOT NULL,     -- the same on every attempt
    body            TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    delivered_at    INTEGER,
    failed_at       INTEGER,              -- gave up
    last_error      TEXT,
    UNIQUE (endpoint_id, event_id)
);
INSERT INTO webhook_deliveries (id, endpoint_id, event_id, body, created_at, attempts, next_attempt_at, delivered_at, failed_at, last_error)
SELECT id, endpoint_id, event_id, body, created_at, attempts, next_attempt_at, delivered_at, failed_at, last_error FROM webhook_deliveries_kept;
DROP TABLE webhook_deliveries_kept;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE delivered_at IS NULL AND failed_at IS NULL;

-- webhook attempts and sessions come back as they were (their IDs are not shown)
CREATE TABLE webhook_attempts (
    id           INTEGER PRIMARY KEY,
    delivery_id  INTEGER NOT NULL REFERENCES webhook_deliveries (id),
    attempted_at INTEGER NOT NULL,
    status       INTEGER,                 -- HTTP status, if any
    error        TEXT
);
INSERT INTO webhook_attempts (id, delivery_id, attempted_at, status, error)
SELECT id, delivery_id, attempted_at, status, error FROM webhook_attempts_kept;
DROP TABLE webhook_attempts_kept;

CREATE TABLE sessions (
    token_hash   TEXT    PRIMARY KEY,           -- SHA-256 of the cookie's token
    user_id      INTEGER NOT NULL REFERENCES users (id),
    expires_at   INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL               -- Unix ms; idle sessions end
);
INSERT INTO sessions (token_hash, user_id, expires_at, last_used_at)
SELECT token_hash, user_id, expires_at, last_used_at FROM sessions_kept;
DROP TABLE sessions_kept;
CREATE INDEX sessions_by_user ON sessions (user_id, expires_at);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
CREATE INDEX sessions_by_last_use ON sessions (last_used_at);
