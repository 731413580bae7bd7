-- `chats_unread_by_activity` (0001) served `chats(unreadOnly: true)` before the support
-- inbox; since 0013 that filter drives from `chats_attention_by_activity` (unread or
-- marked unread) and no query names the old index, yet every message still rewrote its
-- entry (it is keyed on `last_message_id`). One index write less per message.
DROP INDEX IF EXISTS chats_unread_by_activity;
