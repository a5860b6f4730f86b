"""Store adapters: SqliteStore (apsw) and MemoryStore, behind the Store port."""
