"""`ServerApi`: the part of `ManagerApi` a codex-manager server offers over HTTP.

Each group is narrowed to the calls that have a route (tests/acceptance/routes.tsv), with
the same names, arguments and typed results as the embedded group. Both the embedded
`Manager` and the remote client (`codex_manager_client.RemoteManager`) conform (mypy checks
it at the bottom of this module), and the contract suite
(tests/contract/test_server_api_contract.py) runs the same calls against both.

Left out, because they exist only in-process (docs/client.md): registering job types and
Python tools, `jobs.enqueue` of arbitrary types, extension loading internals, workers and
agents, `runtime.call` (any app-server method), `events.subscribe` / `events.on` (the
remote stream is `codex_manager_client.stream.EventStream`), `turns.get`, the generic
`requests` group, `controls.defaults` / `controls.resolve`.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from codex_manager_core.api.controls import SettingsApi, ToolCallsApi, ToolInputApi
    from codex_manager_core.api.runtime import EventsServerApi, RuntimeServerApi
    from codex_manager_core.api.sessions import ProjectsApi
    from codex_manager_core.manager import Manager
    from codex_manager_core.models import (
        InteractiveRequest,
        JsonObject,
        SessionRecord,
        TranscriptEntry,
    )
    from codex_manager_core.ports.store import Page
    from codex_manager_core.queue.model import Job, JobState
    from codex_manager_core.services.controls import ControlsChange, ControlsView, Keep
    from codex_manager_core.services.health import ManagerHealth
    from codex_manager_core.services.session_scope import SessionScope
    from codex_manager_core.services.sessions import (
        DeletedSession,
        SessionDetail,
        StartedSession,
    )
    from codex_manager_core.services.suggestion_state import SuggestionState, SuggestionStatus
    from codex_manager_core.services.suggestions import SuggestionJob, SuggestionOutcome
    from codex_manager_core.services.transcript import TranscriptPage
    from codex_manager_core.services.turn_waits import RetryCallback, TurnResult
    from codex_manager_core.services.turns import InputItem, TurnHandle


class SessionsServerApi(Protocol):
    """`sessions`: without `tools` / `system_owned` (in-process tools, worker sessions)."""

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
    ) -> SessionRecord: ...

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
    ) -> StartedSession: ...

    async def list(
        self,
        *,
        archived: bool = False,
        include_system_owned: bool = False,
        project_id: str | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> Page: ...

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


class TurnsServerApi(Protocol):
    """`turns`: without `get` (no route reads one turn record)."""

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

    async def interrupt(self, session_id: str, turn_id: str | None = None) -> str:
        """Interrupt the given (or the active) turn; Conflict no_active_turn if none."""
        ...

    async def steer(
        self, session_id: str, turn_id: str, input: str | Sequence[InputItem]
    ) -> JsonObject:
        """Add input to a running turn (`turn/steer`, checked against `turn_id`)."""
        ...


class TranscriptServerApi(Protocol):
    """`transcript`: without the embedded `thread` shortcut."""

    async def get(
        self, session_id: str, *, cursor: str | None = None, limit: int | None = 100
    ) -> TranscriptPage: ...

    async def upsert(self, session_id: str, entry: Mapping[str, Any]) -> TranscriptEntry:
        """Insert or replace one supplemental row (by messageId) and announce it
        (`transcript_updated`)."""
        ...


class ControlsServerApi(Protocol):
    """`controls`: the session's tuple (the defaults come with it)."""

    async def get(self, session_id: str) -> ControlsView: ...

    async def apply(
        self,
        session_id: str,
        *,
        scope: str = "session",
        model: str | Keep | None = ...,
        approval_policy: str | None = None,
        network_access: str | None = None,
        filesystem_sandbox: str | None = None,
        settings: Mapping[str, Any] | None = None,
        keep_model: bool = False,
        actor: str | None = None,
        source: str | None = None,
    ) -> ControlsChange:
        """Apply controls to the session or the defaults; what you leave out is kept."""
        ...

    async def set_approval_policy(self, session_id: str, approval_policy: str) -> ControlsChange:
        """The legacy single-field setter."""
        ...


class ApprovalsServerApi(Protocol):
    """`approvals`: without `get` (no route reads one approval)."""

    async def list(self, session_id: str) -> builtins.list[InteractiveRequest]: ...

    async def decide(
        self, approval_id: str, decision: str, *, scope: str | None = None, actor: str | None = None
    ) -> InteractiveRequest:
        """Answer an approval: accept, acceptForSession, decline or cancel (legacy names
        approved / approved_for_session / denied / abort too)."""
        ...


class JobsServerApi(Protocol):
    """`jobs`: read, list, cancel and wait (enqueueing is per job type's own route)."""

    async def get(self, job_id: str) -> Job: ...

    async def list(
        self,
        *,
        states: Iterable[JobState | str] | None = None,
        types: Iterable[str] | None = None,
        owner: str | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> Page: ...

    async def cancel(self, job_id: str) -> Job: ...
    async def wait(self, job_id: str, *, timeout: float | None = None) -> Job:
        """The job once it has ended; TimedOut after `timeout` seconds."""
        ...


class SuggestionsServerApi(Protocol):
    """`suggestions`: the three routes (the cached `get` is in-process)."""

    async def upsert(
        self,
        session_id: str,
        request_key: str,
        status: SuggestionStatus | str,
        suggestion: str | None = None,
        error: str | None = None,
    ) -> SuggestionState:
        """Write a suggestion's state; a terminal one never regresses to streaming."""
        ...

    async def enqueue(
        self,
        session_id: str,
        *,
        model: str | None = None,
        effort: str | None = None,
        draft: str | None = None,
    ) -> SuggestionJob:
        """Enqueue the job that writes a suggestion (or join the live one)."""
        ...

    async def request(
        self,
        session_id: str,
        *,
        model: str | None = None,
        effort: str | None = None,
        draft: str | None = None,
        wait: float | None = None,
    ) -> SuggestionOutcome:
        """Enqueue, then wait for the suggestion: ok, fallback past the deadline, or queued."""
        ...


class ServerApi(Protocol):
    """What a server offers: the embedded `Manager` and `RemoteManager` both conform."""

    @property
    def sessions(self) -> SessionsServerApi: ...
    @property
    def projects(self) -> ProjectsApi: ...
    @property
    def turns(self) -> TurnsServerApi: ...
    @property
    def controls(self) -> ControlsServerApi: ...
    @property
    def settings(self) -> SettingsApi: ...
    @property
    def approvals(self) -> ApprovalsServerApi: ...
    @property
    def tool_input(self) -> ToolInputApi: ...
    @property
    def tool_calls(self) -> ToolCallsApi: ...
    @property
    def transcript(self) -> TranscriptServerApi: ...
    @property
    def events(self) -> EventsServerApi: ...
    @property
    def runtime(self) -> RuntimeServerApi: ...
    @property
    def jobs(self) -> JobsServerApi: ...
    @property
    def suggestions(self) -> SuggestionsServerApi: ...

    def session(self, session_id: str) -> SessionScope:
        """The calls about one session, bound to its id."""
        ...

    async def health(self, *, cached: bool = False) -> ManagerHealth: ...


if TYPE_CHECKING:

    def _the_manager_is_a_server_api(manager: Manager) -> ServerApi:
        return manager  # mypy: Manager conforms to the protocol


__all__ = [
    "ApprovalsServerApi",
    "ControlsServerApi",
    "JobsServerApi",
    "ServerApi",
    "SessionsServerApi",
    "SuggestionsServerApi",
    "TranscriptServerApi",
    "TurnsServerApi",
]
