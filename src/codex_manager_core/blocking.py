"""The async api as plain calls: open in one notebook cell (or script line), call, close in
another, with no `await` and no event loop of your own.

    cm = Manager.start("./data")                   # embedded, or
    cm = codex_manager_client.connect("http://127.0.0.1:3001", token=...)   # remote
    record = cm.sessions.create(title="x")
    cm.turns.send(record.session_id, "hello")
    cm.close()

The api runs in a background thread with its own event loop (anyio's blocking portal);
every call is sent to that loop and waited for. An async context manager must be left by
the task that entered it, which is why a notebook cannot keep `async with Manager.open()`
open across cells: here the portal's task enters and leaves it.

Typed: each group of `ServerApi` has a wrapper whose methods are declared once, from the
protocol's own (`sync(SessionsServerApi.create)`): mypy sees their real arguments and
results. Any other attribute (the embedded Manager's other groups and calls) is reached
untyped through `__getattr__`.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, TypeVar, overload

import attrs
from anyio.from_thread import BlockingPortal, start_blocking_portal

from codex_manager_core.api.controls import SettingsApi, ToolCallsApi, ToolInputApi
from codex_manager_core.api.runtime import EventsServerApi, RuntimeServerApi
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
from codex_manager_core.api.sessions import ProjectsApi
from codex_manager_core.errors import InvalidState

if TYPE_CHECKING:
    from codex_manager_core.services.health import ManagerHealth

P = ParamSpec("P")
R = TypeVar("R")
A = TypeVar("A", bound="ServerApi")


class Closed(InvalidState):
    """A call on a blocking api after `close()`."""

    code = "closed"


class Group:
    """One group of the api, its async calls made blocking through `portal`."""

    def __init__(self, owner: Blocking[Any], target: Any) -> None:
        self._owner = owner
        self._target = target

    def __repr__(self) -> str:
        return f"<blocking {self._target!r}>"

    def __getattr__(self, name: str) -> Any:
        return self._owner.wrap(getattr(self._target, name))


class sync(Generic[P, R]):
    """A group method made blocking, typed from the protocol's async method."""

    def __init__(self, method: Callable[Concatenate[Any, P], Awaitable[R]]) -> None:
        self._name = method.__name__

    @overload
    def __get__(self, group: None, owner: type[Group]) -> sync[P, R]: ...
    @overload
    def __get__(self, group: Group, owner: type[Group]) -> Callable[P, R]: ...

    def __get__(self, group: Group | None, owner: type[Group]) -> sync[P, R] | Callable[P, R]:
        if group is None:
            return self
        call: Callable[P, R] = group._owner.blocking_call(getattr(group._target, self._name))
        return call


class BlockingSessions(Group):
    create = sync(SessionsServerApi.create)
    start = sync(SessionsServerApi.start)
    list = sync(SessionsServerApi.list)
    get = sync(SessionsServerApi.get)
    detail = sync(SessionsServerApi.detail)
    thread = sync(SessionsServerApi.thread)
    read_thread = sync(SessionsServerApi.read_thread)
    rename = sync(SessionsServerApi.rename)
    archive = sync(SessionsServerApi.archive)
    unarchive = sync(SessionsServerApi.unarchive)
    resume = sync(SessionsServerApi.resume)
    delete = sync(SessionsServerApi.delete)
    fork = sync(SessionsServerApi.fork)
    compact = sync(SessionsServerApi.compact)
    rollback = sync(SessionsServerApi.rollback)
    review = sync(SessionsServerApi.review)
    clean_background_terminals = sync(SessionsServerApi.clean_background_terminals)


class BlockingProjects(Group):
    agent_sessions = sync(ProjectsApi.agent_sessions)
    create = sync(ProjectsApi.create)
    list = sync(ProjectsApi.list)
    get = sync(ProjectsApi.get)
    rename = sync(ProjectsApi.rename)
    delete = sync(ProjectsApi.delete)
    assign_session = sync(ProjectsApi.assign_session)
    move_sessions = sync(ProjectsApi.move_sessions)
    delete_sessions = sync(ProjectsApi.delete_sessions)


class BlockingTurns(Group):
    send = sync(TurnsServerApi.send)
    wait = sync(TurnsServerApi.wait)
    send_and_wait = sync(TurnsServerApi.send_and_wait)
    interrupt = sync(TurnsServerApi.interrupt)
    steer = sync(TurnsServerApi.steer)


class BlockingTranscript(Group):
    get = sync(TranscriptServerApi.get)
    upsert = sync(TranscriptServerApi.upsert)


class BlockingControls(Group):
    get = sync(ControlsServerApi.get)
    apply = sync(ControlsServerApi.apply)
    set_approval_policy = sync(ControlsServerApi.set_approval_policy)


class BlockingSettings(Group):
    get = sync(SettingsApi.get)
    get_key = sync(SettingsApi.get_key)
    set = sync(SettingsApi.set)
    update = sync(SettingsApi.update)
    unset = sync(SettingsApi.unset)


class BlockingApprovals(Group):
    list = sync(ApprovalsServerApi.list)
    decide = sync(ApprovalsServerApi.decide)


class BlockingToolInput(Group):
    list = sync(ToolInputApi.list)
    answer = sync(ToolInputApi.answer)


class BlockingToolCalls(Group):
    list = sync(ToolCallsApi.list)
    respond = sync(ToolCallsApi.respond)


class BlockingEvents(Group):
    read = sync(EventsServerApi.read)


