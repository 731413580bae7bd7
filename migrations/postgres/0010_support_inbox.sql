-- Support inbox (SPEC §12, operator side only): a chat's status, assignee, the time its
-- oldest unanswered Seller message arrived, the operator's own "mark unread" flag;
-- internal notes; saved replies; the small tables `supportStats` reads; and two new
-- kinds in the durable event feed (`chat_updated`, `note_created`).
--
-- Kept in the write transaction (see "Chat counters" in src/store/mod.rs): the insert
-- statement of src/store/postgres/writes.rs, storing a message, sets `awaiting_since` (Seller message, none pending) or clears it (Admin
-- message), reopens a resolved chat on a Seller message, and fills the statistics tables.

ALTER TABLE chats ADD COLUMN status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved'));
ALTER TABLE chats ADD COLUMN assignee_id BIGINT REFERENCES users (id);  -- NULL: unassigned
-- createdAt of the oldest Seller message after the last Admin message; NULL: none waiting
ALTER TABLE chats ADD COLUMN awaiting_since BIGINT;
-- when the chat's current open period began (first Seller message while it was new or
-- resolved, or a reopening); NULL while resolved or before any Seller message
ALTER TABLE chats ADD COLUMN opened_at BIGINT;
-- set by chatMarkUnread (operator side only: no message's read_at changes); cleared when
-- the operator marks the chat read
ALTER TABLE chats ADD COLUMN marked_unread_at BIGINT;

-- What the stored messages say so far.
UPDATE chats SET awaiting_since = (
    SELECT MIN(m.created_at) FROM messages m
     WHERE m.seller_id = chats.seller_id AND m.sent_by = 'Seller'
       AND m.seq > COALESCE((SELECT MAX(a.seq) FROM messages a WHERE a.seller_id = chats.seller_id AND a.sent_by = 'Admin'), 0));
UPDATE chats SET opened_at = (SELECT MIN(m.created_at) FROM messages m WHERE m.seller_id = chats.seller_id AND m.sent_by = 'Seller');

-- Which index serves which `chats(...)` filter. Every query drives from exactly one of
-- these (SQLite names it with INDEXED BY; PostgreSQL picks the same by cost); the other filters
-- of a combination are checked on the rows the index yields, in index order, so a page
-- reads about `first` rows per filter's selectivity and never the whole table.
-- sort RECENT_ACTIVITY (last_message_id DESC), by the first filter that applies:
--   assignedToMe                 -> chats_by_assignee_activity (assignee_id = me, then order)
--   unassigned                   -> chats_unassigned_by_activity
--   status                       -> chats_by_status_activity   (status = ?, then order)
--   unreadOnly                   -> chats_attention_by_activity (unread or marked unread)
--   awaitingReply                -> chats_awaiting_by_activity
--   none (search only, or none)  -> chats_by_activity (0001)
-- sort WAITING_LONGEST ((awaiting_since, seller_id) ASC; only chats awaiting a reply):
--   assignedToMe                 -> chats_by_assignee_wait
--   unassigned                   -> chats_unassigned_by_wait
--   status                       -> chats_by_status_wait
--   otherwise                    -> chats_by_wait
-- `search` (a substring of the seller's name) is never indexable; it is checked on the
-- rows of the index chosen above through the sellers primary key.
CREATE INDEX chats_by_assignee_activity ON chats (assignee_id, last_message_id) WHERE last_message_id IS NOT NULL;
CREATE INDEX chats_unassigned_by_activity ON chats (last_message_id) WHERE last_message_id IS NOT NULL AND assignee_id IS NULL;
CREATE INDEX chats_by_status_activity ON chats (status, last_message_id) WHERE last_message_id IS NOT NULL;
CREATE INDEX chats_attention_by_activity ON chats (last_message_id)
    WHERE last_message_id IS NOT NULL AND (unread_by_operator > 0 OR marked_unread_at IS NOT NULL);
CREATE INDEX chats_awaiting_by_activity ON chats (last_message_id) WHERE last_message_id IS NOT NULL AND awaiting_since IS NOT NULL;
CREATE INDEX chats_by_wait ON chats (awaiting_since, seller_id) WHERE awaiting_since IS NOT NULL;
CREATE INDEX chats_unassigned_by_wait ON chats (awaiting_since, seller_id) WHERE awaiting_since IS NOT NULL AND assignee_id IS NULL;
CREATE INDEX chats_by_assignee_wait ON chats (assignee_id, awaiting_since, seller_id) WHERE awaiting_since IS NOT NULL;
CREATE INDEX chats_by_status_wait ON chats (status, awaiting_since, seller_id) WHERE awaiting_since IS NOT NULL;

-- Internal notes beside a thread; Chat.notes pages newest first by id.
CREATE TABLE chat_notes (
    id         BIGSERIAL PRIMARY KEY,
    seller_id  BIGINT NOT NULL REFERENCES chats (seller_id),
    body       TEXT    NOT NULL,
    author     TEXT    NOT NULL,   -- the user's name or the API key's label
    created_at BIGINT NOT NULL
);
CREATE INDEX chat_notes_by_chat ON chat_notes (seller_id, id);

-- Saved replies, listed by title.
CREATE TABLE saved_replies (
    id         BIGSERIAL PRIMARY KEY,
    title      TEXT    NOT NULL,
    title_key  TEXT    NOT NULL,   -- lower-cased title: the sort key
    body       TEXT    NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX saved_replies_by_title ON saved_replies (title_key, id);

-- supportStats reads only these, each by time (never the messages):
-- one row per Admin message that answered a waiting chat (first-response time)
CREATE TABLE support_responses (
    id            BIGSERIAL PRIMARY KEY,
    seller_id     BIGINT NOT NULL REFERENCES chats (seller_id),
    waiting_since BIGINT NOT NULL,
    answered_at   BIGINT NOT NULL,
    agent         TEXT    NOT NULL  -- the answering message's sentBy
);
CREATE INDEX support_responses_by_time ON support_responses (answered_at);
-- one row per chatStatusUpdate to RESOLVED (time to resolve)
CREATE TABLE support_resolutions (
    id          BIGSERIAL PRIMARY KEY,
    seller_id   BIGINT NOT NULL REFERENCES chats (seller_id),
    opened_at   BIGINT,            -- NULL: resolved without a Seller message since it was last resolved
    resolved_at BIGINT NOT NULL,
    agent       TEXT    NOT NULL    -- the resolving user's name or key label
);
CREATE INDEX support_resolutions_by_time ON support_resolutions (resolved_at);
-- per UTC day (Unix ms / 86400000) and shard (seller_id % 16, so concurrent writers on
-- PostgreSQL rarely wait on the same row): messages by side, chats opened and resolved
CREATE TABLE support_days (
    day             BIGINT NOT NULL,
    shard           BIGINT NOT NULL,
    seller_messages BIGINT NOT NULL DEFAULT 0,
    admin_messages  BIGINT NOT NULL DEFAULT 0,
    chats_opened    BIGINT NOT NULL DEFAULT 0,
    chats_resolved  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, shard)
);
-- per UTC day and agent: Admin messages sent
CREATE TABLE support_agent_days (
    day      BIGINT NOT NULL,
    agent    TEXT    NOT NULL,
    messages BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, agent)
);

-- The event feed gains `chat_updated` (assign, status, mark-unread) and `note_created`
-- (with `note_id`).
ALTER TABLE events DROP CONSTRAINT events_kind_check;
ALTER TABLE events ADD CONSTRAINT events_kind_check
    CHECK (kind IN ('message_created', 'messages_read', 'chat_updated', 'note_created'));
ALTER TABLE events ADD COLUMN note_id BIGINT REFERENCES chat_notes (id); -- note_created: the note
