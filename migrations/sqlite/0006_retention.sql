-- Retention: old messages can be removed in batches. `removed_count` keeps totalCount
-- right (message_count stays the last seq handed out); the indexes find old rows and
-- the events that refer to them without scanning.
ALTER TABLE chats ADD COLUMN removed_count INTEGER NOT NULL DEFAULT 0;
CREATE INDEX messages_by_time ON messages (created_at);
CREATE INDEX events_by_message ON events (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX events_read_by_time ON events (created_at) WHERE kind = 'messages_read';
