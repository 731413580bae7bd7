-- Sessions end after idle time (`last_used_at`, written at most once a minute) and are
-- purged; users.role may only hold a known role (NULL for seller users, and for an
-- operator user who may not log in). SQLite adds a CHECK only by rebuilding the table,
-- and `users` is the parent of `sessions`: sessions are set aside first, so dropping the
-- old `users` orphans nothing, then rebuilt with the new column.
CREATE TABLE sessions_kept AS SELECT token_hash, user_id, expires_at FROM sessions;
DROP TABLE sessions;

CREATE TABLE users_rebuilt (
    id            INTEGER PRIMARY KEY,
    email         TEXT    NOT NULL UNIQUE,      -- lower-cased
    name          TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,             -- argon2id, PHC string
    seller_id     INTEGER REFERENCES sellers (id), -- a seller user; NULL: an operator user
    role          TEXT CHECK (role IS NULL OR role IN
                      ('customer-support', 'marketing', 'finance', 'webmaster', 'full-admin', 'viewer')),
    created_at    INTEGER NOT NULL
);
-- A role nobody knows gave full rights before; now it gives none (NULL: cannot log in).
INSERT INTO users_rebuilt (id, email, name, password_hash, seller_id, role, created_at)
SELECT id, email, name, password_hash, seller_id,
       CASE WHEN role IN ('customer-support', 'marketing', 'finance', 'webmaster', 'full-admin', 'viewer') THEN role END,
       created_at
FROM users;
DROP TABLE users;
ALTER TABLE users_rebuilt RENAME TO users;

CREATE TABLE sessions (
    token_hash   TEXT    PRIMARY KEY,           -- SHA-256 of the cookie's token
    user_id      INTEGER NOT NULL REFERENCES users (id),
    expires_at   INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL               -- Unix ms; idle sessions end
);
-- Sessions open at the upgrade count as used then.
INSERT INTO sessions (token_hash, user_id, expires_at, last_used_at)
SELECT token_hash, user_id, expires_at, CAST(strftime('%s', 'now') AS INTEGER) * 1000 FROM sessions_kept;
DROP TABLE sessions_kept;
CREATE INDEX sessions_by_user ON sessions (user_id, expires_at);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
CREATE INDEX sessions_by_last_use ON sessions (last_used_at);
