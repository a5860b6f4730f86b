"""Process isolation: an extension whose manifest says `isolation = "process"` runs in a
child process (`host.py`) speaking JSON-RPC over stdio (codex_manager_core.rpc); the parent
(`load_isolated`) gives the loader its subscriptions as proxy handlers. docs/extensions.md,
"Process isolation"."""

from codex_manager_core.extensions.isolation.client import (
    IsolatedCallError,
    IsolatedCallTimeout,
    IsolationError,
)
from codex_manager_core.extensions.isolation.extension import IsolatedExtension, load_isolated

__all__ = [
    "IsolatedCallError",
    "IsolatedCallTimeout",
    "IsolatedExtension",
    "IsolationError",
    "load_isolated",
]
