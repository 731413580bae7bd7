-- Portal users (people, not programs) and their login sessions.
CREATE TABLE users (
    id            BIGSERIAL PRIMARY KEY,
    email         TEXT   NOT NULL UNIQUE,       -- lower-cased
    name          TEXT   NOT NULL,
    password_hash TEXT   NOT NULL,              -- argon2id, PHC string
    seller_id     BIGINT REFERENCES sellers (id), -- a seller user; NULL: an operator user
    role          TEXT,                         -- operator users: customer-support, …, viewer
    created_at    BIGINT NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT   PRIMARY KEY,              -- SHA-256 of the cookie's token
    user_id    BIGINT NOT NULL REFERENCES users (id),
    expires_at BIGINT NOT NULL
);
