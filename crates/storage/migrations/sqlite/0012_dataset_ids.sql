-- no-transaction
-- A deleted dataset's id is never given to a new one, so an old link cannot open another
-- dataset: SQLite reuses the highest id of a table unless its key is AUTOINCREMENT, which
-- only a rebuilt table can be. Foreign keys are off while the table is swapped (the tables
-- that refer to datasets keep their rows), and the rebuild is one transaction; run again, it
-- rebuilds again.
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE datasets_new (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    marketplace_id      BIGINT NOT NULL REFERENCES marketplaces (id),
    kind                TEXT NOT NULL CHECK (kind IN ('migration', 'orders')),
    name                TEXT NOT NULL,
    state               TEXT NOT NULL CHECK (state IN ('created', 'validating', 'validated', 'activating', 'activated', 'activated_with_errors', 'upload_failed', 'denied', 'cancelled')),
    provision           INTEGER NOT NULL DEFAULT 0,
    review              INTEGER NOT NULL DEFAULT 0,
    created_by_user     BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_by_company  BIGINT REFERENCES companies (id) ON DELETE SET NULL,
    creator             TEXT NOT NULL,
    job_id              BIGINT REFERENCES jobs (id),
    plan                TEXT,
    failure             TEXT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    activated_at        BIGINT
);
INSERT INTO datasets_new SELECT * FROM datasets;
DROP TABLE datasets;
ALTER TABLE datasets_new RENAME TO datasets;
CREATE INDEX datasets_marketplace ON datasets (marketplace_id, id);
CREATE UNIQUE INDEX uq_datasets_validating ON datasets (marketplace_id) WHERE state IN ('created', 'validating');
COMMIT;
PRAGMA foreign_keys = ON;
