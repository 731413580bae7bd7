-- Webhooks. The outbox is the `events` table, written in the same transaction as every
-- change; each endpoint keeps a cursor into it, and a delivery row is made per endpoint
-- and event, which the worker then sends, retries and records.
CREATE TABLE webhook_endpoints (
    id         INTEGER PRIMARY KEY,
    url        TEXT    NOT NULL,
    secret     TEXT    NOT NULL,
    events     TEXT    NOT NULL,           -- comma-separated event types
    created_at INTEGER NOT NULL,
    removed_at INTEGER,
    cursor_tx  INTEGER NOT NULL DEFAULT 0, -- feed position already turned into deliveries
    cursor_seq INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY,
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
-- the worker's queue: undelivered, by due time
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE delivered_at IS NULL AND failed_at IS NULL;

CREATE TABLE webhook_attempts (
    id           INTEGER PRIMARY KEY,
    delivery_id  INTEGER NOT NULL REFERENCES webhook_deliveries (id),
    attempted_at INTEGER NOT NULL,
    status       INTEGER,                 -- HTTP status, if any
    error        TEXT
);
