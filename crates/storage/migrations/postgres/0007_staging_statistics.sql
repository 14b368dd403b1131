-- Staging tables are work space: Ferry refreshes their statistics itself when a dataset's rows
-- are staged, and vacuums them when a dataset's rows are removed. Autovacuum on them only
-- collided with those refreshes (an ANALYZE waits a second for autovacuum to give way).
ALTER TABLE stage_users SET (autovacuum_enabled = false);
ALTER TABLE stage_companies SET (autovacuum_enabled = false);
ALTER TABLE stage_memberships SET (autovacuum_enabled = false);
ALTER TABLE stage_reseller_associations SET (autovacuum_enabled = false);
ALTER TABLE stage_company_entitlements SET (autovacuum_enabled = false);
ALTER TABLE stage_user_entitlements SET (autovacuum_enabled = false);
ALTER TABLE stage_microsoft_customers SET (autovacuum_enabled = false);
ALTER TABLE stage_microsoft_subscriptions SET (autovacuum_enabled = false);
