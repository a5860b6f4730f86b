"""`RemoteManager`: the embedded Manager's calls against a codex-manager server.

    async with RemoteManager(server="http://127.0.0.1:3001", token=...) as cm:
        session = await cm.sessions.create(title="x")
        handle = await cm.turns.send(session.session_id, "hello")

It implements `codex_manager_core.api.server.ServerApi` (mypy checks it at the bottom):
the same group names, arguments and typed results as the embedded `Manager` (its attrs
records, rebuilt by `decode`), the same errors (`codex_manager_client.errors` are the
core's), one `httpx.AsyncClient` for every call. Each group lives in its own module.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

import httpx

from codex_manager_client import decode
from codex_manager_client.remote_controls import (
    RemoteApprovals,
    RemoteControls,
    RemoteSettings,
    RemoteToolCalls,
    RemoteToolInput,
)
from codex_manager_client.remote_queue import RemoteExtensions, RemoteJobs, RemoteSuggestions
from codex_manager_client.remote_runtime import RemoteEvents, RemoteRuntime
from codex_manager_client.remote_sessions import (
    RemoteProjects,
    RemoteSessions,
    RemoteTranscript,
)
from codex_manager_client.remote_turns import RemoteTurns
from codex_manager_client.target import Target
from codex_manager_client.transport import Transport
from codex_manager_core import ManagerHealth, SessionScope


class RemoteManager:
    """A codex-manager server, with the embedded Manager's groups.

    `target` (or `server` / `token` / `timeout`, each overriding the environment's
    `Target.from_env()`); `client`: an httpx.AsyncClient to use instead of its own (then
    not closed here).
    """

    def __init__(
        self,
        target: Target | None = None,
        *,
        server: str | None = None,
        token: str | None = None,
        timeout: float | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        base = target or Target.from_env()
        self.target = Target(
            server=server or base.server,
            token=token if token is not None else base.token,
            timeout=timeout if timeout is not None else base.timeout,
            api_prefix=base.api_prefix,
            headers=base.headers,
        )
        self._http = Transport(self.target, client)
        self._sessions = RemoteSessions(self._http)
        self._projects = RemoteProjects(self._http)
        self._turns = RemoteTurns(self._http)
        self._transcript = RemoteTranscript(self._http)
        self._controls = RemoteControls(self._http)
        self._settings = RemoteSettings(self._http)
        self._approvals = RemoteApprovals(self._http)
        self._tool_input = RemoteToolInput(self._http)
        self._tool_calls = RemoteToolCalls(self._http)
        self._events = RemoteEvents(self._http)
        self._runtime = RemoteRuntime(self._http)
        self._jobs = RemoteJobs(self._http)
        self._suggestions = RemoteSuggestions(self._http)
        self._extensions = RemoteExtensions(self._http)

    def __repr__(self) -> str:
        return f"<RemoteManager {self.target.server}>"

    async def __aenter__(self) -> RemoteManager:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client (idempotent)."""
        await self._http.aclose()

    @property
    def http(self) -> httpx.AsyncClient:
        """The one HTTP client every call uses (the event stream shares it)."""
        return self._http.client

    @property
    def sessions(self) -> RemoteSessions:
        return self._sessions

    @property
    def projects(self) -> RemoteProjects:
        return self._projects

    @property
    def turns(self) -> RemoteTurns:
        return self._turns

    @property
    def transcript(self) -> RemoteTranscript:
        return self._transcript

    @property
    def controls(self) -> RemoteControls:
        return self._controls

    @property
    def settings(self) -> RemoteSettings:
        return self._settings

    @property
    def approvals(self) -> RemoteApprovals:
        return self._approvals

    @property
    def tool_input(self) -> RemoteToolInput:
        return self._tool_input

    @property
    def tool_calls(self) -> RemoteToolCalls:
        return self._tool_calls

    @property
    def events(self) -> RemoteEvents:
        return self._events

    @property
    def runtime(self) -> RemoteRuntime:
        return self._runtime

    @property
    def jobs(self) -> RemoteJobs:
        return self._jobs

    @property
    def suggestions(self) -> RemoteSuggestions:
        return self._suggestions

    @property
    def extensions(self) -> RemoteExtensions:
        return self._extensions

    def session(self, session_id: str) -> SessionScope:
        """The calls about one session, bound to its id (the core's `SessionScope`)."""
        return SessionScope(self, session_id)

    async def health(self, *, cached: bool = False) -> ManagerHealth:
        """The server's health (its runtime, store, ledger and queue figures)."""
        del cached  # the server caches its figures for a few seconds either way
        answer = await self._http.call("GET", "/health")
        return decode.structure(decode.field(answer, "record"), ManagerHealth)


if TYPE_CHECKING:
    from codex_manager_core.api.server import ServerApi

    def _the_remote_manager_is_a_server_api(manager: RemoteManager) -> ServerApi:
        return manager  # mypy: RemoteManager conforms to the protocol
