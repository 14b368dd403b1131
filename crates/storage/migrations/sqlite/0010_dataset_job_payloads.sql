-- A dataset job's payload names its marketplace as well as its dataset, so the job is read
-- whole from its payload. Jobs queued before this carry the marketplace on their row only.
UPDATE jobs
SET payload = json_set(payload, '$.marketplace_id', marketplace_id)
WHERE kind IN ('dataset.validate', 'dataset.activate', 'dataset.provision')
  AND marketplace_id IS NOT NULL
  AND json_extract(payload, '$.marketplace_id') IS NULL;
