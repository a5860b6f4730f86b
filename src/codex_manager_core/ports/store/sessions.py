"""Store domain "sessions": the manager's overlay of each thread (title, project, controls,
settings), the default controls, and the tombstones deleted sessions leave. Its mutations,
its query (`SessionQuery`, paged by `Page`) and its reads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, TypeAlias

import attrs

from codex_manager_core.models import Controls, SessionRecord, Tombstone


@attrs.frozen
class PutSession:
    """Insert or replace a whole session record."""

    session: SessionRecord


@attrs.frozen
class PatchSession:
    """Change some fields of a session record (names of `SessionRecord` fields). A missing
    session is ignored, so notifications about unknown threads cannot resurrect rows. An
    unknown field name, or `session_id`, raises ValueError (even for a missing session)."""

    session_id: str
    changes: Mapping[str, Any]


@attrs.frozen
class DeleteSession:
    """Remove a session's overlay, turns, transcript entries, invalidate its open requests
    (reason given, `resolved_at` = the tombstone's `deleted_at`) and leave (or replace) a
    tombstone. The ledger keeps the session's events."""

    tombstone: Tombstone
    reason: str = "session deleted"


@attrs.frozen
class PutDefaultControls:
    controls: Controls


SessionMutation: TypeAlias = PutSession | PatchSession | DeleteSession | PutDefaultControls


@attrs.frozen
class SessionQuery:
    """Filters and keyset paging for listing sessions, newest `updated_at` first."""

    archived: bool | None = False
    """False: only active; True: only archived; None: both."""
    include_system_owned: bool = False
    project_id: str | None = None
    """Only sessions of this project; "" for sessions without a project."""
    cursor: str | None = None
    """`Page.next_cursor` of the previous page; anything else raises ValueError."""
    limit: int = 100
    """At least 1 (ValueError otherwise)."""


@attrs.frozen
class Page:
    items: tuple[Any, ...]
    next_cursor: str | None


class SessionReads(Protocol):
    async def get_session(self, session_id: str) -> SessionRecord | None: ...

    async def list_sessions(self, query: SessionQuery) -> Page: ...

    async def count_sessions(self, query: SessionQuery) -> int: ...

    async def get_tombstone(self, session_id: str) -> Tombstone | None: ...

    async def get_default_controls(self) -> Controls | None: ...


__all__ = [
    "DeleteSession",
    "Page",
    "PatchSession",
    "PutDefaultControls",
    "PutSession",
    "SessionMutation",
    "SessionQuery",
    "SessionReads",
]
