"""`FakeClock`: a `Clock` whose time moves only when a test moves it.

Code that waits through its clock (the supervisor's restart backoff and its retry of a
failed runtime) can then be tested without waiting: the test waits until the code sleeps
(`wait_for_sleepers`), moves time (`advance`), and the sleepers whose deadline has come
wake up. Nothing ever waits on the real clock.

    clock = FakeClock()
    async with Supervisor(transport, clock=clock, ...) as supervisor:
        await clock.wait_for_sleepers(1)     # the supervisor waits for its retry
        clock.advance(300)                   # ... which is due now
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import anyio
import anyio.lowlevel

#: Where `now()` starts (2023-11-14T22:13:20Z): any fixed, plausible wall-clock time.
DEFAULT_WALL_START = 1_700_000_000.0


class FakeClock:
    """A manual clock: `monotonic()` starts at 0, `now()` (and `utcnow()`) at `wall_start`;
    both move only with `advance`. `sleep(seconds)` returns once time has been advanced that
    far; a `move_on_after(seconds)` block is cancelled then. Both count as sleepers."""

    def __init__(self, *, wall_start: float = DEFAULT_WALL_START) -> None:
        self._elapsed = 0.0
        self._wall_start = wall_start
        self._order = itertools.count()
        self._sleepers: list[tuple[float, int, Callable[[], object]]] = []
        self._sleepers_changed: anyio.Event | None = None

    # ------------------------------------------------------------------ Clock

    def now(self) -> float:
        return self._wall_start + self._elapsed

    def utcnow(self) -> datetime:
        return datetime.fromtimestamp(self.now(), UTC)

    def monotonic(self) -> float:
        return self._elapsed

    async def sleep(self, seconds: float) -> None:
        if not seconds > 0:  # also NaN
            await anyio.lowlevel.checkpoint()
            return
        wake = anyio.Event()
        entry = self._add(seconds, wake.set)
        try:
            await wake.wait()
        finally:
            if not wake.is_set():  # cancelled: forget it
                self._remove(entry)

    @contextmanager
    def move_on_after(self, seconds: float | None) -> Iterator[anyio.CancelScope]:
        with anyio.CancelScope() as scope:
            if seconds is None:
                yield scope
                return
            if not seconds > 0:
                scope.cancel()
                yield scope
                return
            entry = self._add(seconds, scope.cancel)
            try:
                yield scope
            finally:
                self._remove(entry)

    # ------------------------------------------------------------------ for tests

    @property
    def deadlines(self) -> list[float]:
        """The `monotonic()` times at which the current sleepers wake, soonest first."""
        return sorted(deadline for deadline, _, _ in self._sleepers)

    @property
    def sleepers(self) -> list[float]:
        """Seconds left for each task sleeping on this clock, soonest first."""
        return [deadline - self._elapsed for deadline in self.deadlines]

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper whose deadline has come (they run at
        their next chance, after the caller's next checkpoint)."""
        if not seconds >= 0 or math.isinf(seconds):
            raise ValueError(f"advance() takes a finite number of seconds >= 0, got {seconds!r}")
        self._elapsed += seconds
        woke = False
        while self._sleepers and self._sleepers[0][0] <= self._elapsed:
            _, _, wake = heapq.heappop(self._sleepers)
            wake()
            woke = True
        if woke:
            self._changed()

    async def wait_for_sleepers(self, count: int = 1, *, timeout: float = 10.0) -> list[float]:
        """Wait (in real time, at most `timeout` s) until at least `count` tasks sleep on
        this clock; returns their deadlines. AssertionError if they never do."""
        with anyio.move_on_after(timeout):
            while len(self._sleepers) < count:
                if self._sleepers_changed is None:
                    self._sleepers_changed = anyio.Event()
                await self._sleepers_changed.wait()
            return self.deadlines
        raise AssertionError(
            f"expected {count} task(s) sleeping on the fake clock within {timeout:g} s; "
            f"{len(self._sleepers)} are (deadlines {self.deadlines})"
        )

    async def wait_for_deadline(self, at: float, *, timeout: float = 10.0) -> None:
        """Wait (in real time, at most `timeout` s) until a task sleeps until `monotonic()`
        time `at` (e.g. a retry's backoff, a deadline just set). AssertionError if none
        does."""
        with anyio.move_on_after(timeout):
            while not any(math.isclose(deadline, at) for deadline in self.deadlines):
                if self._sleepers_changed is None:
                    self._sleepers_changed = anyio.Event()
                await self._sleepers_changed.wait()
            return
        raise AssertionError(
            f"expected a task sleeping on the fake clock until {at:g} within {timeout:g} s; "
            f"the deadlines are {self.deadlines}"
        )

    def _add(
        self, seconds: float, wake: Callable[[], object]
    ) -> tuple[float, int, Callable[[], object]]:
        entry = (self._elapsed + seconds, next(self._order), wake)
        heapq.heappush(self._sleepers, entry)
        self._changed()
        return entry

    def _remove(self, entry: tuple[float, int, Callable[[], object]]) -> None:
        if entry in self._sleepers:
            self._sleepers.remove(entry)
            heapq.heapify(self._sleepers)
            self._changed()

    def _changed(self) -> None:
        changed, self._sleepers_changed = self._sleepers_changed, None
        if changed is not None:
            changed.set()
