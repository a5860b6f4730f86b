"""The undo log that makes `MemoryStore.apply` atomic without copying whole tables: every
write of a batch records how to undo itself, and a failing batch replays the log
backwards. Its own module so that the domains kept beside `memory.py` (`memory_jobs.py`)
write through the same log."""

from __future__ import annotations

from typing import Any, TypeVar

K = TypeVar("K")
V = TypeVar("V")

_MISSING: Any = object()


class Undo:
    """The undo log of one batch: (table, key, previous entry or _MISSING), newest last."""

    def __init__(self) -> None:
        self.entries: list[tuple[dict[Any, Any], Any, Any]] = []

    def set(self, table: dict[K, V], key: K, value: V) -> None:
        self.entries.append((table, key, table.get(key, _MISSING)))
        table[key] = value

    def delete(self, table: dict[K, V], key: K) -> None:
        if key in table:
            self.entries.append((table, key, table.pop(key)))

    def rollback(self) -> None:
        for table, key, previous in reversed(self.entries):
            if previous is _MISSING:
                table.pop(key, None)
            else:
                table[key] = previous
        self.entries.clear()


__all__ = ["Undo"]
