"""Store adapters behind the Store port (`codex_manager_core.ports.store`): `SqliteStore`
(apsw, WAL; the `sqlite` package) and `MemoryStore`.

The adapters are loaded on first use (PEP 562), so importing a light module of this
package (the `batch` shim) does not load apsw.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from codex_manager_core.store.memory import MemoryStore
    from codex_manager_core.store.sqlite import SqliteStore

_LAZY = {
    "MemoryStore": "codex_manager_core.store.memory",
    "SqliteStore": "codex_manager_core.store.sqlite",
}

__all__ = ["MemoryStore", "SqliteStore"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
