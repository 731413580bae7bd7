-- Sessions end after idle time (`last_used_at`, written at most once a minute) and are
-- purged; users.role may only hold a known role (NULL for seller users, and for an
-- operator user who may not log in).
-- A role nobody knows gave full rights before; now it gives none (NULL: cannot log in).
UPDATE users SET role = NULL
WHERE role NOT IN ('customer-support', 'marketing', 'finance', 'webmaster', 'full-admin', 'viewer');
ALTER TABLE users ADD CONSTRAINT users_role_known CHECK (role IS NULL OR role IN
    ('customer-support', 'marketing', 'finance', 'webmaster', 'full-admin', 'viewer'));

-- Sessions open at the upgrade count as used then.
ALTER TABLE sessions ADD COLUMN last_used_at BIGINT NOT NULL
    DEFAULT (extract(epoch FROM now()) * 1000)::BIGINT;
ALTER TABLE sessions ALTER COLUMN last_used_at DROP DEFAULT;
CREATE INDEX sessions_by_user ON sessions (user_id, expires_at);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
CREATE INDEX sessions_by_last_use ON sessions (last_used_at);
