-- Embedded seller chat (SPEC §11): the marketplace's back end mints single-use sign-in
-- tokens for its own seller users; redeeming one creates (or refreshes) a seller user
-- keyed by (seller, the marketplace's user ID) and opens a bearer session for the embed.
--
-- users: such a user has no password (`password_hash` NULL) and its e-mail address is a
-- contact address, not a login, so it need not be unique: the e-mail is unique only among
-- the users without `external_id` (those who log in with it). sessions: `kind` tells a
-- portal cookie session from an embed bearer session, so neither is accepted as the other.
ALTER TABLE users ALTER COLUMN email DROP NOT NULL;
ALTER TABLE users ALTER COLUMN password_hash DROP NOT NULL;
ALTER TABLE users ADD COLUMN external_id TEXT;
ALTER TABLE users ADD CONSTRAINT users_external_has_seller_and_no_password
    CHECK (external_id IS NULL OR (seller_id IS NOT NULL AND password_hash IS NULL));
ALTER TABLE users DROP CONSTRAINT users_email_key;
-- Logins: one user per e-mail address among those who log in with one.
CREATE UNIQUE INDEX users_by_login_email ON users (email) WHERE external_id IS NULL;
-- Embedded seller users: one per (seller, the marketplace's user ID).
CREATE UNIQUE INDEX users_by_external_id ON users (seller_id, external_id) WHERE external_id IS NOT NULL;

ALTER TABLE sessions ADD COLUMN kind TEXT NOT NULL DEFAULT 'portal'
    CONSTRAINT sessions_kind_known CHECK (kind IN ('portal', 'embed'));

-- Sign-in tokens (stored only as SHA-256 hashes): who is signed in when one is redeemed.
-- Redeeming sets `used_at` in the statement that checks it is unset and unexpired, so a
-- token opens at most one session however many nodes see it at once.
CREATE TABLE seller_sign_ins (
    token_hash       TEXT   PRIMARY KEY,
    seller_id        BIGINT NOT NULL REFERENCES sellers (id),
    user_external_id TEXT   NOT NULL,
    user_name        TEXT   NOT NULL,
    user_email       TEXT,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    used_at          BIGINT
);
-- The purge of expired tokens.
CREATE INDEX seller_sign_ins_by_expiry ON seller_sign_ins (expires_at);
