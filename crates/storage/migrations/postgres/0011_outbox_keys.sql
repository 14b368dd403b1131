-- A message that must go once only (an invitation of a bulk-invitation job, say) carries a key;
-- a second message with the same key is not stored, however often the job that writes it runs.
ALTER TABLE outbox ADD COLUMN once_key TEXT;
CREATE UNIQUE INDEX outbox_once_key ON outbox (once_key);
