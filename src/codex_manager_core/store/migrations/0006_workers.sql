-- Migration 6: worker sessions (issue 9). Which hidden session is the worker of each
-- (owner, agent) pair, so that later jobs (and a restarted manager) reuse it.
-- Columns follow `WorkerRecord` (ports/store/workers.py) in order.
CREATE TABLE workers (
    owner       TEXT NOT NULL,
    agent       TEXT NOT NULL,
    session_id  TEXT NOT NULL,
    created_at  REAL NOT NULL,
    PRIMARY KEY (owner, agent)
) STRICT;