class BlockingRuntime(Group):
    capabilities = sync(RuntimeServerApi.capabilities)
    list_models = sync(RuntimeServerApi.list_models)
    list_experimental_features = sync(RuntimeServerApi.list_experimental_features)
    list_collaboration_modes = sync(RuntimeServerApi.list_collaboration_modes)
    list_apps = sync(RuntimeServerApi.list_apps)
    list_skills = sync(RuntimeServerApi.list_skills)
    list_mcp_servers = sync(RuntimeServerApi.list_mcp_servers)
    read_config = sync(RuntimeServerApi.read_config)
    read_config_requirements = sync(RuntimeServerApi.read_config_requirements)
    write_skill_config = sync(RuntimeServerApi.write_skill_config)
    read_remote_skills = sync(RuntimeServerApi.read_remote_skills)
    write_remote_skills = sync(RuntimeServerApi.write_remote_skills)
    reload_mcp = sync(RuntimeServerApi.reload_mcp)
    mcp_oauth_login = sync(RuntimeServerApi.mcp_oauth_login)
    write_config_value = sync(RuntimeServerApi.write_config_value)
    write_config_batch = sync(RuntimeServerApi.write_config_batch)
    exec_command = sync(RuntimeServerApi.exec_command)
    upload_feedback = sync(RuntimeServerApi.upload_feedback)
    read_account = sync(RuntimeServerApi.read_account)
    login_start = sync(RuntimeServerApi.login_start)
    login_cancel = sync(RuntimeServerApi.login_cancel)
    logout = sync(RuntimeServerApi.logout)
    read_rate_limits = sync(RuntimeServerApi.read_rate_limits)


class BlockingJobs(Group):
    get = sync(JobsServerApi.get)
    list = sync(JobsServerApi.list)
    cancel = sync(JobsServerApi.cancel)
    wait = sync(JobsServerApi.wait)


class BlockingSuggestions(Group):
    upsert = sync(SuggestionsServerApi.upsert)
    enqueue = sync(SuggestionsServerApi.enqueue)
    request = sync(SuggestionsServerApi.request)


class Blocking(Generic[A]):
    """An async api (`Manager`, `RemoteManager`) opened in a background event loop thread,
    with every call blocking. `close()` (idempotent) or use it as a context manager.

    `api` is the async object itself (its calls must run in that loop: use `call`)."""

    def __init__(
        self, opener: Callable[[], AbstractAsyncContextManager[A]], *, backend: str = "asyncio"
    ) -> None:
        self._lock = threading.Lock()
        self._closed = False
        self._portal_cm: AbstractContextManager[BlockingPortal] = start_blocking_portal(backend)
        self._portal = self._portal_cm.__enter__()
        try:
            self._api_cm = self._portal.wrap_async_context_manager(opener())
            self.api: A = self._api_cm.__enter__()
        except BaseException:
            self._portal_cm.__exit__(None, None, None)
            raise
        self.sessions = BlockingSessions(self, _group(self.api, "sessions"))
        self.projects = BlockingProjects(self, _group(self.api, "projects"))
        self.turns = BlockingTurns(self, _group(self.api, "turns"))
        self.transcript = BlockingTranscript(self, _group(self.api, "transcript"))
        self.controls = BlockingControls(self, _group(self.api, "controls"))
        self.settings = BlockingSettings(self, _group(self.api, "settings"))
        self.approvals = BlockingApprovals(self, _group(self.api, "approvals"))
        self.tool_input = BlockingToolInput(self, _group(self.api, "tool_input"))
        self.tool_calls = BlockingToolCalls(self, _group(self.api, "tool_calls"))
        self.events = BlockingEvents(self, _group(self.api, "events"))
        self.runtime = BlockingRuntime(self, _group(self.api, "runtime"))
        self.jobs = BlockingJobs(self, _group(self.api, "jobs"))
        self.suggestions = BlockingSuggestions(self, _group(self.api, "suggestions"))

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<blocking {self.api!r} ({state})>"

    def __getattr__(self, name: str) -> Any:
        """Any other group or call of the api (untyped): `cm.extensions.list()`."""
        return self.wrap(getattr(self.api, name))

    def wrap(self, value: Any) -> Any:
        """A call made blocking, a data value as it is, any other object (a sub-group) as
        a `Group`."""
        if callable(value):
            return self.blocking_call(value)
        if value is None or isinstance(value, _DATA) or attrs.has(type(value)):
            return value
        return Group(self, value)

    def call(self, function: Callable[..., Awaitable[R]], *args: Any, **kwargs: Any) -> R:
        """`await function(*args, **kwargs)` in the api's loop, blocking until it ends."""
        if self._closed:
            raise Closed("this api is closed; open a new one")
        result: R = self._portal.call(functools.partial(_run, function, *args, **kwargs))
        return result

    def blocking_call(self, function: Callable[P, Awaitable[R]]) -> Callable[P, R]:
        """`function` as a blocking call (a sync result is returned as it is)."""

        @functools.wraps(function)
        def call(*args: P.args, **kwargs: P.kwargs) -> R:
            return self.call(function, *args, **kwargs)

        return call

    def session(self, session_id: str) -> Group:
        """The calls about one session (`SessionScope`), blocking."""
        return Group(self, self.api.session(session_id))

    def health(self) -> ManagerHealth:
        return self.call(self.api.health)

    def close(self) -> None:
        """Close the api (leaving its `async with`) and stop the loop thread. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            self._api_cm.__exit__(None, None, None)
        finally:
            self._portal_cm.__exit__(None, None, None)

    def __enter__(self) -> Blocking[A]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


_DATA = (str, bytes, int, float, bool, tuple, list, dict, set, frozenset)


async def _run(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    result = function(*args, **kwargs)
    if isinstance(result, Awaitable):
        return await result
    return result


def _group(api: Any, name: str) -> Any:
    return getattr(api, name)
