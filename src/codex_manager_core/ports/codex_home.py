"""The runtime's side on disk, as the domain needs it: the files of a thread under
CODEX_HOME, the methods the installed codex offers (from its protocol schema), and
whether it holds a login.

The domain does no file I/O of its own: deleting a session's files and reading the
capabilities go through this port. The adapter is `runtime/codex_home.py`
(`CodexHomeDir`); `testing.MemoryCodexHome` is the in-memory fake. One contract suite
(tests/contract/test_codex_home_contract.py) holds both to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import attrs


@attrs.frozen
class ThreadFile:
    """A file of a thread under CODEX_HOME."""

    path: str
    history: bool
    """Part of the thread's history (a rollout, live or archived): what a fork reads."""


@attrs.frozen
class SchemaMethods:
    """The client methods of the installed codex's app-server protocol."""

    stable: frozenset[str] = frozenset()
    experimental: frozenset[str] = frozenset()
    """Those offered only with the experimental API (a superset of `stable`)."""
    problem: str | None = None
    """Why none could be read (no binary, the schema command failed), else None."""


class CodexHome(Protocol):
    async def thread_files(self, thread_id: str) -> list[ThreadFile]:
        """The files whose name contains `thread_id` (rollouts, archived rollouts, shell
        snapshots); none when there are none, or no CODEX_HOME yet."""
        ...

    async def remove_files(self, files: Sequence[ThreadFile]) -> int:
        """Remove them (a file already gone is fine); how many were there to remove."""
        ...

    async def schema_methods(self, codex_version: str, *, refresh: bool = False) -> SchemaMethods:
        """The methods of the codex binary in use (cached per `codex_version`)."""
        ...

    async def has_auth(self) -> bool:
        """Whether CODEX_HOME holds a login (`auth.json`)."""
        ...


__all__ = ["CodexHome", "SchemaMethods", "ThreadFile"]
