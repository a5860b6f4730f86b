-- Migration 8: the audit of extension loads and reloads (issue 10, services/extensions.py).
-- One row per attempt; bounded by the writer (the newest N kept, ManagerConfig).
CREATE TABLE extension_audit (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    reload_id           TEXT NOT NULL,
    recorded_at         REAL NOT NULL,
    actor_role          TEXT NOT NULL,
    actor_id            TEXT NOT NULL,
    result              TEXT NOT NULL,
    trust_mode          TEXT NOT NULL,
    request_origin      TEXT NOT NULL,
    snapshot_before     TEXT,
    snapshot_after      TEXT,
    error_summary       TEXT,
    impacted_extensions TEXT NOT NULL
) STRICT;
