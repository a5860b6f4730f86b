"""SqliteStore, domain "meta": the `meta` table (key -> value)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import apsw

from codex_manager_core.ports.store.meta import SetMeta
from codex_manager_core.store.sqlite.sql import Op, execute, one, upsert

UPSERT_META = upsert("meta", ["key", "value"], ["key"])


def compile_set_meta(mutation: SetMeta) -> Op:
    if not isinstance(mutation.key, str) or not isinstance(mutation.value, str):
        raise TypeError("meta keys and values are str")
    return execute(UPSERT_META, (mutation.key, mutation.value))


COMPILERS: Mapping[type, Callable[[Any], Op]] = {SetMeta: compile_set_meta}


def get_meta(conn: apsw.Connection, key: str) -> str | None:
    row = one(conn, "SELECT value FROM meta WHERE key = ?", (key,))
    return None if row is None else str(row[0])
