"""What every domain service is built with: the ServiceContext.

Each service (sessions, projects, turns, ...) is an object with explicit dependencies: this
context (the ledger writer, the runtime caller, the clock, the bus, store reads and the
caches) plus the other services it calls, passed to its constructor by the composition root
(`manager.py`). Nothing here knows a domain beyond the session records every service reads.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import anyio
import anyio.abc
import attrs

from codex_manager_core.config import ManagerConfig
from codex_manager_core.errors import (
    AuthRequired,
    CallTimeout,
    CodexManagerError,
    InvalidInput,
    InvalidState,
    MethodNotSupported,
    NotFound,
    RpcError,
    RuntimeCallFailed,
)
from codex_manager_core.events.bus import EventBus
from codex_manager_core.events.ledger import Ledger
from codex_manager_core.keyed_locks import KeyedLocks
from codex_manager_core.models import (
    Event,
    EventDraft,
    JsonObject,
)
from codex_manager_core.ports import Clock, Store
from codex_manager_core.ports.codex_home import CodexHome
from codex_manager_core.ports.store import Batch, Mutation
from codex_manager_core.runtime.supervisor import Supervisor
from codex_manager_core.thread_ids import ThreadIds
from codex_manager_core.tools import ToolRegistry

if TYPE_CHECKING:
    from codex_manager_core.services.records import SessionRecords

logger = logging.getLogger("codex_manager_core.manager")


#: Words in a runtime error that say the call conflicts with the thread's state (a turn is
#: running, or the call does not fit it): 409 like the original's "turn in progress".
_STATE_CONFLICTS: Final = (
    "turn is in progress",
    "turn in progress",
    "already in progress",
    "activeturn",  # e.g. "failed to submit turn input: ActiveTurnOutputSchemaMismatch"
)
#: Words of a codex "internal error" (-32603) that is in fact about the request's values,
#: e.g. command/exec with a missing `cwd` or a NUL byte ("failed to spawn command: No such
#: file or directory", "... nul byte found in provided data").
_REQUEST_FAULTS: Final = ("failed to spawn command", "nul byte")


def map_runtime_error(method: str, exc: RpcError | CallTimeout) -> CodexManagerError:
    """Turn a runtime error into the Manager's typed error, following the original's
    mapping (unknown method 501, bad params 400, runtime state 409, timeout 504) with one
    difference: what the runtime cannot do for reasons of its own is `RuntimeCallFailed`
    (HTTP 502, a failure upstream), never an internal error of ours."""
    if isinstance(exc, CallTimeout):
        return exc  # already typed (code codex_timeout, HTTP 504)
    text = exc.rpc_message.lower()
    if "unknown variant" in text or exc.rpc_code == -32601 or "experimental" in text:
        return MethodNotSupported(method)
    if exc.rpc_code == -32602 or "missing field" in text or "invalid type" in text:
        return InvalidInput(
            f"codex app-server rejected the parameters of {method!r}: {exc.rpc_message}",
            code="invalid_params",
        )
    if "unauthorized" in text or "not logged in" in text or "authentication required" in text:
        return AuthRequired(
            f"codex is not logged in ({exc.rpc_message}); log in first (account login: an "
            "API key or ChatGPT), then retry"
        )
    if "not found" in text or "no rollout" in text:
        return NotFound(f"codex app-server: {exc.rpc_message}", code="not_found")
    if any(words in text for words in _STATE_CONFLICTS):
        return InvalidState(f"codex app-server refused {method!r}: {exc.rpc_message}")
    if any(words in text for words in _REQUEST_FAULTS):
        return InvalidInput(
            f"codex app-server could not do {method!r} with these values: {exc.rpc_message}",
            code="invalid_params",
        )
    if exc.rpc_code == -32600:
        return InvalidState(f"codex app-server refused {method!r}: {exc.rpc_message}")
    return RuntimeCallFailed(f"codex app-server failed {method!r}: {exc.rpc_message}")


#: Runtime calls that start work whose events we must store: refused while the store
#: refuses writes (disk full, read-only).
STARTS_WORK = frozenset(
    {
        "thread/start",
        "thread/fork",
        "turn/start",
        "turn/steer",
        "review/start",
        "thread/compact/start",
        "thread/revert",
        "thread/rollback",
    }
)

_ID = re.compile(r"^[A-Za-z0-9._:-]{1,200}$")


def check_id(value: object, what: str) -> str:
    """Ids come from URLs and JSON: refuse anything that is not a plain short token."""
    if not isinstance(value, str) or not _ID.match(value):
        raise InvalidInput(
            f"{what} must be a string of 1-200 letters, digits or ._:- (got {value!r})",
            issues=[{"path": [what], "message": "invalid id"}],
        )
    return value


async def is_absolute_directory(path: str) -> bool:
    """Whether `path` names an existing directory absolutely. The runtime takes any string
    for a cwd (a relative one against its own) and fails only when it runs something:
    paths it is given are checked here first."""
    return os.path.isabs(path) and await anyio.Path(path).is_dir()


@attrs.define
class ManagerState:
    """What the Manager knows about the runtime process generations."""

    generation: int = 0
    """Durable number of the current runtime process (0 before the first is ready)."""
    generations: dict[int, int] = attrs.Factory(dict)
    """Supervisor epoch -> durable generation."""
    loaded_threads: set[str] = attrs.Factory(set)
    """Threads loaded in the current runtime process (others need thread/resume)."""
    pending_turns: dict[str, tuple[str, float]] = attrs.Factory(dict)
    """The last turn send_message started, per session, and when (clock.monotonic()): until
    the runtime announces it, the turn an interrupt targets and a second message waits for."""
    turn_starts: KeyedLocks = attrs.Factory(KeyedLocks)
    """Held while a message of the session starts its turn (one at a time)."""
    thread_loads: KeyedLocks = attrs.Factory(KeyedLocks)
    """Held while the session's thread is loaded into the runtime (session_threads.py)."""
    kept_rollouts_lock: anyio.Lock = attrs.Factory(anyio.Lock)
    """Serializes changes to the list of rollouts kept for forks (thread_files.py)."""


