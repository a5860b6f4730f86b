"""`SqliteStore`: the Store port on SQLite (apsw, WAL), one module per concern.

- `store`: the `SqliteStore` class (connections, the single writer, read plumbing);
- one module per domain with its SQL: `projects`, `sessions` (with tombstones and the
  default controls), `turns`, `requests`, `transcript`, `meta`, `ledger`, `jobs`; each holds the
  reads of its domain and `COMPILERS`, what its mutations compile to;
- `migrations` (the schema version table; the scripts are in `store/migrations/`),
  `checkpoints` (the WAL checkpointer thread), `unavailable` (which errors mean the storage
  cannot take writes), `sql` (helpers they share).

A new domain adds its module here and one line to `store.COMPILERS`.
"""

from codex_manager_core.store.sqlite.checkpoints import WAL_SIZE_LIMIT
from codex_manager_core.store.sqlite.ledger import events_sql
from codex_manager_core.store.sqlite.migrations import MIGRATIONS, SCHEMA_VERSION
from codex_manager_core.store.sqlite.sessions import sessions_sql
from codex_manager_core.store.sqlite.store import SqliteStore
from codex_manager_core.store.sqlite.unavailable import UNAVAILABLE_ERRORS, describe_unavailable

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "UNAVAILABLE_ERRORS",
    "WAL_SIZE_LIMIT",
    "SqliteStore",
    "describe_unavailable",
    "events_sql",
    "sessions_sql",
]
