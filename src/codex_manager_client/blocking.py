"""`connect(server, token=...)`: a RemoteManager with blocking calls (no `await`), for a
notebook or a script; see `codex_manager_core.blocking`."""

from __future__ import annotations

from codex_manager_client.remote import RemoteManager
from codex_manager_client.target import Target
from codex_manager_core.blocking import Blocking

BlockingRemote = Blocking[RemoteManager]


def connect(
    server: str | None = None,
    *,
    token: str | None = None,
    timeout: float | None = None,
    target: Target | None = None,
    backend: str = "asyncio",
) -> Blocking[RemoteManager]:
    """A RemoteManager (arguments as its own; the environment's `Target.from_env()` fills
    in what is left out) open in a background event loop thread, every call blocking.
    `close()` it (idempotent), or use it in a `with` block."""
    return Blocking(
        lambda: RemoteManager(target, server=server, token=token, timeout=timeout),
        backend=backend,
    )
