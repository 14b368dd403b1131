-- The company list filtered by status, in name order: the index gives both at once, instead of
-- walking the name index and passing over the companies of other statuses.
CREATE INDEX companies_status ON companies (marketplace_id, status, lower(name), id);
