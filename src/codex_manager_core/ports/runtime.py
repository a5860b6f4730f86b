"""The runtime port: how the core starts and talks to a `codex app-server` process.

The supervisor only ever sees these types; the stdio subprocess adapter
(`runtime.stdio`) and the in-memory fakes in `codex_manager_core.testing` implement them.
"""

from __future__ import annotations

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


__all__ = ["ExitStatus", "RuntimeProcess", "RuntimeTransport"]
