-- Tenant resellers: a simple tenant marketplace may carry the MPN id of one of its parent's
-- indirect resellers (set by the parent). The parent's tenant list then shows that
-- reseller's end customers as the tenant reseller's, to be imported into its marketplace.
ALTER TABLE marketplaces ADD COLUMN reseller_mpn_id TEXT;
-- One tenant reseller per reseller among the children of one parent.
CREATE UNIQUE INDEX marketplaces_reseller_mpn_id
    ON marketplaces (parent_id, reseller_mpn_id) WHERE reseller_mpn_id IS NOT NULL;

-- The tenant reseller holding an audited tenant (the simple tenant's marketplace id).
ALTER TABLE tenant_audits ADD COLUMN tenant_reseller_id BIGINT;
-- The tenant resellers' customers, few among many, in name order.
CREATE INDEX tenant_audits_tenant_reseller
    ON tenant_audits (marketplace_id, instance_id, lower(name), tenant_id)
    WHERE tenant_reseller_id IS NOT NULL;

-- An audit is written here a page at a time, then published into tenant_audits in one
-- statement: the list shows the whole previous audit until the new one is whole.
CREATE TABLE tenant_audits_staged (
    generation                    BIGINT NOT NULL,
    marketplace_id                BIGINT NOT NULL,
    instance_id                   BIGINT NOT NULL,
    tenant_id                     TEXT NOT NULL,
    name                          TEXT NOT NULL,
    domain                        TEXT,
    reseller_tenant_id            TEXT,
    tenant_reseller_id            BIGINT,
    status                        TEXT NOT NULL,
    partner_center_subscriptions  BIGINT NOT NULL,
    marketplace_subscriptions     BIGINT NOT NULL,
    related                       TEXT NOT NULL,
    missing                       TEXT NOT NULL,
    extra                         TEXT NOT NULL,
    not_importable                TEXT NOT NULL,
    possible                      TEXT NOT NULL,
    audited_at                    BIGINT NOT NULL,
    PRIMARY KEY (marketplace_id, instance_id, generation, tenant_id)
);
