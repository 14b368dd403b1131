-- Company Sync (docs/company-sync.md): each marketplace's settings, its sync runs, and the
-- tenants waiting in its Pending Companies.
CREATE TABLE sync_settings (
    marketplace_id            BIGINT PRIMARY KEY REFERENCES marketplaces (id) ON DELETE CASCADE,
    company_sync              BOOLEAN NOT NULL,
    create_automatically      BOOLEAN NOT NULL,
    invite_admins             BOOLEAN NOT NULL,
    sales_support_pending     BOOLEAN NOT NULL,
    customer_support_pending  BOOLEAN NOT NULL,
    -- The instance followed; none: every instance the marketplace may use.
    instance_id               BIGINT REFERENCES partner_center_instances (id) ON DELETE SET NULL,
    interval_minutes          INTEGER NOT NULL CHECK (interval_minutes BETWEEN 5 AND 10080),
    updated_at                BIGINT NOT NULL,
    updated_by                TEXT NOT NULL
);

CREATE TABLE sync_runs (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    marketplace_id  BIGINT NOT NULL REFERENCES marketplaces (id) ON DELETE CASCADE,
    job_id          BIGINT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('running', 'completed', 'failed')),
    started_by      TEXT NOT NULL,
    started_at      BIGINT NOT NULL,
    finished_at     BIGINT,
    -- What it found: tenants read, newly pending, companies created for them, tenants found
    -- linked since, tenants gone from Partner Center.
    tenants         BIGINT NOT NULL DEFAULT 0,
    new_pending     BIGINT NOT NULL DEFAULT 0,
    created         BIGINT NOT NULL DEFAULT 0,
    linked          BIGINT NOT NULL DEFAULT 0,
    gone            BIGINT NOT NULL DEFAULT 0,
    error           TEXT,
    CONSTRAINT uq_sync_runs_job UNIQUE (job_id)
);
CREATE INDEX sync_runs_marketplace ON sync_runs (marketplace_id, id);

CREATE TABLE pending_companies (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    marketplace_id  BIGINT NOT NULL REFERENCES marketplaces (id) ON DELETE CASCADE,
    instance_id     BIGINT NOT NULL REFERENCES partner_center_instances (id) ON DELETE CASCADE,
    tenant_id       TEXT NOT NULL,
    name            TEXT NOT NULL,
    domain          TEXT,
    country         TEXT,
    contact_name    TEXT,
    contact_email   TEXT,
    state           TEXT NOT NULL CHECK (state IN
                        ('pending', 'dismissed', 'creating', 'created', 'linked')),
    -- Suggestions, best first (JSON: id, name, score, reasons), and the best score.
    suggestions     JSONB NOT NULL DEFAULT '[]',
    best_score      INTEGER,
    first_seen_at   BIGINT NOT NULL,
    first_run_id    BIGINT,
    -- When the tenant was last missing from Partner Center's list; none while it is there.
    gone_at         BIGINT,
    company_id      BIGINT REFERENCES companies (id) ON DELETE SET NULL,
    import_run_id   BIGINT REFERENCES import_runs (id) ON DELETE SET NULL,
    decided_by      TEXT,
    decided_at      BIGINT,
    CONSTRAINT uq_pending_companies_tenant UNIQUE (marketplace_id, instance_id, tenant_id)
);
CREATE INDEX pending_companies_list ON pending_companies (marketplace_id, state, lower(name), id);
CREATE INDEX pending_companies_import ON pending_companies (import_run_id)
    WHERE import_run_id IS NOT NULL;

-- Whether an import run invites the admin users of the companies it creates.
ALTER TABLE import_runs ADD COLUMN invite_admins BOOLEAN NOT NULL DEFAULT FALSE;
