-- Support inbox (SPEC §12, operator side only): a chat's status, assignee, the time its
-- oldest unanswered Seller message arrived, the operator's own "mark unread" flag;
-- internal notes; saved replies; the small tables `supportStats` reads; and two new
-- kinds in the durable event feed (`chat_updated`, `note_created`).
--
-- Kept in the write transaction (see "Chat counters" in src/store/mod.rs): storing a
-- message sets `awaiting_since` (Seller message, none pending) or clears it (Admin
-- message), reopens a resolved chat on a Seller message, and fills the statistics tables.

ALTER TABLE chats ADD COLUMN status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved'));
ALTER TABLE chats ADD COLUMN assignee_id INTEGER REFERENCES users (id);  -- NULL: unassigned
-- createdAt of the oldest Seller message after the last Admin message; NULL: none waiting
ALTER TABLE chats ADD COLUMN awaiting_since INTEGER;
-- when the chat's current open period began (first Seller message while it was new or
-- resolved, or a reopening); NULL while resolved or before any Seller message
ALTER TABLE chats ADD COLUMN opened_at INTEGER;
-- set by chatMarkUnread (operator side only: no message's read_at changes); cleared when
-- the operator marks the chat read
ALTER TABLE chats ADD COLUMN marked_unread_at INTEGER;

-- What the stored messages say so far.
UPDATE chats SET awaiting_since = (
    SELECT MIN(m.created_at) FROM messages m
     WHERE m.seller_id = chats.seller_id AND m.sent_by = 'Seller'
       AND m.seq > COALESCE((SELECT MAX(a.seq) FROM messages a WHERE a.seller_id = chats.seller_id AND a.sent_by = 'Admin'), 0));
UPDATE chats SET opened_at = (SELECT MIN(m.created_at) FROM messages m WHERE m.seller_id = chats.seller_id AND m.sent_by = 'Seller');

-- Which index serves which `chats(...)` filter. Every query drives from exactly one of
-- these (SQLite: named with INDEXED BY; PostgreSQL picks them by cost); the other filters
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
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    seller_id  INTEGER NOT NULL REFERENCES chats (seller_id),
    body       TEXT    NOT NULL,
    author     TEXT    NOT NULL,   -- the user's name or the API key's label
    created_at INTEGER NOT NULL
);
CREATE INDEX chat_notes_by_chat ON chat_notes (seller_id, id);

-- Saved replies, listed by title.
CREATE TABLE saved_replies (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    title      TEXT    NOT NULL,
    title_key  TEXT    NOT NULL,   -- lower-cased title: the sort key
    body       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX saved_replies_by_title ON saved_replies (title_key, id);

-- supportStats reads only these, each by time (never the messages):
-- one row per Admin message that answered a waiting chat (first-response time)
CREATE TABLE support_responses (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    seller_id     INTEGER NOT NULL REFERENCES chats (seller_id),
    waiting_since INTEGER NOT NULL,
    answered_at   INTEGER NOT NULL,
    agent         TEXT    NOT NULL  -- the answering message's sentBy
);
CREATE INDEX support_responses_by_time ON support_responses (answered_at);
-- one row per chatStatusUpdate to RESOLVED (time to resolve)
CREATE TABLE support_resolutions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    seller_id   INTEGER NOT NULL REFERENCES chats (seller_id),
    opened_at   INTEGER,            -- NULL: resolved without a Seller message since it was last resolved
    resolved_at INTEGER NOT NULL,
    agent       TEXT    NOT NULL    -- the resolving user's name or key label
);
CREATE INDEX support_resolutions_by_time ON support_resolutions (resolved_at);
-- per UTC day (Unix ms / 86400000) and shard (seller_id % 16, so concurrent writers on
-- PostgreSQL rarely wait on the same row): messages by side, chats opened and resolved
CREATE TABLE support_days (
    day             INTEGER NOT NULL,
    shard           INTEGER NOT NULL,
    seller_messages INTEGER NOT NULL DEFAULT 0,
    admin_messages  INTEGER NOT NULL DEFAULT 0,
    chats_opened    INTEGER NOT NULL DEFAULT 0,
    chats_resolved  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, shard)
);
-- per UTC day and agent: Admin messages sent
CREATE TABLE support_agent_days (
    day      INTEGER NOT NULL,
    agent    TEXT    NOT NULL,
    messages INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, agent)
);

