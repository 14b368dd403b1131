-- Ferry's marketplace data (PRODUCT.md §2–§3), sign-in, API tokens, audit log and jobs.
-- Times are BIGINT milliseconds since the Unix epoch (UTC) on both backends.
-- Unique constraints are named uq_<table>_<key>: the storage layer turns a violation into an
-- error that names the key.

CREATE TABLE marketplaces (
    id          INTEGER PRIMARY KEY,
    slug        TEXT NOT NULL CONSTRAINT uq_marketplaces_slug UNIQUE,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('distributor', 'country_tenant', 'simple_tenant')),
    parent_id   BIGINT REFERENCES marketplaces (id),
    settings    TEXT NOT NULL DEFAULT '{}',
    created_at  BIGINT NOT NULL,
    CHECK ((kind = 'distributor') = (parent_id IS NULL))
);

CREATE TABLE platform_admins (
    id             INTEGER PRIMARY KEY,
    email          TEXT NOT NULL CONSTRAINT uq_platform_admins_email UNIQUE,
    password_hash  TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);

CREATE TABLE companies (
    id                INTEGER PRIMARY KEY,
    marketplace_id    BIGINT NOT NULL REFERENCES marketplaces (id),
    external_id       TEXT,
    name              TEXT NOT NULL,
    street1           TEXT, street2 TEXT, city TEXT, state TEXT, zip TEXT, country TEXT,
    billing_street1   TEXT, billing_street2 TEXT, billing_city TEXT, billing_state TEXT,
    billing_zip       TEXT, billing_country TEXT,
    phone             TEXT,
    email             TEXT,
    website           TEXT,
    allow_login       INTEGER NOT NULL DEFAULT 1,
    status            TEXT NOT NULL CHECK (status IN ('pending', 'active', 'suspended')),
    custom_attributes TEXT NOT NULL DEFAULT '{}',
    origin_kind       TEXT NOT NULL,
    origin_ref        BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    CONSTRAINT uq_companies_external_id UNIQUE (marketplace_id, external_id)
);
CREATE INDEX companies_name ON companies (marketplace_id, lower(name), id);

CREATE TABLE contacts (
    id          INTEGER PRIMARY KEY,
    company_id  BIGINT NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('primary', 'bill_to')),
    first_name  TEXT, last_name TEXT, email TEXT, phone TEXT,
    CONSTRAINT uq_contacts_kind UNIQUE (company_id, kind)
);

CREATE TABLE users (
    id                INTEGER PRIMARY KEY,
    marketplace_id    BIGINT NOT NULL REFERENCES marketplaces (id),
    external_id       TEXT,
    email             TEXT NOT NULL,
    first_name        TEXT, last_name TEXT, locale TEXT, phone TEXT,
    allow_login       INTEGER NOT NULL DEFAULT 1,
    status            TEXT NOT NULL CHECK (status IN ('created', 'invited', 'active', 'suspended')),
    password_hash     TEXT,
    custom_attributes TEXT NOT NULL DEFAULT '{}',
    origin_kind       TEXT NOT NULL,
    origin_ref        BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    CONSTRAINT uq_users_external_id UNIQUE (marketplace_id, external_id),
    CONSTRAINT uq_users_email UNIQUE (marketplace_id, email)
);

-- Marketplace-wide roles of staff (managers, support reps, resellers).
CREATE TABLE user_roles (
    user_id  BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role     TEXT NOT NULL CHECK (role IN ('marketplace-manager', 'sales-support', 'customer-support', 'reseller')),
    PRIMARY KEY (user_id, role)
);

CREATE TABLE memberships (
    user_id                   BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    company_id                BIGINT NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    company_admin             INTEGER NOT NULL DEFAULT 0,
    billing_admin             INTEGER NOT NULL DEFAULT 0,
    sales_support             INTEGER NOT NULL DEFAULT 0,
    restricted_sales_support  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, company_id)
);
CREATE INDEX memberships_company ON memberships (company_id);

-- A customer company and the reseller company that manages it.
CREATE TABLE reseller_associations (
    company_id           BIGINT PRIMARY KEY REFERENCES companies (id) ON DELETE CASCADE,
    reseller_company_id  BIGINT NOT NULL REFERENCES companies (id),
    CHECK (company_id <> reseller_company_id)
);

CREATE TABLE products (
    id              INTEGER PRIMARY KEY,
    marketplace_id  BIGINT NOT NULL REFERENCES marketplaces (id),
    name            TEXT NOT NULL,
    vendor          TEXT NOT NULL,
    CONSTRAINT uq_products_name UNIQUE (marketplace_id, name)
);

CREATE TABLE editions (
    id               INTEGER PRIMARY KEY,
    marketplace_id   BIGINT NOT NULL REFERENCES marketplaces (id),
    product_id       BIGINT NOT NULL REFERENCES products (id),
    code             TEXT NOT NULL,
    name             TEXT NOT NULL,
    pricing_plan_id  TEXT NOT NULL,
    channel_sku      TEXT,
    pricing_unit     TEXT NOT NULL,
    included_units   BIGINT NOT NULL DEFAULT 0 CHECK (included_units >= 0),
    billing_cycles   TEXT NOT NULL DEFAULT '[]',
    terms            TEXT NOT NULL DEFAULT '[]',
    connector        TEXT NOT NULL CHECK (connector IN ('none', 'webhook', 'microsoft')),
    active           INTEGER NOT NULL DEFAULT 1,
    CONSTRAINT uq_editions_code UNIQUE (product_id, code),
    CONSTRAINT uq_editions_pricing_plan_id UNIQUE (marketplace_id, pricing_plan_id),
    CONSTRAINT uq_editions_channel_sku UNIQUE (marketplace_id, channel_sku)
);

