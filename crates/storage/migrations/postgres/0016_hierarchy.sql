-- Get Hierarchy: each retrieval of an instance's tenants from Partner Center, and the snapshot
-- of resellers, tenants and subscriptions it stored. A mass retrieval fills a snapshot of its
-- own, which becomes the instance's current one only when the retrieval completes; a
-- single-tenant retrieval refreshes one tenant of the current snapshot.
CREATE TABLE hierarchy_runs (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    instance_id     BIGINT NOT NULL REFERENCES partner_center_instances (id) ON DELETE CASCADE,
    scope           TEXT NOT NULL CHECK (scope IN ('mass', 'tenant')),
    -- The tenant id or primary domain a single-tenant retrieval asked for.
    tenant          TEXT,
    state           TEXT NOT NULL CHECK (state IN ('running', 'completed', 'failed', 'cancelled')),
    job_id          BIGINT,
    -- The snapshot a single-tenant retrieval refreshes; a mass retrieval's is its own (NULL).
    snapshot        BIGINT,
    started_by      TEXT NOT NULL,
    started_at      BIGINT NOT NULL,
    finished_at     BIGINT,
    error           TEXT,
    -- What the retrieval could not read (an App-only instance reads no resellers).
    lacks           TEXT,
    -- Counts of the snapshot, and of what changed since the one before (JSON).
    summary         JSONB
);
-- One retrieval of an instance at a time, whichever process asks.
CREATE UNIQUE INDEX hierarchy_runs_running ON hierarchy_runs (instance_id) WHERE state = 'running';
CREATE INDEX hierarchy_runs_instance ON hierarchy_runs (instance_id, id);

-- The snapshot shown, and when the last mass retrieval completed (Last Update).
ALTER TABLE partner_center_instances ADD COLUMN snapshot_run_id BIGINT;
ALTER TABLE partner_center_instances ADD COLUMN hierarchy_updated_at BIGINT;

CREATE TABLE hierarchy_resellers (
    run_id     BIGINT NOT NULL REFERENCES hierarchy_runs (id) ON DELETE CASCADE,
    tenant_id  TEXT NOT NULL,
    name       TEXT,
    mpn_id     TEXT,
    location   TEXT,
    PRIMARY KEY (run_id, tenant_id)
);

CREATE TABLE hierarchy_tenants (
    run_id              BIGINT NOT NULL REFERENCES hierarchy_runs (id) ON DELETE CASCADE,
    tenant_id           TEXT NOT NULL,
    name                TEXT NOT NULL,
    domain              TEXT,
    -- The indirect reseller the tenant belongs to (its tenant id).
    reseller_tenant_id  TEXT,
    -- Set once the tenant's billing profile, domains and subscriptions are stored: where a
    -- retrieval that stopped carries on.
    details_fetched     BOOLEAN NOT NULL DEFAULT FALSE,
    email               TEXT,
    -- The billing profile as Partner Center gave it (JSON), none without delegated access.
    billing             JSONB,
    custom_domains      JSONB,
    PRIMARY KEY (run_id, tenant_id)
);
CREATE INDEX hierarchy_tenants_name ON hierarchy_tenants (run_id, lower(name), tenant_id);
CREATE INDEX hierarchy_tenants_pending ON hierarchy_tenants (run_id, details_fetched, tenant_id);

CREATE TABLE hierarchy_subscriptions (
    run_id                  BIGINT NOT NULL REFERENCES hierarchy_runs (id) ON DELETE CASCADE,
    tenant_id               TEXT NOT NULL,
    -- Lower-cased: Partner Center writes ids in either case.
    subscription_id         TEXT NOT NULL,
    offer_id                TEXT,
    offer_name              TEXT,
    product_type            TEXT,
    quantity                BIGINT,
    status                  TEXT,
    billing_cycle           TEXT,
    term                    TEXT,
    auto_renew              BOOLEAN,
    start_date              TEXT,
    end_date                TEXT,
    -- The reseller of record's MPN id (Partner Center's `partnerId`), none for direct sales.
    reseller_mpn_id         TEXT,
    parent_subscription_id  TEXT,
    PRIMARY KEY (run_id, tenant_id, subscription_id)
);

-- What a mass retrieval found changed since the snapshot before it, kept as its history.
CREATE TABLE hierarchy_changes (
    run_id           BIGINT NOT NULL REFERENCES hierarchy_runs (id) ON DELETE CASCADE,
    kind             TEXT NOT NULL,
    tenant_id        TEXT NOT NULL,
    subscription_id  TEXT,
    before_value     TEXT,
    after_value      TEXT
);
CREATE INDEX hierarchy_changes_run ON hierarchy_changes (run_id, kind, tenant_id);

-- The audit of the current snapshot against one marketplace: each tenant's standing and what
-- it rests on, stored so the tenant list filters and pages without computing anything.
CREATE TABLE tenant_audits (
    marketplace_id                BIGINT NOT NULL REFERENCES marketplaces (id) ON DELETE CASCADE,
    instance_id                   BIGINT NOT NULL REFERENCES partner_center_instances (id)
                                      ON DELETE CASCADE,
    tenant_id                     TEXT NOT NULL,
    name                          TEXT NOT NULL,
    domain                        TEXT,
    reseller_tenant_id            TEXT,
    status                        TEXT NOT NULL
                                      CHECK (status IN ('synced', 'out-of-sync', 'not-imported')),
    partner_center_subscriptions  BIGINT NOT NULL,
    marketplace_subscriptions     BIGINT NOT NULL,
    -- JSON: the related companies, the subscriptions missing on each side, those the import
    -- does not bring in, and the possible matches with their reasons.
    related                       JSONB NOT NULL,
    missing                       JSONB NOT NULL,
    extra                         JSONB NOT NULL,
    not_importable                JSONB NOT NULL,
    possible                      JSONB NOT NULL,
    audited_at                    BIGINT NOT NULL,
    PRIMARY KEY (marketplace_id, instance_id, tenant_id)
);
CREATE INDEX tenant_audits_name ON tenant_audits (marketplace_id, instance_id, lower(name), tenant_id);
CREATE INDEX tenant_audits_status
    ON tenant_audits (marketplace_id, instance_id, status, lower(name), tenant_id);
CREATE INDEX tenant_audits_reseller
    ON tenant_audits (marketplace_id, instance_id, reseller_tenant_id, lower(name), tenant_id);
-- Possible matches read the companies linked to no tenant.
CREATE INDEX tenant_links_company ON tenant_links (company_id);
-- The tenant list is searched by any part of a name, tenant id or domain: a trigram index over
-- one lowered text of those fields, which LIKE '%…%' uses.
CREATE INDEX tenant_audits_search ON tenant_audits
    USING gin ((lower(name || ' ' || tenant_id || ' ' || coalesce(domain, ''))) gin_trgm_ops);
