-- Core chat schema for PostgreSQL: the same model as migrations/sqlite, in this dialect.
-- Times are Unix milliseconds (BIGINT). Several nodes may start at once: sqlx holds an
-- advisory lock while it migrates, so exactly one applies each migration.

CREATE TABLE sellers (
    id            BIGSERIAL PRIMARY KEY,
    business_name TEXT   NOT NULL,
    name_key      TEXT   NOT NULL, -- lower-cased name: sort key and search haystack
    created_at    BIGINT NOT NULL
);
CREATE INDEX sellers_by_name ON sellers (name_key, id);

-- One chat per seller. Writers lock this row (UPDATE … RETURNING message_count) to take
-- the next per-chat seq, so a thread's sequence has no gap and no repeat across nodes.
CREATE TABLE chats (
    seller_id          BIGINT PRIMARY KEY REFERENCES sellers (id),
    message_count      BIGINT NOT NULL DEFAULT 0,
    unread_by_seller   BIGINT NOT NULL DEFAULT 0,
    unread_by_operator BIGINT NOT NULL DEFAULT 0,
    last_message_id    BIGINT
);
CREATE INDEX chats_by_activity ON chats (last_message_id) WHERE last_message_id IS NOT NULL;
CREATE INDEX chats_unread_by_activity ON chats (last_message_id) WHERE unread_by_operator > 0;

CREATE TABLE messages (
    id                 BIGSERIAL PRIMARY KEY,
    seller_id          BIGINT NOT NULL REFERENCES chats (seller_id),
    seq                BIGINT NOT NULL,
    sent_by            TEXT   NOT NULL CHECK (sent_by IN ('Admin', 'Seller')),
    sender_label       TEXT,
    body               TEXT   NOT NULL,
    created_at         BIGINT NOT NULL,
    read_at            BIGINT,
    client_mutation_id TEXT
);
CREATE UNIQUE INDEX messages_by_thread ON messages (seller_id, seq);
CREATE INDEX messages_unread ON messages (seller_id, sent_by, seq) WHERE read_at IS NULL;
-- idempotent chatMessageCreate across nodes: a constraint, not check-then-insert
CREATE UNIQUE INDEX messages_by_client_mutation ON messages (seller_id, sent_by, client_mutation_id)
    WHERE client_mutation_id IS NOT NULL;

CREATE TABLE api_keys (
    id           BIGSERIAL PRIMARY KEY,
    key_hash     TEXT   NOT NULL UNIQUE,
    seller_id    BIGINT REFERENCES sellers (id),
    label        TEXT,
    created_at   BIGINT NOT NULL,
    revoked_at   BIGINT,
    last_used_at BIGINT
);

CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- The durable event feed. `seq` is taken before commit, so readers order by the writing
-- transaction first (`tx`) and read only events of transactions older than every
-- transaction still running (pg_snapshot_xmin): nothing can later appear before a
-- position a reader has passed.
CREATE TABLE events (
    seq         BIGSERIAL PRIMARY KEY,
    tx          XID8   NOT NULL DEFAULT pg_current_xact_id(),
    seller_id   BIGINT NOT NULL REFERENCES chats (seller_id),
    kind        TEXT   NOT NULL CHECK (kind IN ('message_created', 'messages_read')),
    message_id  BIGINT REFERENCES messages (id),
    sent_by     TEXT,
    read_at     BIGINT,
    message_ids BIGINT[],
    created_at  BIGINT NOT NULL
);
CREATE INDEX events_by_position ON events (tx, seq);
CREATE INDEX events_by_seller ON events (seller_id, tx, seq);
