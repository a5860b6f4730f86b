"""The clock port: every reading of time and every timed wait goes through a `Clock`, so a
test can drive expiry, backoff and timeouts with `codex_manager_core.testing.FakeClock`
instead of waiting."""

from __future__ import annotations

import math
import time
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

import anyio


@runtime_checkable
class Clock(Protocol):
    """Time, injectable so tests can control it."""

    def now(self) -> float:
        """Wall-clock time in seconds since the epoch (for timestamps people read)."""
        ...

    def utcnow(self) -> datetime:
        """`now()` as a timezone-aware UTC datetime (what records and events store)."""
        ...

    def monotonic(self) -> float:
        """Monotonic seconds (for durations and deadlines)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of this clock's time (retry backoffs go through here, so a fake
        clock can run them instantly)."""
        ...

    def move_on_after(self, seconds: float | None) -> AbstractContextManager[anyio.CancelScope]:
        """`anyio.move_on_after` on this clock's time: the block is cancelled once `seconds`
        of it have passed (`scope.cancelled_caught` says so afterwards); None: never.
        Deadlines of calls and waits go through here."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()

    def utcnow(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)

    def move_on_after(self, seconds: float | None) -> AbstractContextManager[anyio.CancelScope]:
        return anyio.move_on_after(math.inf if seconds is None else seconds)


__all__ = ["Clock", "SystemClock"]
