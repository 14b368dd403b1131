-- Periodic work: one schedule per (kind, scope) — Company Sync of one marketplace, say — with
-- the time its next run is due. Schedulers in any number of processes claim due rows with
-- FOR UPDATE SKIP LOCKED, queue the run as a job and move next_run_at on in one transaction,
-- so each due run is queued exactly once.
CREATE TABLE schedules (
    kind            TEXT NOT NULL,
    scope           TEXT NOT NULL,
    marketplace_id  BIGINT REFERENCES marketplaces (id) ON DELETE CASCADE,
    payload         JSONB NOT NULL,
    every_ms        BIGINT NOT NULL CHECK (every_ms > 0),
    max_attempts    INTEGER NOT NULL CHECK (max_attempts > 0),
    next_run_at     BIGINT NOT NULL,
    -- The job of the last run: while it is queued or running, no other run is queued.
    last_job_id     BIGINT REFERENCES jobs (id) ON DELETE SET NULL,
    CONSTRAINT pk_schedules PRIMARY KEY (kind, scope)
);
CREATE INDEX schedules_due ON schedules (next_run_at);