-- The event feed gains `chat_updated` (assign, status, mark-unread) and `note_created`
-- (with `note_id`). SQLite changes a CHECK only by rebuilding the table: the insert
-- trigger that writes to it goes first (it is made again below), the rows are copied
-- aside with their `seq`, and the AUTOINCREMENT high-water mark is carried over, so no
-- cursor a client holds is ever handed out again. Nothing refers to `events`.
DROP TRIGGER messages_after_insert;
CREATE TABLE events_kept AS SELECT * FROM events;
CREATE TABLE events_sequence_kept AS SELECT seq FROM sqlite_sequence WHERE name = 'events';
DROP TABLE events;
CREATE TABLE events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    seller_id   INTEGER NOT NULL REFERENCES chats (seller_id),
    kind        TEXT    NOT NULL CHECK (kind IN ('message_created', 'messages_read', 'chat_updated', 'note_created')),
    message_id  INTEGER REFERENCES messages (id), -- message_created: the message
    sent_by     TEXT,                            -- messages_read: whose messages were read
    read_at     INTEGER,                         -- messages_read: the readAt set
    message_ids TEXT,                            -- messages_read: JSON array of message ids
    created_at  INTEGER NOT NULL,
    note_id     INTEGER REFERENCES chat_notes (id) -- note_created: the note
);
INSERT INTO events (seq, seller_id, kind, message_id, sent_by, read_at, message_ids, created_at)
SELECT seq, seller_id, kind, message_id, sent_by, read_at, message_ids, created_at FROM events_kept;
DROP TABLE events_kept;
UPDATE sqlite_sequence SET seq = MAX(seq, COALESCE((SELECT seq FROM events_sequence_kept), 0)) WHERE name = 'events';
INSERT INTO sqlite_sequence (name, seq)
SELECT 'events', seq FROM events_sequence_kept WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'events');
DROP TABLE events_sequence_kept;
CREATE INDEX events_by_seller ON events (seller_id, seq);
CREATE INDEX events_by_message ON events (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX events_read_by_time ON events (created_at) WHERE kind = 'messages_read';

-- The insert trigger (0003, remade in 0008) as before, plus the support inbox's part of
-- the counter rule. The statistics rows go first: they read the chat as it was before
-- this message.
CREATE TRIGGER messages_after_insert AFTER INSERT ON messages
BEGIN
    INSERT INTO support_responses (seller_id, waiting_since, answered_at, agent)
    SELECT seller_id, awaiting_since, NEW.created_at, COALESCE(NEW.sender_label, 'operator')
      FROM chats WHERE seller_id = NEW.seller_id AND NEW.sent_by = 'Admin' AND awaiting_since IS NOT NULL;
    INSERT INTO support_days (day, shard, seller_messages, admin_messages, chats_opened)
    SELECT NEW.created_at / 86400000, NEW.seller_id % 16, NEW.sent_by = 'Seller', NEW.sent_by = 'Admin',
           NEW.sent_by = 'Seller' AND opened_at IS NULL
      FROM chats WHERE seller_id = NEW.seller_id
        ON CONFLICT (day, shard) DO UPDATE SET seller_messages = seller_messages + excluded.seller_messages,
           admin_messages = admin_messages + excluded.admin_messages, chats_opened = chats_opened + excluded.chats_opened;
    INSERT INTO support_agent_days (day, agent, messages)
    SELECT NEW.created_at / 86400000, COALESCE(NEW.sender_label, 'operator'), 1 WHERE NEW.sent_by = 'Admin'
        ON CONFLICT (day, agent) DO UPDATE SET messages = messages + 1;
    UPDATE chats
       SET message_count      = NEW.seq,
           unread_by_seller   = unread_by_seller + (NEW.sent_by = 'Admin'),
           unread_by_operator = unread_by_operator + (NEW.sent_by = 'Seller'),
           last_message_id    = NEW.id,
           awaiting_since     = CASE WHEN NEW.sent_by = 'Admin' THEN NULL ELSE COALESCE(awaiting_since, NEW.created_at) END,
           opened_at          = CASE WHEN NEW.sent_by = 'Seller' THEN COALESCE(opened_at, NEW.created_at) ELSE opened_at END,
           status             = CASE WHEN NEW.sent_by = 'Seller' THEN 'open' ELSE status END
     WHERE seller_id = NEW.seller_id;
    INSERT INTO events (seller_id, kind, message_id, created_at)
    VALUES (NEW.seller_id, 'message_created', NEW.id, NEW.created_at);
END;
