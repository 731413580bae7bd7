-- `chats_unread_by_activity` (0001) served `chats(unreadOnly: true)` before the support
-- inbox; since 0010 that filter is served by `chats_attention_by_activity` (unread or
-- marked unread), and every message still rewrote the old index's entry (it is keyed on
-- `last_message_id`). One index write less per message.
DROP INDEX IF EXISTS chats_unread_by_activity;
