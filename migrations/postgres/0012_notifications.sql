-- E-mail notifications (SPEC §13). Derived from the `events` feed like webhooks: one
-- cursor for the notifier; each "unread stretch" (Admin messages the seller has not read,
-- or Seller messages awaiting a reply) is one row, ended by the read or the reply; when a
-- stretch is still open at its due time it becomes one e-mail row per recipient, which
-- the sender delivers, retries and records (claims as for webhook deliveries).
CREATE TABLE notification_cursor (
    id         BIGINT PRIMARY KEY CHECK (id = 1),
    cursor_tx  BIGINT NOT NULL,           -- feed position already turned into stretches
    cursor_seq BIGINT NOT NULL
);

CREATE TABLE notification_stretches (
    id               BIGSERIAL PRIMARY KEY,
    side             TEXT    NOT NULL CHECK (side IN ('seller', 'operator')), -- who is told
    seller_id        BIGINT NOT NULL REFERENCES sellers (id),
    first_message_id BIGINT NOT NULL,      -- the message that opened it (retention may remove it)
    due_at           BIGINT NOT NULL,      -- when still open, e-mails are made (or a claim's lease)
    state            TEXT    NOT NULL DEFAULT 'waiting' CHECK (state IN ('waiting', 'queued', 'ended', 'skipped')),
    created_at       BIGINT NOT NULL,
    ended_at         BIGINT                -- read (seller side) or answered (operator side)
);
-- one open stretch per chat and side: "no second e-mail for the same unread stretch"
CREATE UNIQUE INDEX notification_stretches_open ON notification_stretches (side, seller_id) WHERE ended_at IS NULL;
-- the notifier's queue of stretches coming due
CREATE INDEX notification_stretches_due ON notification_stretches (due_at) WHERE state = 'waiting' AND ended_at IS NULL;

CREATE TABLE notification_emails (
    id              BIGSERIAL PRIMARY KEY,
    stretch_id      BIGINT NOT NULL REFERENCES notification_stretches (id),
    user_id         BIGINT NOT NULL REFERENCES users (id),
    recipient       TEXT    NOT NULL,
    message_id      TEXT    NOT NULL UNIQUE, -- the e-mail's Message-ID, the same on every attempt
    subject         TEXT    NOT NULL,
    text_body       TEXT,                   -- kept only until sent or given up
    html_body       TEXT,
    unsubscribe_url TEXT    NOT NULL,
    created_at      BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    sent_at         BIGINT,
    failed_at       BIGINT,                -- gave up
    last_error      TEXT,
    UNIQUE (stretch_id, user_id)
);
-- the sender's queue: unsent, by due time
CREATE INDEX notification_emails_due ON notification_emails (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
-- `marketchat notifications`: the newest first
CREATE INDEX notification_emails_recent ON notification_emails (created_at);

-- Users who switched e-mails off (portal setting or one-click unsubscribe).
CREATE TABLE notification_opt_outs (
    user_id      BIGINT PRIMARY KEY REFERENCES users (id),
    opted_out_at BIGINT NOT NULL
);
