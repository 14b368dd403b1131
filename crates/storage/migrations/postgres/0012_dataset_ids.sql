-- SQLite's migration of this number makes dataset ids never reused; PostgreSQL's sequences
-- never reuse one, so there is nothing to change here.
SELECT 1;
