"""One lock per key (a session), alive only while someone holds it or waits for it.

Some work must not run twice at once for the same session (loading its thread after a
restart, starting a turn), while different sessions go on in parallel. A dict of locks
that grew with every session ever touched would be a slow leak; here a key's lock is
dropped as soon as nobody holds it and nobody waits for it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio


class KeyedLocks:
    def __init__(self) -> None:
        self._locks: dict[str, anyio.Lock] = {}

    def __len__(self) -> int:
        """Keys with a lock now (held or waited for)."""
        return len(self._locks)

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        """Hold `key`'s lock for the block (waiting while another task holds it)."""
        lock = self._locks.setdefault(key, anyio.Lock())
        try:
            async with lock:
                yield
        finally:
            # Nothing awaits between this check and the pop: a task that comes later
            # makes a new lock, and nobody holds or waits for this one any more.
            if not lock.locked() and not lock.statistics().tasks_waiting:
                self._locks.pop(key, None)
