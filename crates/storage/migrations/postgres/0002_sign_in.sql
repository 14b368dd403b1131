-- Sign-in sessions, invitation and password-reset links, sign-in throttling, and the outbox of
-- e-mail. Secrets (session ids, link tokens) are stored only as SHA-256 hashes.

CREATE TABLE sessions (
    id_hash         BYTEA PRIMARY KEY,
    subject_kind    TEXT NOT NULL CHECK (subject_kind IN ('platform_admin', 'user')),
    subject_id      BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL
);
CREATE INDEX sessions_subject ON sessions (subject_kind, subject_id);

CREATE TABLE user_links (
    token_hash  BYTEA PRIMARY KEY,
    user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose     TEXT NOT NULL CHECK (purpose IN ('invitation', 'password_reset')),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX user_links_user ON user_links (user_id);

-- Failed sign-ins per account (the e-mail address typed), to slow down password guessing.
CREATE TABLE sign_in_failures (
    account        TEXT PRIMARY KEY,
    failures       INTEGER NOT NULL,
    first_failure  BIGINT NOT NULL,
    locked_until   BIGINT
);

CREATE TABLE outbox (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    marketplace_id  BIGINT REFERENCES marketplaces (id),
    to_address      TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    sent_at         BIGINT,
    last_error      TEXT
);
CREATE INDEX outbox_marketplace ON outbox (marketplace_id, id);

CREATE INDEX jobs_marketplace ON jobs (marketplace_id, id);
-- Company search looks an address up whole.
CREATE INDEX companies_email ON companies (marketplace_id, lower(email));
