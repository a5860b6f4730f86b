-- Migration 1: the initial schema of SqliteStore.
--
-- Conventions (see store/_codec.py): JSON values as TEXT, datetimes as REAL epoch seconds
-- (UTC), enums by value, booleans as 0/1. STRICT tables make SQLite reject a value of the
-- wrong type instead of storing it silently.
--
-- No foreign keys: the rows reference ids owned by the runtime (threads, turns, items) that
-- may be reported in any order, and every cascading change is an explicit mutation of a
-- batch (with its events), never a side effect of the schema.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT, WITHOUT ROWID;

-- The ledger's high-water mark. Kept apart from max(events.seq) because compaction may
-- delete the newest rows, and a seq must never be handed out twice.
CREATE TABLE ledger_state (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq INTEGER NOT NULL
) STRICT;
INSERT INTO ledger_state (id, last_seq) VALUES (1, 0);

CREATE TABLE events (
    seq       INTEGER PRIMARY KEY,
    type      TEXT NOT NULL,
    thread_id TEXT,
    payload   TEXT,
    at        REAL NOT NULL,
    item_id   TEXT,
    delta     INTEGER NOT NULL,
    system    INTEGER NOT NULL
) STRICT;
-- Replay for subscribers of some threads.
CREATE INDEX events_thread ON events (thread_id, seq);
-- Compaction: which items completed (a covering scan of this index, not of the table),
-- then their delta rows. Deliberately no index on `at`: every index costs every insert of
-- the hot path (~1 ms per 500 events each), and compaction is a rare maintenance write.
CREATE INDEX events_item ON events (item_id, type) WHERE item_id IS NOT NULL;

CREATE TABLE projects (
    project_id        TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    name_key          TEXT NOT NULL,  -- casefold(name): matching and sorting ignore case
    working_directory TEXT,
    created_at        REAL NOT NULL,
    updated_at        REAL NOT NULL
) STRICT;
CREATE INDEX projects_name ON projects (name_key, project_id);

CREATE TABLE sessions (
    session_id     TEXT PRIMARY KEY,
    title          TEXT NOT NULL,
    title_source   TEXT NOT NULL,
    cwd            TEXT,
    project_id     TEXT,
    archived       INTEGER NOT NULL,
    system_owned   INTEGER NOT NULL,
    materialized   INTEGER NOT NULL,
    status         TEXT NOT NULL,
    model          TEXT,
    preview        TEXT NOT NULL,
    created_at     REAL NOT NULL,
    updated_at     REAL NOT NULL,
    controls       TEXT NOT NULL,
    active_turn_id TEXT,
    last_turn_id   TEXT,
    dynamic_tools  TEXT NOT NULL
) STRICT;
-- Listing is newest first, keyset-paged on (updated_at, session_id): each query shape has
-- an index whose equality prefix matches its filters and whose tail gives the order, so a
-- page reads about `limit` rows and never sorts (tests/contract/test_sqlite_store.py checks
-- the plans).
-- The user's list: archived = ?, system_owned = 0.
CREATE INDEX sessions_listing ON sessions (archived, system_owned, updated_at, session_id);
-- archived = ?, system-owned sessions included.
CREATE INDEX sessions_archived ON sessions (archived, updated_at, session_id);
-- Neither flag pinned.
CREATE INDEX sessions_recent ON sessions (updated_at, session_id);
-- One project's sessions ("" = project_id IS NULL); project lists are short, so only the
-- usual shape (archived = ?, system_owned = 0) is covered without a sort.
CREATE INDEX sessions_project ON sessions (project_id, archived, system_owned, updated_at, session_id);

CREATE TABLE tombstones (
    session_id TEXT PRIMARY KEY,
    title      TEXT NOT NULL,
    deleted_at REAL NOT NULL
) STRICT;

CREATE TABLE default_controls (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    controls TEXT NOT NULL
) STRICT;

CREATE TABLE turns (
    turn_id      TEXT PRIMARY KEY,
    thread_id    TEXT NOT NULL,
    status       TEXT NOT NULL,
    started_at   REAL NOT NULL,
    completed_at REAL,
    final_text   TEXT,
    error        TEXT
) STRICT;
CREATE INDEX turns_thread ON turns (thread_id, started_at);

CREATE TABLE requests (
    request_id  TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    method      TEXT NOT NULL,
    generation  INTEGER NOT NULL,
    rpc_id      ANY NOT NULL,  -- JSON-RPC ids are ints or strings; ANY keeps which
    thread_id   TEXT,
    turn_id     TEXT,
    item_id     TEXT,
    params      TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_at  REAL NOT NULL,
    resolved_at REAL,
    resolution  TEXT,
    reason      TEXT,
    expires_at  REAL
) STRICT;
CREATE INDEX requests_thread ON requests (thread_id, status);
-- Start-up sweeps: open requests of earlier runtime generations.
CREATE INDEX requests_status ON requests (status, generation);

-- Entries keep the rowid of their first insertion (upserts never delete), which is their
-- position in the transcript.
CREATE TABLE transcript (
    thread_id      TEXT NOT NULL,
    message_id     TEXT NOT NULL,
    turn_id        TEXT NOT NULL,
    role           TEXT NOT NULL,
    type           TEXT NOT NULL,
    content        TEXT NOT NULL,
    status         TEXT NOT NULL,
    details        TEXT,
    started_at     REAL,
    completed_at   REAL,
    anchor_item_id TEXT,
    UNIQUE (thread_id, message_id)
) STRICT;
-- A thread's entries in position order without a sort.
CREATE INDEX transcript_thread ON transcript (thread_id);
