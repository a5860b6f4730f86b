"""SqliteStore, domain "extension_audit": the `extension_audit` table (migration 8)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import apsw

from codex_manager_core.ports.store.extension_audit import AuditRecord, PutAuditRecord
from codex_manager_core.store.extension_audit_rows import COLUMNS, decode, encode
from codex_manager_core.store.sqlite.sql import Op


def compile_put(mutation: PutAuditRecord) -> Op:
    params = encode(mutation.record)
    keep = mutation.keep
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
        raise ValueError(f"audit keep must be a positive integer, got {keep!r}")

    def op(conn: apsw.Connection) -> None:
        conn.execute(
            f"INSERT INTO extension_audit ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            params,
        )
        conn.execute(
            "DELETE FROM extension_audit WHERE seq <= "
            "(SELECT seq FROM extension_audit ORDER BY seq DESC LIMIT 1 OFFSET ?)",
            (keep,),
        )

    return op


COMPILERS: Mapping[type, Callable[[Any], Op]] = {PutAuditRecord: compile_put}


def list_extension_audit(conn: apsw.Connection, limit: int) -> list[AuditRecord]:
    rows = conn.execute(
        f"SELECT {COLUMNS} FROM extension_audit ORDER BY seq DESC LIMIT ?", (max(0, limit),)
    )
    return [decode(row) for row in rows]


__all__ = ["COMPILERS", "list_extension_audit"]
