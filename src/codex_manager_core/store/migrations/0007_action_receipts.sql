-- Migration 7: receipts of idempotent actions (issue 9, actions/executor.py). One row per
-- idempotency key: the fingerprint of what was asked and the ActionResult given (JSON).
CREATE TABLE action_receipts (
    key         TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    result      TEXT NOT NULL,
    created_at  REAL NOT NULL
) STRICT;
