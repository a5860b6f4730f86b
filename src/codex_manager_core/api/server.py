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
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from codex_manager_core.api.controls import SettingsApi, ToolCallsApi, ToolInputApi
from codex_manager_core.api.sessions import ProjectsApi

if TYPE_CHECKING:
    from codex_manager_core.manager import Manager
    from codex_manager_core.models import (
        Event,
        InteractiveRequest,
        JsonObject,
        JsonValue,
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

    async def get(self, session_id: str) -> SessionRecord: ...
    async def detail(self, session_id: str) -> SessionDetail: ...
    async def thread(self, session_id: str) -> JsonObject: ...
    async def read_thread(self, session_id: str, *, include_turns: bool = True) -> JsonObject: ...
    async def rename(self, session_id: str, title: str) -> SessionRecord: ...
    async def archive(self, session_id: str) -> SessionRecord: ...
    async def unarchive(self, session_id: str) -> SessionRecord: ...
    async def resume(self, session_id: str) -> JsonObject: ...
    async def delete(self, session_id: str) -> DeletedSession: ...
    async def fork(self, session_id: str, *, title: str | None = None) -> SessionRecord: ...
    async def compact(self, session_id: str) -> JsonObject: ...
    async def rollback(self, session_id: str, num_turns: int = 1) -> JsonObject: ...

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
    ) -> JsonObject: ...

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
    ) -> TurnHandle: ...

    async def wait(
        self,
        session_id: str,
        turn_id: str,
        *,
        timeout: float | None = None,
        on_retry: RetryCallback | None = None,
    ) -> TurnResult: ...

    async def send_and_wait(
        self,
        session_id: str,
        input: str | Sequence[InputItem],
        /,
        *,
        timeout: float | None = None,
        on_retry: RetryCallback | None = None,
        **overrides: Any,
    ) -> TurnResult: ...

    async def interrupt(self, session_id: str, turn_id: str | None = None) -> str: ...

    async def steer(
        self, session_id: str, turn_id: str, input: str | Sequence[InputItem]
    ) -> JsonObject: ...


class TranscriptServerApi(Protocol):
    """`transcript`: without the embedded `thread` shortcut."""

    async def get(
        self, session_id: str, *, cursor: str | None = None, limit: int | None = 100
    ) -> TranscriptPage: ...

    async def upsert(self, session_id: str, entry: Mapping[str, Any]) -> TranscriptEntry: ...


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
    ) -> ControlsChange: ...

    async def set_approval_policy(
        self, session_id: str, approval_policy: str
    ) -> ControlsChange: ...


class ApprovalsServerApi(Protocol):
    """`approvals`: without `get` (no route reads one approval)."""

    async def list(self, session_id: str) -> builtins.list[InteractiveRequest]: ...

    async def decide(
        self, approval_id: str, decision: str, *, scope: str | None = None, actor: str | None = None
    ) -> InteractiveRequest: ...


class EventsServerApi(Protocol):
    """`events`: the REST replay (the live stream differs in type: `Subscription` embedded,
    `EventStream` remote)."""

    async def read(
        self,
        *,
        since: int = 0,
        limit: int = 100,
        thread_ids: Sequence[str] | None = None,
        types: Sequence[str] | None = None,
    ) -> builtins.list[Event]: ...


class JobsServerApi(Protocol):
    """`jobs`: read, list, cancel and wait (enqueueing is per job type's own route)."""

    async def get(self, job_id: str) -> Job: ...

    async def list(
        self,
        *,
        states: Sequence[JobState | str] | None = None,
        types: Sequence[str] | None = None,
        owner: str | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> Page: ...

    async def cancel(self, job_id: str) -> Job: ...
    async def wait(self, job_id: str, *, timeout: float | None = None) -> Job: ...


class SuggestionsServerApi(Protocol):
    """`suggestions`: the three routes (the cached `get` is in-process)."""

    async def upsert(
        self,
        session_id: str,
        request_key: str,
        status: SuggestionStatus | str,
        suggestion: str | None = None,
        error: str | None = None,
    ) -> SuggestionState: ...

    async def enqueue(
        self,
        session_id: str,
        *,
        model: str | None = None,
        effort: str | None = None,
        draft: str | None = None,
    ) -> SuggestionJob: ...

    async def request(
        self,
        session_id: str,
        *,
        model: str | None = None,
        effort: str | None = None,
        draft: str | None = None,
        wait: float | None = None,
    ) -> SuggestionOutcome: ...


class RuntimeServerApi(Protocol):
    """`runtime`: the app-server methods with a route (not `call`, not the process)."""

    async def capabilities(self, *, refresh: bool = False) -> dict[str, Any]: ...

    async def list_models(
        self,
        *,
        cursor: str | None = None,
        limit: int | None = None,
        include_hidden: bool | None = None,
    ) -> JsonValue: ...

    async def list_experimental_features(
        self, *, cursor: str | None = None, limit: int | None = None
    ) -> JsonValue: ...

    async def list_collaboration_modes(self) -> JsonValue: ...

    async def list_apps(
        self,
        *,
        cursor: str | None = None,
        limit: int | None = None,
        thread_id: str | None = None,
        force_refetch: bool | None = None,
    ) -> JsonValue: ...

    async def list_skills(
        self, *, cwd: str | None = None, force_reload: bool | None = None
    ) -> JsonValue: ...

    async def list_mcp_servers(
        self, *, cursor: str | None = None, limit: int | None = None
    ) -> JsonValue: ...

    async def read_config(
        self, *, cwd: str | None = None, include_layers: bool | None = None
    ) -> JsonValue: ...

    async def read_config_requirements(self) -> JsonValue: ...

    async def exec_command(
        self, command: Sequence[str], *, cwd: str | None = None, timeout_ms: int | None = None
    ) -> JsonValue: ...

    async def read_account(self) -> JsonValue: ...


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
    "EventsServerApi",
    "JobsServerApi",
    "RuntimeServerApi",
    "ServerApi",
    "SessionsServerApi",
    "SuggestionsServerApi",
    "TranscriptServerApi",
    "TurnsServerApi",
]
