-- Operator single sign-on with OpenID Connect (SPEC §11).
-- A user signed in through the identity provider is keyed by (issuer, subject): the
-- provider's stable ID of the person, never the e-mail address (which can change or be
-- reused). Both are NULL for users who never signed in that way.
ALTER TABLE users ADD COLUMN oidc_issuer TEXT;
ALTER TABLE users ADD COLUMN oidc_subject TEXT;
CREATE UNIQUE INDEX users_by_oidc_identity ON users (oidc_issuer, oidc_subject) WHERE oidc_subject IS NOT NULL;

-- Sign-ins sent to the identity provider and not yet come back. A row is consumed by the
-- callback (DELETE … RETURNING), so each state, nonce and PKCE verifier is used once, on
-- whichever node the callback lands; rows past `expires_at` are refused and purged.
CREATE TABLE sso_sign_ins (
    state_hash    TEXT    PRIMARY KEY,          -- SHA-256 of the `state` sent to the provider
    browser_hash  TEXT    NOT NULL,             -- SHA-256 of the cookie binding it to one browser
    nonce         TEXT    NOT NULL,             -- the ID token must carry it back
    pkce_verifier TEXT    NOT NULL,             -- proves to the token endpoint that we started it
    expires_at    INTEGER NOT NULL              -- Unix ms
);
CREATE INDEX sso_sign_ins_by_expiry ON sso_sign_ins (expires_at);
