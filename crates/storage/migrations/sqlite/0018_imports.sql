-- Import Customers: each import run, the tenants it imports and what became of each of their
-- subscriptions. A run reads the instance's snapshot and never asks Partner Center.
CREATE TABLE import_runs (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    marketplace_id       BIGINT NOT NULL REFERENCES marketplaces (id) ON DELETE CASCADE,
    instance_id          BIGINT NOT NULL REFERENCES partner_center_instances (id) ON DELETE CASCADE,
    -- The retrieval whose snapshot the run imports.
    snapshot             BIGINT NOT NULL,
    state                TEXT NOT NULL CHECK (state IN ('running', 'completed', 'failed')),
    job_id               BIGINT,
    started_by           TEXT NOT NULL,
    -- The user who started it, made the responsible user of the companies it creates.
    responsible_user_id  BIGINT,
    started_at           BIGINT NOT NULL,
    finished_at          BIGINT,
    error                TEXT
);
CREATE INDEX import_runs_marketplace ON import_runs (marketplace_id, id);

CREATE TABLE import_tenants (
    run_id                 BIGINT NOT NULL REFERENCES import_runs (id) ON DELETE CASCADE,
    tenant_id              TEXT NOT NULL,
    name                   TEXT NOT NULL,
    tab                    TEXT NOT NULL CHECK (tab IN ('direct', 'indirect', 'tenant-reseller')),
    -- The marketplace it is imported into: the run's, or the tenant reseller's that holds it.
    target_marketplace_id  BIGINT NOT NULL,
    status                 TEXT NOT NULL CHECK (status IN
                               ('pending', 'completed', 'completed-with-errors', 'failed')),
    company_id             BIGINT,
    company_created        BOOLEAN,
    -- What the results say of the tenant beside its subscriptions (JSON sentences).
    notes                  TEXT NOT NULL DEFAULT '[]',
    finished_at            BIGINT,
    PRIMARY KEY (run_id, tenant_id)
);
CREATE INDEX import_tenants_status ON import_tenants (run_id, status, tenant_id);
CREATE INDEX import_tenants_tab ON import_tenants (run_id, tab, lower(name), tenant_id);
CREATE INDEX import_tenants_tenant ON import_tenants (tenant_id, run_id);

-- A tenant waiting in a run is that run's: a second run cannot take it (the key decides).
CREATE TABLE import_claims (
    marketplace_id  BIGINT NOT NULL,
    instance_id     BIGINT NOT NULL,
    tenant_id       TEXT NOT NULL,
    run_id          BIGINT NOT NULL REFERENCES import_runs (id) ON DELETE CASCADE,
    PRIMARY KEY (marketplace_id, instance_id, tenant_id)
);
CREATE INDEX import_claims_run ON import_claims (run_id, tenant_id);

CREATE TABLE import_subscriptions (
    run_id                       BIGINT NOT NULL REFERENCES import_runs (id) ON DELETE CASCADE,
    tenant_id                    TEXT NOT NULL,
    subscription_id              TEXT NOT NULL,
    offer_id                     TEXT,
    offer_name                   TEXT,
    outcome                      TEXT NOT NULL CHECK (outcome IN ('imported', 'skipped', 'failed')),
    -- ALREADY_PRESENT, NOT_ACTIVE, OFFER_NOT_MAPPED, OFFER_AMBIGUOUS,
    -- AZURE_PLAN_REQUIRES_AZURE_MIGRATION.
    code                         TEXT,
    reason                       TEXT,
    marketplace_subscription_id  BIGINT,
    start_date                   TEXT,
    billing_start_date           TEXT,
    PRIMARY KEY (run_id, tenant_id, subscription_id)
);
CREATE INDEX import_subscriptions_failed ON import_subscriptions (run_id, outcome, offer_id);

-- What the import keeps of a new-commerce subscription: when its cancellation window closes,
-- and the end of the billing period Partner Center has invoiced (both as Partner Center wrote
-- them).
ALTER TABLE hierarchy_subscriptions ADD COLUMN cancellation_allowed_until TEXT;
ALTER TABLE hierarchy_subscriptions ADD COLUMN billing_cycle_end_date TEXT;

-- A reseller company's own MPN id: an indirect reseller's end customers are associated with
-- the company that has its MPN id.
ALTER TABLE companies ADD COLUMN mpn_id TEXT;
CREATE UNIQUE INDEX uq_companies_mpn_id ON companies (marketplace_id, mpn_id)
    WHERE mpn_id IS NOT NULL;
ALTER TABLE companies ADD COLUMN responsible_user_id BIGINT;
-- A tenant's companies in a marketplace, whichever instance links them.
CREATE INDEX tenant_links_tenant ON tenant_links (marketplace_id, tenant_id);
-- Partner Center writes subscription ids in either case.
CREATE INDEX subscriptions_vendor_lower
    ON subscriptions (marketplace_id, lower(vendor_subscription_id));

-- Tenant links keep tenant ids and domain prefixes in lower case, the prefix without
-- `.onmicrosoft.com` (datasets kept the whole domain).
UPDATE tenant_links SET domain_prefix = lower(CASE
        WHEN lower(domain_prefix) LIKE '%.onmicrosoft.com'
        THEN substr(domain_prefix, 1, length(domain_prefix) - 16)
        ELSE domain_prefix END)
    WHERE domain_prefix IS NOT NULL;
UPDATE tenant_links SET tenant_id = lower(tenant_id)
    WHERE tenant_id <> lower(tenant_id)
      AND NOT EXISTS (SELECT 1 FROM tenant_links o
                      WHERE o.marketplace_id = tenant_links.marketplace_id
                        AND o.instance_id = tenant_links.instance_id
                        AND o.tenant_id = lower(tenant_links.tenant_id));
