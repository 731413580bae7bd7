-- Embedded seller chat (SPEC §11): the marketplace's back end mints single-use sign-in
-- tokens for its own seller users; redeeming one creates (or refreshes) a seller user
-- keyed by (seller, the marketplace's user ID) and opens a bearer session for the embed.
--
-- users: such a user has no password (`password_hash` NULL) and its e-mail address is a
-- contact address, not a login, so it need not be unique: the e-mail is unique only among
-- the users without `external_id` (those who log in with it). sessions: `kind` tells a
-- portal cookie session from an embed bearer session, so neither is accepted as the other.
-- SQLite changes NOT NULL and UNIQUE only by rebuilding the table, and `users` is the
-- parent of `sessions`: sessions are set aside first, so dropping the old `users`
-- orphans nothing. The AUTOINCREMENT high-water mark is carried over (IDs are never reused).
CREATE TABLE sessions_kept AS SELECT token_hash, user_id, expires_at, last_used_at FROM sessions;
DROP TABLE sessions;
CREATE TABLE users_kept AS SELECT id, email, name, password_hash, seller_id, role, created_at, disabled_at FROM users;
CREATE TABLE users_sequence_kept AS SELECT seq FROM sqlite_sequence WHERE name = 'users';
DROP TABLE users;

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT,                         -- lower-cased; the login of a password user
    name          TEXT    NOT NULL,
    password_hash TEXT,                         -- argon2id, PHC string; NULL: no password login
    seller_id     INTEGER REFERENCES sellers (id), -- a seller user; NULL: an operator user
    role          TEXT CHECK (role IS NULL OR role IN
                      ('customer-support', 'marketing', 'finance', 'webmaster', 'full-admin', 'viewer')),
    created_at    INTEGER NOT NULL,
    disabled_at   INTEGER,
    external_id   TEXT,                         -- an embedded seller user: the marketplace's user ID
    CHECK (external_id IS NULL OR (seller_id IS NOT NULL AND password_hash IS NULL))
);
INSERT INTO users (id, email, name, password_hash, seller_id, role, created_at, disabled_at)
SELECT id, email, name, password_hash, seller_id, role, created_at, disabled_at FROM users_kept;
DROP TABLE users_kept;
UPDATE sqlite_sequence SET seq = MAX(seq, COALESCE((SELECT seq FROM users_sequence_kept), 0)) WHERE name = 'users';
INSERT INTO sqlite_sequence (name, seq)
SELECT 'users', seq FROM users_sequence_kept WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'users');
DROP TABLE users_sequence_kept;
-- Logins: one user per e-mail address among those who log in with one.
CREATE UNIQUE INDEX users_by_login_email ON users (email) WHERE external_id IS NULL;
-- Embedded seller users: one per (seller, the marketplace's user ID).
CREATE UNIQUE INDEX users_by_external_id ON users (seller_id, external_id) WHERE external_id IS NOT NULL;

CREATE TABLE sessions (
    token_hash   TEXT    PRIMARY KEY,           -- SHA-256 of the session token
    user_id      INTEGER NOT NULL REFERENCES users (id),
    expires_at   INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL,              -- Unix ms; idle sessions end
    kind         TEXT    NOT NULL DEFAULT 'portal' CHECK (kind IN ('portal', 'embed'))
);
INSERT INTO sessions (token_hash, user_id, expires_at, last_used_at)
SELECT token_hash, user_id, expires_at, last_used_at FROM sessions_kept;
DROP TABLE sessions_kept;
CREATE INDEX sessions_by_user ON sessions (user_id, expires_at);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
CREATE INDEX sessions_by_last_use ON sessions (last_used_at);

-- Sign-in tokens (stored only as SHA-256 hashes): who is signed in when one is redeemed.
-- Redeeming sets `used_at` in the statement that checks it is unset and unexpired, so a
-- token opens at most one session however many nodes see it at once.
CREATE TABLE seller_sign_ins (
    token_hash       TEXT    PRIMARY KEY,
    seller_id        INTEGER NOT NULL REFERENCES sellers (id),
    user_external_id TEXT    NOT NULL,
    user_name        TEXT    NOT NULL,
    user_email       TEXT,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    used_at          INTEGER
);
-- The purge of expired tokens.
CREATE INDEX seller_sign_ins_by_expiry ON seller_sign_ins (expires_at);
