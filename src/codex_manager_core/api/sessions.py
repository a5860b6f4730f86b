"""The protocols of `ManagerApi`: sessions, projects, turns and transcripts."""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from codex_manager_core.api.server import SessionsServerApi, TranscriptServerApi, TurnsServerApi

if TYPE_CHECKING:
    from codex_manager_core.models import (
        AgentSession,
        Project,
        ProjectSessionsDeleted,
        ProjectSessionsMoved,
        SessionRecord,
        TurnRecord,
    )
    from codex_manager_core.ports.store import Page
    from codex_manager_core.services.controls import Keep
    from codex_manager_core.services.sessions import (
        StartedSession,
    )
    from codex_manager_core.services.transcript import TranscriptPage


class SessionsApi(SessionsServerApi, Protocol):
    """`manager.sessions`"""

    async def create(
        self,
        *,
        cwd: str | None = None,
        title: str | None = None,
        project_id: str | None = None,
        model: str | None = None,
        approval_policy: str | None = None,
        network_access: str | None = None,
        filesystem_sandbox: str | None = None,
        dynamic_tools: Sequence[Mapping[str, Any]] | None = None,
        tools: Sequence[str] | None = None,
        system_owned: bool = False,
    ) -> SessionRecord:
        """Start a new thread and record it."""
        ...

    async def start(
        self,
        *,
        cwd: str | None = None,
        title: str | None = None,
        project_id: str | None = None,
        model: str | None = None,
        approval_policy: str | None = None,
        network_access: str | None = None,
        filesystem_sandbox: str | None = None,
        dynamic_tools: Sequence[Mapping[str, Any]] | None = None,
        tools: Sequence[str] | None = None,
        system_owned: bool = False,
    ) -> StartedSession:
        """`create_session`, returning the runtime's thread (from `thread/start`) too."""
        ...

    async def list(
        self,
        *,
        archived: bool | None = False,
        include_system_owned: bool = False,
        project_id: str | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> Page:
        """Sessions, most recently updated first, from our store (one query, no runtime calls)."""
        ...


class ProjectsApi(Protocol):
    """`manager.projects`"""

    async def agent_sessions(self, project_id: str) -> builtins.list[AgentSession]:
        """The project's system-owned (worker) sessions with their agent, most recently
        updated first; `project_id` may be a `session:<id>` owner (that chat's workers)."""
        ...

    async def create(self, name: str, working_directory: str | None = None) -> Project:
        """A new project; names are unique case-insensitively (Conflict duplicate_name)."""
        ...

    async def list(self) -> builtins.list[Project]:
        """All projects, sorted by name."""
        ...

    async def get(self, project_id: str) -> Project: ...

    async def rename(
        self, project_id: str, name: str, working_directory: str | Keep | None = ...
    ) -> Project:
        """Rename a project and/or change its working directory (leave it out, or KEEP, to keep
        it; None clears it)."""
        ...

    async def delete(self, project_id: str) -> None:
        """Delete a project."""
        ...

    async def assign_session(self, session_id: str, project_id: str | None) -> None:
        """Put a session in a project, or take it out (project_id None)."""
        ...

    async def move_sessions(self, project_id: str, destination: str) -> ProjectSessionsMoved:
        """Move every user session out of a project: `unassigned`, or `archive` (archived and
        unassigned; a session without a rollout yet cannot be archived: Conflict)."""
        ...

    async def delete_sessions(self, project_id: str) -> ProjectSessionsDeleted:
        """Hard-delete every user session of a project."""
        ...


class TurnsApi(TurnsServerApi, Protocol):
    """`manager.turns`"""

    async def get(self, turn_id: str) -> TurnRecord: ...


class TranscriptApi(TranscriptServerApi, Protocol):
    """`manager.transcript`"""

    async def get(
        self,
        session_id: str,
        *,
        cursor: str | None = None,
        limit: int | None = ...,
        thread: Mapping[str, Any] | None = None,
    ) -> TranscriptPage:
        """The session's transcript, oldest first, `limit` rows from `cursor` (None: all)."""
        ...
