-- What the last connection check of a Partner Center instance found.
ALTER TABLE partner_center_instances ADD COLUMN auth_state TEXT NOT NULL DEFAULT 'unchecked';
ALTER TABLE partner_center_instances ADD COLUMN auth_reason TEXT;
ALTER TABLE partner_center_instances ADD COLUMN checked_at BIGINT;
