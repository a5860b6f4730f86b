"""Store adapters behind the Store port: SqliteStore (apsw, WAL) and MemoryStore."""

from codex_manager_core.store.memory import MemoryStore
from codex_manager_core.store.sqlite import SqliteStore

__all__ = ["MemoryStore", "SqliteStore"]
