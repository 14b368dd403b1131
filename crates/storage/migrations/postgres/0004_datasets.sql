-- Datasets (PRODUCT.md §4): what was uploaded, what validation found, and what activation did.
-- Files are kept in the database in chunks, so every worker can read them and deleting a
-- dataset removes them with it. Rows are staged in one table per data type (columns as in
-- the file, normalised text) so validation and activation are set-based SQL.

CREATE TABLE datasets (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    marketplace_id      BIGINT NOT NULL REFERENCES marketplaces (id),
    kind                TEXT NOT NULL CHECK (kind IN ('migration', 'orders')),
    name                TEXT NOT NULL,
    state               TEXT NOT NULL CHECK (state IN ('created', 'validating', 'validated', 'activating', 'activated', 'activated_with_errors', 'upload_failed', 'denied', 'cancelled')),
    provision           BOOLEAN NOT NULL DEFAULT FALSE,
    review              BOOLEAN NOT NULL DEFAULT FALSE,
    created_by_user     BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_by_company  BIGINT REFERENCES companies (id) ON DELETE SET NULL,
    creator             TEXT NOT NULL,
    job_id              BIGINT REFERENCES jobs (id),
    plan                TEXT,
    failure             TEXT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    activated_at        BIGINT
);
CREATE INDEX datasets_marketplace ON datasets (marketplace_id, id);
-- One dataset waits for or runs validation per marketplace at a time.
CREATE UNIQUE INDEX uq_datasets_validating ON datasets (marketplace_id) WHERE state IN ('created', 'validating');

CREATE TABLE dataset_files (
    dataset_id  BIGINT NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    data_type   TEXT NOT NULL,
    file_name   TEXT NOT NULL,
    encoding    TEXT NOT NULL,
    bytes       BIGINT NOT NULL,
    rows_read   BIGINT,
    PRIMARY KEY (dataset_id, data_type)
);

CREATE TABLE dataset_file_chunks (
    dataset_id  BIGINT NOT NULL,
    data_type   TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    data        BYTEA NOT NULL,
    PRIMARY KEY (dataset_id, data_type, seq),
    FOREIGN KEY (dataset_id, data_type) REFERENCES dataset_files (dataset_id, data_type) ON DELETE CASCADE
);

-- Errors and warnings, per row or per file (line 1 is the header).
CREATE TABLE dataset_findings (
    dataset_id   BIGINT NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    data_type    TEXT NOT NULL,
    line         BIGINT NOT NULL,
    external_id  TEXT,
    severity     TEXT NOT NULL CHECK (severity IN ('error', 'warning')),
    code         TEXT NOT NULL,
    column_name  TEXT,
    message      TEXT NOT NULL,
    value        TEXT
);
CREATE INDEX dataset_findings_line ON dataset_findings (dataset_id, data_type, line);

-- What a record looked like before a dataset updated it, so the dataset can be undone.
CREATE TABLE dataset_changes (
    dataset_id   BIGINT NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    entity_type  TEXT NOT NULL,
    entity_id    BIGINT NOT NULL,
    before       TEXT NOT NULL,
    PRIMARY KEY (dataset_id, entity_type, entity_id)
);

-- Links written by a dataset, so undo can find them (records carry origin_kind/origin_ref).
ALTER TABLE memberships ADD COLUMN origin_ref BIGINT;
ALTER TABLE reseller_associations ADD COLUMN origin_ref BIGINT;
ALTER TABLE seat_assignments ADD COLUMN origin_ref BIGINT;
ALTER TABLE tenant_links ADD COLUMN origin_ref BIGINT;

