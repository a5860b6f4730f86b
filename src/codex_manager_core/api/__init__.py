"""The public surface of a Manager, as protocols: what `Manager` offers, group by group.

`Manager` (embedded) implements `ManagerApi`; the remote client (issue 11) implements the
same protocol over HTTP, and one contract suite runs against both. Nothing here runs: the
protocols only name the calls and their types (mypy checks that `Manager` conforms, at the
bottom of this module). `manager.session(id)` is `SessionScope`, built over any
`ManagerApi`. `manager.tools` (Python callables the model may call) is embedded-only.
`ServerApi` (api/server.py) is the part a server offers over HTTP: the embedded group
protocols extend its narrower ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from codex_manager_core.api.controls import (
    ApprovalsApi,
    ControlsApi,
    RequestsApi,
    SettingsApi,
    ToolCallsApi,
    ToolInputApi,
)
from codex_manager_core.api.extensions import ExtensionsApi
from codex_manager_core.api.jobs import JobsApi
from codex_manager_core.api.runtime import EventsApi, EventsServerApi, RuntimeApi, RuntimeServerApi
from codex_manager_core.api.server import (
    ApprovalsServerApi,
    ControlsServerApi,
    JobsServerApi,
    ServerApi,
    SessionsServerApi,
    SuggestionsServerApi,
    TranscriptServerApi,
    TurnsServerApi,
)
from codex_manager_core.api.sessions import ProjectsApi, SessionsApi, TranscriptApi, TurnsApi
from codex_manager_core.api.suggestions import SuggestionsApi
from codex_manager_core.api.workers import AgentsApi, WorkersApi

if TYPE_CHECKING:
    from codex_manager_core.manager import Manager
    from codex_manager_core.services.health import ManagerHealth
    from codex_manager_core.services.session_scope import SessionScope


class ManagerApi(Protocol):
    """The whole surface: `Manager` embedded, the remote client over HTTP."""

    @property
    def sessions(self) -> SessionsApi: ...
    @property
    def projects(self) -> ProjectsApi: ...
    @property
    def turns(self) -> TurnsApi: ...
    @property
    def controls(self) -> ControlsApi: ...
    @property
    def settings(self) -> SettingsApi: ...
    @property
    def requests(self) -> RequestsApi: ...
    @property
    def approvals(self) -> ApprovalsApi: ...
    @property
    def tool_input(self) -> ToolInputApi: ...
    @property
    def tool_calls(self) -> ToolCallsApi: ...
    @property
    def transcript(self) -> TranscriptApi: ...
    @property
    def events(self) -> EventsApi: ...
    @property
    def runtime(self) -> RuntimeApi: ...
    @property
    def jobs(self) -> JobsApi: ...
    @property
    def suggestions(self) -> SuggestionsApi: ...
    @property
    def agents(self) -> AgentsApi: ...
    @property
    def workers(self) -> WorkersApi: ...
    @property
    def extensions(self) -> ExtensionsApi: ...

    def session(self, session_id: str) -> SessionScope:
        """The calls about one session, bound to its id."""
        ...

    async def health(self, *, cached: bool = False) -> ManagerHealth:
        """Runtime state, store and ledger figures, and whether the store takes writes."""
        ...


if TYPE_CHECKING:

    def _the_manager_is_a_manager_api(manager: Manager) -> ManagerApi:
        return manager  # mypy: Manager conforms to the protocol


__all__ = [
    "AgentsApi",
    "ApprovalsApi",
    "ApprovalsServerApi",
    "ControlsApi",
    "ControlsServerApi",
    "EventsApi",
    "EventsServerApi",
    "ExtensionsApi",
    "JobsApi",
    "JobsServerApi",
    "ManagerApi",
    "ProjectsApi",
    "RequestsApi",
    "RuntimeApi",
    "RuntimeServerApi",
    "ServerApi",
    "SessionsApi",
    "SessionsServerApi",
    "SettingsApi",
    "SuggestionsApi",
    "SuggestionsServerApi",
    "ToolCallsApi",
    "ToolInputApi",
    "TranscriptApi",
    "TranscriptServerApi",
    "TurnsApi",
    "TurnsServerApi",
    "WorkersApi",
]
