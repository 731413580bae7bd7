-- Operator API keys made with `key create --operator --admin` may call the provisioning
-- API (sellerUpsert, sellerApiKeyCreate, apiKeyRevoke, seller, apiKeys). Keys made before
-- stay plain operator keys. Only an operator key (no seller) can be an admin key.
ALTER TABLE api_keys ADD COLUMN admin BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_admin_is_operator CHECK (NOT admin OR seller_id IS NULL);
-- `apiKeys(sellerId:)` pages through one seller's keys by ID.
CREATE INDEX api_keys_by_seller ON api_keys (seller_id, id);
