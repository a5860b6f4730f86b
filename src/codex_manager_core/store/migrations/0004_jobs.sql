-- Migration 4: the durable job queue (issue 9). One row per job; its transitions are
-- compare-and-set updates written in the same transaction as their events.
-- Columns follow `Job` (queue/model.py) in order; payload, result, progress and
-- running_context are JSON text.
CREATE TABLE jobs (
    job_id              TEXT PRIMARY KEY,
    type                TEXT NOT NULL,
    version             INTEGER NOT NULL,
    owner               TEXT NOT NULL,
    priority            TEXT NOT NULL,
    state               TEXT NOT NULL,
    payload             TEXT NOT NULL,
    created_at          REAL NOT NULL,
    source_session_id   TEXT,
    dedupe_key          TEXT,
    result              TEXT,
    error               TEXT,
    attempts            INTEGER NOT NULL,
    max_attempts        INTEGER NOT NULL,
    started_at          REAL,
    completed_at        REAL,
    last_attempt_at     REAL,
    next_attempt_at     REAL,
    cancel_requested_at REAL,
    running_context     TEXT,
    progress            TEXT
) STRICT;
-- An owner's jobs in a state (capacity checks, one running job per owner, its listing).
CREATE INDEX jobs_owner_state ON jobs (owner, state, created_at, job_id);
-- The queued (or running) jobs oldest first: what the scheduler chooses from.
CREATE INDEX jobs_state_created ON jobs (state, created_at, job_id);
-- Every job newest first: the unfiltered listing and its cursor.
CREATE INDEX jobs_created ON jobs (created_at, job_id);