-- Microsoft offer ids an edition stands for. `active` mirrors the edition's, so that the
-- partial index keeps one active edition per offer id while retired mappings stay on record.
CREATE TABLE edition_offers (
    marketplace_id  BIGINT NOT NULL REFERENCES marketplaces (id),
    edition_id      BIGINT NOT NULL REFERENCES editions (id) ON DELETE CASCADE,
    offer_id        TEXT NOT NULL,
    active          INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (edition_id, offer_id)
);
CREATE UNIQUE INDEX uq_edition_offers_offer_id ON edition_offers (marketplace_id, offer_id) WHERE active = 1;

CREATE TABLE subscriptions (
    id                      INTEGER PRIMARY KEY,
    marketplace_id          BIGINT NOT NULL REFERENCES marketplaces (id),
    external_id             TEXT,
    company_id              BIGINT NOT NULL REFERENCES companies (id),
    edition_id              BIGINT NOT NULL REFERENCES editions (id),
    purchased_by            BIGINT REFERENCES users (id),
    units                   BIGINT NOT NULL CHECK (units >= 0),
    start_date              TEXT,
    billing_start_date      TEXT,
    end_date                TEXT,
    billing_cycle           TEXT,
    term                    TEXT,
    auto_renew              INTEGER NOT NULL DEFAULT 1,
    status                  TEXT NOT NULL CHECK (status IN ('pending', 'active', 'suspended', 'cancelled', 'failed')),
    vendor_subscription_id  TEXT,
    custom_attributes       TEXT NOT NULL DEFAULT '{}',
    origin_kind             TEXT NOT NULL,
    origin_ref              BIGINT,
    created_at              BIGINT NOT NULL,
    updated_at              BIGINT NOT NULL,
    CONSTRAINT uq_subscriptions_external_id UNIQUE (marketplace_id, external_id),
    CONSTRAINT uq_subscriptions_vendor_subscription_id UNIQUE (marketplace_id, vendor_subscription_id)
);
CREATE INDEX subscriptions_company ON subscriptions (company_id);

CREATE TABLE seat_assignments (
    subscription_id  BIGINT NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    user_id          BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (subscription_id, user_id)
);

-- One connection to Partner Center. Secrets are stored encrypted by the caller.
CREATE TABLE partner_center_instances (
    id                       INTEGER PRIMARY KEY,
    marketplace_id           BIGINT NOT NULL REFERENCES marketplaces (id),
    name                     TEXT NOT NULL,
    model                    TEXT NOT NULL CHECK (model IN ('direct', 'indirect', 'both')),
    partner_tenant_id        TEXT NOT NULL,
    application_id           TEXT NOT NULL,
    secret_encrypted         BLOB,
    refresh_token_encrypted  BLOB,
    mpn_id                   TEXT,
    api_base_url             TEXT NOT NULL,
    login_base_url           TEXT NOT NULL,
    created_at               BIGINT NOT NULL,
    CONSTRAINT uq_partner_center_instances_name UNIQUE (marketplace_id, name)
);

CREATE TABLE tenant_links (
    marketplace_id   BIGINT NOT NULL REFERENCES marketplaces (id),
    instance_id      BIGINT NOT NULL REFERENCES partner_center_instances (id),
    company_id       BIGINT NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    tenant_id        TEXT NOT NULL,
    domain_prefix    TEXT,
    reseller_mpn_id  TEXT,
    created_at       BIGINT NOT NULL,
    CONSTRAINT uq_tenant_links_tenant UNIQUE (marketplace_id, instance_id, tenant_id),
    CONSTRAINT uq_tenant_links_company UNIQUE (instance_id, company_id)
);

CREATE TABLE audit_log (
    id              INTEGER PRIMARY KEY,
    marketplace_id  BIGINT REFERENCES marketplaces (id),
    actor           TEXT NOT NULL,
    action          TEXT NOT NULL,
    entity_type     TEXT NOT NULL,
    entity_id       BIGINT,
    changes         TEXT NOT NULL DEFAULT '{}',
    at              BIGINT NOT NULL
);
CREATE INDEX audit_log_entity ON audit_log (entity_type, entity_id, id);

CREATE TABLE api_tokens (
    id              INTEGER PRIMARY KEY,
    marketplace_id  BIGINT NOT NULL REFERENCES marketplaces (id),
    name            TEXT NOT NULL,
    role            TEXT NOT NULL,
    token_hash      BLOB NOT NULL CONSTRAINT uq_api_tokens_token_hash UNIQUE,
    created_at      BIGINT NOT NULL,
    last_used_at    BIGINT,
    revoked_at      BIGINT
);

CREATE TABLE jobs (
    id                INTEGER PRIMARY KEY,
    marketplace_id    BIGINT REFERENCES marketplaces (id),
    kind              TEXT NOT NULL,
    payload           TEXT NOT NULL,
    state             TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    progress_done     BIGINT NOT NULL DEFAULT 0,
    progress_total    BIGINT,
    progress_message  TEXT,
    attempts          INTEGER NOT NULL DEFAULT 0,
    max_attempts      INTEGER NOT NULL,
    lease_owner       TEXT,
    lease_expires_at  BIGINT,
    checkpoint        TEXT,
    cancel_requested  INTEGER NOT NULL DEFAULT 0,
    last_error        TEXT,
    run_at            BIGINT NOT NULL,
    created_at        BIGINT NOT NULL,
    started_at        BIGINT,
    finished_at       BIGINT
);
-- Workers look for queued jobs that are due, and running jobs whose lease has lapsed.
CREATE INDEX jobs_claimable ON jobs (state, run_at, id) WHERE state IN ('queued', 'running');
