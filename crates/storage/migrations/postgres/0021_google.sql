-- User Sync from Google Workspace (docs/user-sync.md): a marketplace's Google connection and
-- which Workspace customer each company is.

-- A service account's JSON key, sealed with the secret key, and the Workspace admin it acts
-- as; with what the last check of the connection found.
CREATE TABLE google_connections (
    marketplace_id   BIGINT PRIMARY KEY REFERENCES marketplaces (id) ON DELETE CASCADE,
    client_email     TEXT NOT NULL,
    admin_email      TEXT NOT NULL,
    key_encrypted    BYTEA NOT NULL,
    api_url          TEXT NOT NULL,
    token_url        TEXT NOT NULL,
    updated_at       BIGINT NOT NULL,
    updated_by       TEXT NOT NULL,
    checked_at       BIGINT,
    -- Why the last check failed, in Google's words; none when it worked.
    check_error      TEXT
);

-- A company's Google Workspace customer: its customer id or its primary domain.
CREATE TABLE company_google (
    company_id       BIGINT PRIMARY KEY REFERENCES companies (id) ON DELETE CASCADE,
    marketplace_id   BIGINT NOT NULL REFERENCES marketplaces (id) ON DELETE CASCADE,
    customer_id      TEXT,
    domain           TEXT,
    CONSTRAINT ck_company_google_one CHECK ((customer_id IS NULL) <> (domain IS NULL))
);
CREATE INDEX company_google_marketplace ON company_google (marketplace_id, company_id);
