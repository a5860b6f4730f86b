"""The schema of SqliteStore: the migration scripts shipped in `store/migrations`
(`NNNN_name.sql`, numbered 1..N) and the version table that says which have run."""

from __future__ import annotations

import importlib.resources
import re
from pathlib import Path

import apsw

from codex_manager_core.ports.store.errors import StoreCorrupt

_MIGRATION_FILE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def load_migrations() -> dict[int, str]:
    """The migration scripts shipped in `store/migrations`, by version number (1..N)."""
    found: dict[int, str] = {}
    package = importlib.resources.files("codex_manager_core.store.migrations")
    for entry in package.iterdir():
        match = _MIGRATION_FILE.match(entry.name)
        if match:
            number = int(match.group(1))
            if number in found:
                # Two branches that each added migration N: one would be skipped silently.
                raise RuntimeError(f"two store migrations are numbered {number:04d}")
            found[number] = entry.read_text(encoding="utf-8")
    if sorted(found) != list(range(1, len(found) + 1)):
        raise RuntimeError(f"store migrations are not numbered 1..N: {sorted(found)}")
    return found


MIGRATIONS = load_migrations()
SCHEMA_VERSION = max(MIGRATIONS)
"""The schema version this code creates and understands."""


def migrate(conn: apsw.Connection, path: Path) -> None:
    """Bring the schema to SCHEMA_VERSION, one transaction per migration."""
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = schema_version(conn, path)
            if version > SCHEMA_VERSION:
                raise StoreCorrupt(
                    f"{path} has schema version {version}, newer than the version "
                    f"this codex-manager knows ({SCHEMA_VERSION}); upgrade codex-manager "
                    "(or use another data directory)"
                )
            if version == SCHEMA_VERSION:
                conn.execute("COMMIT")
                return
            conn.execute(MIGRATIONS[version + 1])
            conn.execute("UPDATE schema_version SET version = ?", (version + 1,))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise


def schema_version(conn: apsw.Connection, path: Path) -> int:
    tables = {
        str(row[0]) for row in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")
    }
    if "schema_version" not in tables:
        foreign = sorted(t for t in tables if not t.startswith("sqlite_"))
        if foreign:
            raise StoreCorrupt(
                f"{path} is a SQLite database but not a codex-manager store "
                f"(it has tables {foreign[:5]} and no schema_version)"
            )
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL) STRICT")
        conn.execute("INSERT INTO schema_version (version) VALUES (0)")
    rows = conn.execute("SELECT version FROM schema_version").fetchall()
    if len(rows) != 1 or not isinstance(rows[0][0], int):
        raise StoreCorrupt(f"{path}: schema_version must hold one integer row")
    return int(rows[0][0])
