"""The remote client of a codex-manager server, and the pieces the CLI shares with it.

Its own package, not part of `codex_manager_http`: a program that drives a server from
another machine (or the CLI) must not import the server stack (litestar, uvicorn), and
import-linter keeps it that way. It depends on `codex_manager_core` only for the protocols
and the typed results it shares with the embedded `Manager`.
"""

from __future__ import annotations

from codex_manager_client.target import Target

__all__ = ["Target"]
