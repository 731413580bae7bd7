-- Portal users can be disabled (they cannot log in and their sessions end); sellers can
-- carry the marketplace's own ID (`externalId`, unique when given).
ALTER TABLE users ADD COLUMN disabled_at INTEGER;
ALTER TABLE sellers ADD COLUMN external_id TEXT;
CREATE UNIQUE INDEX sellers_by_external_id ON sellers (external_id) WHERE external_id IS NOT NULL;