-- Staged rows: one table per data type. `rejected` marks a row a set-level check refused;
-- `outcome` is what activation did with it (created, updated, unchanged, skipped).
CREATE TABLE stage_users (
    dataset_id           BIGINT NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    line                 BIGINT NOT NULL,
    external_id          TEXT,
    email_address        TEXT,
    first_name           TEXT,
    last_name            TEXT,
    phone                TEXT,
    locale               TEXT,
    is_allow_login_user  TEXT,
    custom               TEXT,
    rejected             BOOLEAN NOT NULL DEFAULT FALSE,
    outcome              TEXT,
    PRIMARY KEY (dataset_id, line)
);
CREATE INDEX stage_users_key ON stage_users (dataset_id, external_id, line);
CREATE INDEX stage_users_email ON stage_users (dataset_id, email_address, line);
CREATE TABLE stage_companies (
    dataset_id              BIGINT NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    line                    BIGINT NOT NULL,
    external_id             TEXT,
    name                    TEXT,
    street1                 TEXT,
    street2                 TEXT,
    city                    TEXT,
    state                   TEXT,
    zip                     TEXT,
    country                 TEXT,
    phone                   TEXT,
    email                   TEXT,
    website                 TEXT,
    billing_street1         TEXT,
    billing_street2         TEXT,
    billing_city            TEXT,
    billing_state           TEXT,
    billing_zip             TEXT,
    billing_country         TEXT,
    created_by_external_id  TEXT,
    allow_login             TEXT,
    custom                  TEXT,
    rejected                BOOLEAN NOT NULL DEFAULT FALSE,
    outcome                 TEXT,
    PRIMARY KEY (dataset_id, line)
);
CREATE INDEX stage_companies_key ON stage_companies (dataset_id, external_id, line);
CREATE TABLE stage_memberships (
    dataset_id                BIGINT NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    line                      BIGINT NOT NULL,
    user_external_id          TEXT,
    company_external_id       TEXT,
    sys_admin                 TEXT,
    billing_admin             TEXT,
    sales_support             TEXT,
    restricted_sales_support  TEXT,
    custom                    TEXT,
    rejected                  BOOLEAN NOT NULL DEFAULT FALSE,
    outcome                   TEXT,
    PRIMARY KEY (dataset_id, line)
);
CREATE INDEX stage_memberships_key ON stage_memberships (dataset_id, user_external_id, company_external_id, line);
CREATE TABLE stage_reseller_associations (
    dataset_id                    BIGINT NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    line                          BIGINT NOT NULL,
    company_external_id           TEXT,
    reseller_company_external_id  TEXT,
    custom                        TEXT,
    rejected                      BOOLEAN NOT NULL DEFAULT FALSE,
    outcome                       TEXT,
    PRIMARY KEY (dataset_id, line)
);
CREATE INDEX stage_reseller_associations_key ON stage_reseller_associations (dataset_id, company_external_id, line);
CREATE TABLE stage_company_entitlements (
    dataset_id                BIGINT NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    line                      BIGINT NOT NULL,
    external_id               TEXT,
    company_external_id       TEXT,
    purchased_by_external_id  TEXT,
    edition_pricing_uuid      TEXT,
    channel_sku               TEXT,
    edition_code              TEXT,
    pricing_unit              TEXT,
    units                     TEXT,
    start_date                TEXT,
    end_date                  TEXT,
    billing_cycle             TEXT,
    term                      TEXT,
    auto_renew                TEXT,
    order_status              TEXT,
    vendor_entitlement_id     TEXT,
    billed_until              TEXT,
    custom                    TEXT,
    rejected                  BOOLEAN NOT NULL DEFAULT FALSE,
    outcome                   TEXT,
    PRIMARY KEY (dataset_id, line)
);
CREATE INDEX stage_company_entitlements_key ON stage_company_entitlements (dataset_id, external_id, line);
CREATE TABLE stage_user_entitlements (
    dataset_id                       BIGINT NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    line                             BIGINT NOT NULL,
    user_external_id                 TEXT,
    company_entitlement_external_id  TEXT,
    custom                           TEXT,
    rejected                         BOOLEAN NOT NULL DEFAULT FALSE,
    outcome                          TEXT,
    PRIMARY KEY (dataset_id, line)
);
CREATE INDEX stage_user_entitlements_key ON stage_user_entitlements (dataset_id, user_external_id, company_entitlement_external_id, line);
CREATE TABLE stage_microsoft_customers (
    dataset_id           BIGINT NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    line                 BIGINT NOT NULL,
    tenant_id            TEXT,
    company_external_id  TEXT,
    domain               TEXT,
    country              TEXT,
    reseller_mpn_id      TEXT,
    custom               TEXT,
    rejected             BOOLEAN NOT NULL DEFAULT FALSE,
    outcome              TEXT,
    PRIMARY KEY (dataset_id, line)
);
CREATE INDEX stage_microsoft_customers_key ON stage_microsoft_customers (dataset_id, tenant_id, line);
CREATE TABLE stage_microsoft_subscriptions (
    dataset_id                       BIGINT NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    line                             BIGINT NOT NULL,
    subscription_id                  TEXT,
    tenant_id                        TEXT,
    company_entitlement_external_id  TEXT,
    offer_id                         TEXT,
    custom                           TEXT,
    rejected                         BOOLEAN NOT NULL DEFAULT FALSE,
    outcome                          TEXT,
    PRIMARY KEY (dataset_id, line)
);
CREATE INDEX stage_microsoft_subscriptions_key ON stage_microsoft_subscriptions (dataset_id, subscription_id, line);
