-- Users are found by any part of their e-mail address, name or external id: a trigram index
-- (pg_trgm, installed by 0014) over one lowered text of those fields, which LIKE '%…%' uses.
CREATE INDEX users_search ON users USING gin ((lower(
    email || ' ' || coalesce(first_name, '') || ' ' || coalesce(last_name, '') || ' '
    || coalesce(external_id, ''))) gin_trgm_ops);
