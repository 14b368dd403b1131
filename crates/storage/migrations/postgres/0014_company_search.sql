-- Companies are found by any part of their name, external id, e-mail or website: a trigram
-- index (pg_trgm, a trusted extension) over those fields, lowered, which LIKE '%…%' uses.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX companies_search ON companies USING gin ((lower(
    name || ' ' || coalesce(external_id, '') || ' ' || coalesce(email, '') || ' '
    || coalesce(website, ''))) gin_trgm_ops);
