"""The protocols of `ManagerApi`: sessions, projects, turns and transcripts."""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from codex_manager_core.models import (
        AgentSession,
        JsonObject,
        Project,
        ProjectSessionsDeleted,
        ProjectSessionsMoved,
        SessionRecord,
        TranscriptEntry,
        TurnRecord,
    )
    from codex_manager_core.ports.store import Page
    from codex_manager_core.services.controls import Keep
    from codex_manager_core.services.sessions import (
        DeletedSession,
        SessionDetail,
        StartedSession,
    )
    from codex_manager_core.services.transcript import TranscriptPage
    from codex_manager_core.services.turn_waits import RetryCallback, TurnResult
    from codex_manager_core.services.turns import InputItem, TurnHandle


class SessionsApi(Protocol):
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

    async def get(self, session_id: str) -> SessionRecord:
        """The session record (NotFound, or Gone once deleted)."""
        ...

    async def detail(self, session_id: str) -> SessionDetail:
        """Everything a client shows for one session: record, thread and transcript."""
        ...

    async def thread(self, session_id: str) -> JsonObject:
        """The thread as a codex `Thread` (no turns), a stand-in when it cannot be read."""
        ...

    async def read_thread(self, session_id: str, *, include_turns: bool = True) -> JsonObject:
        """The runtime's view of the thread (`thread/read`)."""
        ...

    async def rename(self, session_id: str, title: str) -> SessionRecord: ...

    async def archive(self, session_id: str) -> SessionRecord:
        """Archive (the runtime moves the rollout); a session with no rollout yet cannot be
        archived (Conflict not_materialized)."""
        ...

    async def unarchive(self, session_id: str) -> SessionRecord: ...

    async def resume(self, session_id: str) -> JsonObject:
        """Load the thread into the runtime again (after a restart, or to re-apply the stored
        approval policy and sandbox)."""
        ...

    async def delete(self, session_id: str) -> DeletedSession:
        """Hard delete: interrupt, remove the thread's files from CODEX_HOME, drop our overlay
        and leave a tombstone (later calls: Gone)."""
        ...

    async def fork(self, session_id: str, *, title: str | None = None) -> SessionRecord:
        """Fork the thread into a new session with the same controls and project."""
        ...

    async def compact(self, session_id: str) -> JsonObject: ...

    async def rollback(self, session_id: str, num_turns: int = 1) -> JsonObject:
        """Drop the last `num_turns` turns from the thread's history (not from disk files)."""
        ...

    async def review(
        self,
        session_id: str,
        *,
        target_type: str = "uncommittedChanges",
        delivery: str | None = None,
        branch: str | None = None,
        sha: str | None = None,
        title: str | None = None,
        instructions: str | None = None,
    ) -> JsonObject:
        """Start a review (`review/start`) of uncommitted changes, a base branch, a commit or
        custom instructions."""
        ...

    async def clean_background_terminals(self, session_id: str) -> JsonObject: ...


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


class TurnsApi(Protocol):
    """`manager.turns`"""

    async def send(
        self,
        session_id: str,
        input: str | Sequence[InputItem],
        *,
        model: str | None = None,
        effort: str | None = None,
        approval_policy: str | None = None,
        network_access: str | None = None,
        filesystem_sandbox: str | None = None,
        collaboration_mode: Mapping[str, Any] | None = None,
        output_schema: Mapping[str, Any] | None = None,
    ) -> TurnHandle:
        """Start a turn and return its id at once."""
        ...

    async def wait(
        self,
        session_id: str,
        turn_id: str,
        *,
        timeout: float | None = None,
        on_retry: RetryCallback | None = None,
    ) -> TurnResult:
        """Wait until the turn ends; return its status and final assistant text."""
        ...

    async def send_and_wait(
        self,
        session_id: str,
        input: str | Sequence[InputItem],
        /,
        *,
        timeout: float | None = None,
        on_retry: RetryCallback | None = None,
        **overrides: Any,
    ) -> TurnResult:
        """send_message + wait_for_turn (every retry of the turn is reported, also those
        announced before the wait began)."""
        ...

    async def get(self, turn_id: str) -> TurnRecord: ...

    async def interrupt(self, session_id: str, turn_id: str | None = None) -> str:
        """Interrupt the given (or the active) turn; Conflict no_active_turn if none."""
        ...

    async def steer(
        self, session_id: str, turn_id: str, input: str | Sequence[InputItem]
    ) -> JsonObject:
        """Add input to a running turn (`turn/steer`, checked against `turn_id`)."""
        ...


class TranscriptApi(Protocol):
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

    async def upsert(self, session_id: str, entry: Mapping[str, Any]) -> TranscriptEntry:
        """Insert or replace one supplemental row (by messageId) and announce it
        (`transcript_updated`)."""
        ...
