-- Full-text search over message bodies (`messageSearch`, SPEC §12).
--
-- `messages_fts` is an FTS5 index whose content is `messages` itself (external content:
-- the bodies are not stored twice), keyed by `messages.id` (its rowid). The tokenizer cuts
-- bodies into runs of letters, digits and private-use characters, lower-cases them and
-- removes Latin diacritics (`unicode61 remove_diacritics 2`): "Café" is found by "cafe".
-- src/domain/search.rs folds queries and highlights the same way, and PostgreSQL's index
-- (migrations/postgres 0011) folds with the same table.
--
-- Triggers of their own keep the index in step with `messages` in the writing
-- transaction: a sent message (the group commit's INSERT), a message removed by
-- retention (`ChatStore::remove_before`'s DELETE), and a changed body (none today). They
-- sit beside `messages_after_insert`, which keeps the chat counters, and do not depend
-- on it. A migration that rebuilds `messages` must make them again.
--
-- Reads: `messageSearch` runs `messages_fts MATCH … AND rowid < cursor ORDER BY rowid
-- DESC LIMIT n`, which FTS5 answers from the index in rowid order, newest first, without
-- sorting (EXPLAIN QUERY PLAN: `SCAN f VIRTUAL TABLE INDEX …`).
CREATE VIRTUAL TABLE messages_fts USING fts5(
    body,
    content = 'messages',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);

-- Messages stored before this migration.
INSERT INTO messages_fts (rowid, body) SELECT id, body FROM messages;

CREATE TRIGGER messages_fts_after_insert AFTER INSERT ON messages
BEGIN
    INSERT INTO messages_fts (rowid, body) VALUES (NEW.id, NEW.body);
END;

CREATE TRIGGER messages_fts_after_delete AFTER DELETE ON messages
BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', OLD.id, OLD.body);
END;

CREATE TRIGGER messages_fts_after_body_update AFTER UPDATE OF body ON messages
BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', OLD.id, OLD.body);
    INSERT INTO messages_fts (rowid, body) VALUES (NEW.id, NEW.body);
END;