@attrs.define(eq=False)
class ServiceContext:
    """The shared means of every domain service. Built once by `Manager.open`; the task
    group is attached when the Manager's background tasks start."""

    config: ManagerConfig
    store: Store
    """Reads (writes go through the ledger, with their events)."""
    ledger: Ledger
    bus: EventBus
    supervisor: Supervisor
    clock: Clock
    tools: ToolRegistry
    threads: ThreadIds
    records: SessionRecords
    home: CodexHome
    """CODEX_HOME's files and the codex binary's protocol schema (the domain's only disk)."""
    state: ManagerState = attrs.Factory(ManagerState)
    data_dir: Path | None = None
    codex_home: Path | None = None
    tasks: anyio.abc.TaskGroup | None = None

    async def write(
        self, mutations: Iterable[Mutation] = (), events: Iterable[EventDraft] = ()
    ) -> list[Event]:
        """State changes and the events that describe them, as one transaction."""
        return await self.ledger.write(Batch(tuple(mutations), tuple(events)))

    def event(
        self,
        type_: str,
        thread_id: str | None,
        payload: Any,
        *,
        system: bool = False,
    ) -> EventDraft:
        return EventDraft(type_, thread_id, payload, self.now(), system=system)

    def now(self) -> datetime:
        return self.clock.utcnow()

    async def call(self, method: str, params: Any = None, *, timeout: float | None = None) -> Any:
        """Call the runtime, mapping its errors to the Manager's typed errors. A session's
        thread is addressed by the session id; `ThreadIds` translates both ways."""
        if method in STARTS_WORK:
            # Its events could only be held in memory: refuse it (StoreUnavailable, 507).
            await self.ledger.ensure_writable()
        threads = self.threads
        try:
            result = await self.supervisor.request(
                method, threads.outgoing(params), timeout=timeout
            )
        except RpcError as exc:
            raise map_runtime_error(method, exc) from exc
        return threads.incoming(result)

    async def call_object(
        self, method: str, params: Any = None, *, timeout: float | None = None
    ) -> JsonObject:
        """`call` for methods that answer with a JSON object (a thread, a turn, ...): any
        other answer is the runtime's failure, reported as such, not a crash of ours."""
        result = await self.call(method, params, timeout=timeout)
        if not isinstance(result, Mapping):
            raise RuntimeCallFailed(
                f"codex app-server answered {method!r} with {type(result).__name__}, not an object"
            )
        return result

    def spawn(self, name: str, coro_fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Run background work owned by the Manager (ends with it); failures are logged."""

        async def guarded() -> None:
            try:
                await coro_fn(*args)
            except Exception:
                logger.exception("background task %s failed", name)

        if self.tasks is None:
            raise RuntimeError("the manager's background tasks have not started")
        self.tasks.start_soon(guarded, name=name)
