"""The ports of the core: the contracts its adapters implement.

The core talks to the outside world only through these protocols, so it can be driven by
real adapters (a `codex app-server` subprocess, SQLite) or by in-memory fakes in tests.
"""

from __future__ import annotations

import time
from contextlib import AbstractAsyncContextManager
from typing import Protocol, runtime_checkable

import attrs


@attrs.frozen
class ExitStatus:
    """How a runtime process ended: `returncode` >= 0 is an exit code, `signal` the signal
    that killed it (when it died of one)."""

    returncode: int | None
    signal: int | None = None

    @classmethod
    def from_returncode(cls, returncode: int | None) -> ExitStatus:
        if returncode is not None and returncode < 0:
            return cls(returncode, -returncode)
        return cls(returncode, None)

    def describe(self) -> str:
        if self.signal is not None:
            return f"killed by signal {self.signal}"
        if self.returncode is None:
            return "exit status unknown"
        return f"exit code {self.returncode}"


@runtime_checkable
class RuntimeProcess(Protocol):
    """One running runtime: a byte stream each way plus its lifecycle.

    `receive` returns the next chunk of the runtime's stdout, or b"" once it is closed.
    `send` writes to its stdin. `stop` ends it for good (close stdin, then SIGTERM, then
    SIGKILL, each after a grace period) and must also work when called under cancellation.
    """

    @property
    def pid(self) -> int | None: ...

    async def send(self, data: bytes) -> None: ...

    async def receive(self) -> bytes: ...

    async def wait(self) -> ExitStatus: ...

    async def stop(self) -> ExitStatus: ...


@runtime_checkable
class RuntimeTransport(Protocol):
    """Starts runtime processes. The supervisor opens one per (re)start.

    `open()` is an async context manager so the adapter can own background work tied to the
    process (draining stderr): leaving the context stops the process and everything it
    started, also when the caller is being cancelled.
    """

    def open(self) -> AbstractAsyncContextManager[RuntimeProcess]: ...


@runtime_checkable
class Clock(Protocol):
    """Time, injectable so tests can control it."""

    def now(self) -> float:
        """Wall-clock time in seconds since the epoch (for timestamps people read)."""
        ...

    def monotonic(self) -> float:
        """Monotonic seconds (for durations and deadlines)."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()
