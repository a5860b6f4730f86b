"""The ports of the core: the contracts its adapters implement.

The core talks to the outside world only through these protocols, so it can be driven by
real adapters (a `codex app-server` subprocess, SQLite) or by in-memory fakes in tests:

- `ports.runtime`: `RuntimeTransport` / `RuntimeProcess` (and `ExitStatus`);
- `ports.clock`: `Clock` (`now`, `utcnow`, `monotonic`, `sleep`) and `SystemClock`;
- `ports.store`: the `Store` protocol with its batch, mutation and query types, one module
  per domain.

A port's modules hold the protocol and the types it speaks, and nothing that loads an
adapter: importing this package loads neither apsw nor a subprocess adapter
(tests/unit/test_ports_imports.py).
"""

from codex_manager_core.ports.clock import Clock, SystemClock
from codex_manager_core.ports.runtime import ExitStatus, RuntimeProcess, RuntimeTransport
from codex_manager_core.ports.store import (
    Batch,
    EventQuery,
    Page,
    RequestQuery,
    SessionQuery,
    Store,
    StoreStats,
)

__all__ = [
    "Batch",
    "Clock",
    "EventQuery",
    "ExitStatus",
    "Page",
    "RequestQuery",
    "RuntimeProcess",
    "RuntimeTransport",
    "SessionQuery",
    "Store",
    "StoreStats",
    "SystemClock",
]
