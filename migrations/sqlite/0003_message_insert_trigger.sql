-- Storing a message is one statement (INSERT … SELECT from the chat row, so the new seq
-- is message_count + 1); this trigger does the rest inside the same statement: the chat's
-- counters and last message, and the durable event. One round trip per message keeps
-- group-committed batches short.
CREATE TRIGGER messages_after_insert AFTER INSERT ON messages
BEGIN
    UPDATE chats
       SET message_count      = NEW.seq,
           unread_by_seller   = unread_by_seller + (NEW.sent_by = 'Admin'),
           unread_by_operator = unread_by_operator + (NEW.sent_by = 'Seller'),
           last_message_id    = NEW.id
     WHERE seller_id = NEW.seller_id;
    INSERT INTO events (seller_id, kind, message_id, created_at)
    VALUES (NEW.seller_id, 'message_created', NEW.id, NEW.created_at);
END;
