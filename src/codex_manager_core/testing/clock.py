"""FakeClock: a Clock whose time moves only when the test says so.

Retry backoffs and other waits of the manager go through `Clock.sleep`; with a FakeClock
they end when the test calls `advance()`, so time-dependent behaviour is tested without
real waiting and without races:

    clock = FakeClock()
    ...                                   # something starts a 10 s backoff
    await clock.wait_for_sleepers(1)      # it is waiting now
    clock.advance(10)                     # ... and it wakes up
"""

from __future__ import annotations

import anyio
import anyio.lowlevel


class FakeClock:
    """Implements the `Clock` port (now, monotonic, sleep) on a manual time line."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._wall = float(start)
        self._monotonic = 0.0
        self._sleepers: list[tuple[float, anyio.Event]] = []
        self._changed: anyio.Event | None = None  # created in a task (it needs a loop)

    def now(self) -> float:
        return self._wall

    def monotonic(self) -> float:
        return self._monotonic

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await anyio.lowlevel.checkpoint()
            return
        entry = (self._monotonic + seconds, anyio.Event())
        self._sleepers.append(entry)
        self._notify()
        try:
            await entry[1].wait()
        finally:
            if entry in self._sleepers:
                self._sleepers.remove(entry)
                self._notify()

    def advance(self, seconds: float) -> None:
        """Move time forward; wake every sleeper whose deadline has come."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        self._wall += seconds
        self._monotonic += seconds
        due = [entry for entry in self._sleepers if entry[0] <= self._monotonic]
        for entry in due:
            self._sleepers.remove(entry)
            entry[1].set()
        if due:
            self._notify()

    @property
    def sleepers(self) -> list[float]:
        """Seconds left for each task sleeping on this clock, soonest first."""
        return sorted(deadline - self._monotonic for deadline, _event in self._sleepers)

    async def wait_for_sleepers(self, count: int = 1) -> None:
        """Wait until at least `count` tasks sleep on this clock (bound it with
        `anyio.fail_after`)."""
        while len(self._sleepers) < count:
            if self._changed is None:
                self._changed = anyio.Event()
            await self._changed.wait()

    def _notify(self) -> None:
        changed, self._changed = self._changed, None
        if changed is not None:
            changed.set()
