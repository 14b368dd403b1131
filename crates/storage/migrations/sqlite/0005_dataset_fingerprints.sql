-- Fingerprints of imported rows, so re-running a dataset finds what is unchanged cheaply.
-- A staged row carries the hash of its values; a record keeps the hash of the row that last
-- wrote it, and loses it when anything else changes it.

ALTER TABLE stage_users ADD COLUMN row_hash TEXT;
ALTER TABLE stage_companies ADD COLUMN row_hash TEXT;
ALTER TABLE stage_memberships ADD COLUMN row_hash TEXT;
ALTER TABLE stage_reseller_associations ADD COLUMN row_hash TEXT;
ALTER TABLE stage_company_entitlements ADD COLUMN row_hash TEXT;
ALTER TABLE stage_user_entitlements ADD COLUMN row_hash TEXT;
ALTER TABLE stage_microsoft_customers ADD COLUMN row_hash TEXT;
ALTER TABLE stage_microsoft_subscriptions ADD COLUMN row_hash TEXT;

ALTER TABLE users ADD COLUMN import_hash TEXT;
ALTER TABLE companies ADD COLUMN import_hash TEXT;
ALTER TABLE memberships ADD COLUMN import_hash TEXT;
ALTER TABLE subscriptions ADD COLUMN import_hash TEXT;

-- Lookups of staged rows by key that also ask whether the row was rejected, answered from the
-- index alone. They replace the key indexes of 0004 (duplicates are now found by grouping on
-- these), and the e-mail index (e-mail addresses used twice are found the same way).
CREATE INDEX stage_users_ref ON stage_users (dataset_id, external_id, rejected);
CREATE INDEX stage_companies_ref ON stage_companies (dataset_id, external_id, rejected);
CREATE INDEX stage_memberships_ref ON stage_memberships (dataset_id, user_external_id, company_external_id, rejected);
CREATE INDEX stage_company_entitlements_ref ON stage_company_entitlements (dataset_id, external_id, rejected);
CREATE INDEX stage_microsoft_customers_ref ON stage_microsoft_customers (dataset_id, tenant_id, rejected);
DROP INDEX stage_users_key;
DROP INDEX stage_users_email;
DROP INDEX stage_companies_key;
DROP INDEX stage_memberships_key;
DROP INDEX stage_company_entitlements_key;
DROP INDEX stage_microsoft_customers_key;

-- Whether a record was last written by a given row, answered from the index alone.
CREATE INDEX users_import ON users (marketplace_id, external_id, import_hash);
CREATE INDEX companies_import ON companies (marketplace_id, external_id, import_hash);
CREATE INDEX subscriptions_import ON subscriptions (marketplace_id, external_id, import_hash);
CREATE INDEX memberships_import ON memberships (user_id, company_id, import_hash);
