-- Webhooks. The outbox is the `events` table, written in the same transaction as every
-- change; each endpoint keeps a cursor into it, and a delivery row is made per endpoint
-- and event, which the worker then sends, retries and records.
CREATE TABLE webhook_endpoints (
    id         BIGSERIAL PRIMARY KEY,
    url        TEXT    NOT NULL,
    secret     TEXT    NOT NULL,
    events     TEXT    NOT NULL,           -- comma-separated event types
    created_at BIGINT NOT NULL,
    removed_at BIGINT,
    cursor_tx  BIGINT NOT NULL DEFAULT 0, -- feed position already turned into deliveries
    cursor_seq BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE webhook_deliveries (
    id              BIGSERIAL PRIMARY KEY,
    endpoint_id     BIGINT NOT NULL REFERENCES webhook_endpoints (id),
    event_id        TEXT    NOT NULL,     -- the same on every attempt
    body            TEXT    NOT NULL,
    created_at      BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    delivered_at    BIGINT,
    failed_at       BIGINT,              -- gave up
    last_error      TEXT,
    UNIQUE (endpoint_id, event_id)
);
-- the worker's queue: undelivered, by due time
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE delivered_at IS NULL AND failed_at IS NULL;

CREATE TABLE webhook_attempts (
    id           BIGSERIAL PRIMARY KEY,
    delivery_id  BIGINT NOT NULL REFERENCES webhook_deliveries (id),
    attempted_at BIGINT NOT NULL,
    status       BIGINT,                 -- HTTP status, if any
    error        TEXT
);
