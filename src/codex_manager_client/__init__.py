"""The remote client of a codex-manager server, and the pieces the CLI shares with it.

Its own package, not part of `codex_manager_http`: a program that drives a server from
another machine (or the CLI) must not import the server stack (litestar, uvicorn), and
import-linter keeps it that way. It depends on `codex_manager_core` only for the protocols
and the typed results it shares with the embedded `Manager`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from codex_manager_client.target import Target

if TYPE_CHECKING:
    from codex_manager_client.blocking import BlockingRemote, connect
    from codex_manager_client.remote import RemoteManager
    from codex_manager_client.stream import EventStream, StreamFrame
    from codex_manager_client.tools import RemoteTools
    from codex_manager_client.waits import wait_job, wait_turn

# httpx loads only with the client itself: `import codex_manager_client` (the CLI's Target)
# stays light.
_LAZY = {
    "RemoteManager": "codex_manager_client.remote",
    "BlockingRemote": "codex_manager_client.blocking",
    "connect": "codex_manager_client.blocking",
    "EventStream": "codex_manager_client.stream",
    "StreamFrame": "codex_manager_client.stream",
    "RemoteTools": "codex_manager_client.tools",
    "wait_job": "codex_manager_client.waits",
    "wait_turn": "codex_manager_client.waits",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'codex_manager_client' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "BlockingRemote",
    "EventStream",
    "RemoteManager",
    "RemoteTools",
    "StreamFrame",
    "Target",
    "connect",
    "wait_job",
    "wait_turn",
]
