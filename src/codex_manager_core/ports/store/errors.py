"""The errors the Store port speaks besides `errors.StoreUnavailable` (storage that cannot
take writes now): a failed compare-and-set, and a file that is not a usable store."""

from __future__ import annotations

from collections.abc import Sequence


class StoreConflict(Exception):
    """A compare-and-set precondition of a batch did not hold; nothing was written."""

    def __init__(self, key: str, current: str | None, expected: Sequence[str]) -> None:
        self.key = key
        self.current = current
        self.expected = tuple(expected)
        super().__init__(f"{key} is {current or 'missing'}, expected one of {list(expected)}")


class StoreCorrupt(Exception):
    """The store's files cannot be used (not a database, or a newer schema version)."""


__all__ = ["StoreConflict", "StoreCorrupt"]
