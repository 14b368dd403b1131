-- User Sync (docs/user-sync.md): its settings beside Company Sync's, where each synced user
-- comes from, and each run with the conflicts it found.
ALTER TABLE sync_settings ADD COLUMN user_sync_partner_center BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE sync_settings ADD COLUMN user_sync_google BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE sync_settings ADD COLUMN user_interval_minutes INTEGER NOT NULL DEFAULT 60
    CHECK (user_interval_minutes BETWEEN 5 AND 10080);
-- Registration reminders: since when they are on (none: off). A migrated user who has not
-- registered is reminded once, two days after they were created or after this, whichever
-- is later.
ALTER TABLE sync_settings ADD COLUMN reminders_since BIGINT;
ALTER TABLE users ADD COLUMN reminded_at BIGINT;

-- A user as its source knows it: the directory's id of the user (Entra object id) in one
-- tenant. A renamed e-mail at the source updates the same user.
CREATE TABLE user_sources (
    marketplace_id     BIGINT NOT NULL REFERENCES marketplaces (id) ON DELETE CASCADE,
    tenant_id          TEXT NOT NULL,
    source_id          TEXT NOT NULL,
    user_id            BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Set when User Sync suspended the user (gone or inactive at the source): only then does
    -- the user's return reactivate them; the status they had before.
    suspended_by_sync  TEXT,
    CONSTRAINT pk_user_sources PRIMARY KEY (marketplace_id, tenant_id, source_id)
);
CREATE INDEX user_sources_user ON user_sources (user_id);

CREATE TABLE user_sync_runs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    marketplace_id  BIGINT NOT NULL REFERENCES marketplaces (id) ON DELETE CASCADE,
    job_id          BIGINT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('running', 'completed', 'failed')),
    started_at      BIGINT NOT NULL,
    finished_at     BIGINT,
    companies       BIGINT NOT NULL DEFAULT 0,
    created         BIGINT NOT NULL DEFAULT 0,
    updated         BIGINT NOT NULL DEFAULT 0,
    suspended       BIGINT NOT NULL DEFAULT 0,
    reactivated     BIGINT NOT NULL DEFAULT 0,
    conflicts       BIGINT NOT NULL DEFAULT 0,
    -- What it could not do, in sentences (an App-only instance cannot list users).
    notes           TEXT NOT NULL DEFAULT '[]',
    error           TEXT,
    CONSTRAINT uq_user_sync_runs_job UNIQUE (job_id)
);
CREATE INDEX user_sync_runs_marketplace ON user_sync_runs (marketplace_id, id);

-- A source user whose e-mail another user of the marketplace already has: reported with both
-- sides, never merged.
CREATE TABLE user_sync_conflicts (
    run_id          BIGINT NOT NULL REFERENCES user_sync_runs (id) ON DELETE CASCADE,
    tenant_id       TEXT NOT NULL,
    source_id       TEXT NOT NULL,
    email           TEXT NOT NULL,
    source_name     TEXT,
    company_id      BIGINT NOT NULL,
    existing_user_id BIGINT NOT NULL,
    CONSTRAINT pk_user_sync_conflicts PRIMARY KEY (run_id, tenant_id, source_id)
);
