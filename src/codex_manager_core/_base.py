"""State and helpers shared by the Manager's domain mixins (projects, sessions, ...).

The Manager is split by domain into mixins over this base, so each concept lives in one
module while users see one object. Only the Manager writes to its store, so it keeps an
in-memory copy of session records (the hot path reads them for every notification).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import anyio
import anyio.abc
import attrs

from codex_manager_core.config import ManagerConfig
from codex_manager_core.errors import (
    AuthRequired,
    CallTimeout,
    Gone,
    InvalidInput,
    InvalidState,
    ManagerError,
    MethodNotSupported,
    NotFound,
    RpcError,
    RuntimeCallFailed,
    RuntimeTimedOut,
    SystemSessionForbidden,
)
from codex_manager_core.events.bus import EventBus
from codex_manager_core.events.ledger import Ledger
from codex_manager_core.keyed_locks import KeyedLocks
from codex_manager_core.models import (
    Event,
    EventDraft,
    Project,
    RequestStatus,
    SessionRecord,
    Tombstone,
    utcnow,
)
from codex_manager_core.ports import Clock, Store
from codex_manager_core.runtime.supervisor import Supervisor
from codex_manager_core.store.batch import (
    Batch,
    Mutation,
    PatchSession,
    PutSession,
    RequestQuery,
)
from codex_manager_core.thread_ids import ThreadIds
from codex_manager_core.tools import ToolRegistry

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


def map_runtime_error(method: str, exc: RpcError | CallTimeout) -> ManagerError:
    """Turn a runtime error into the Manager's typed error, following the original's
    mapping (unknown method 501, bad params 400, runtime state 409, timeout 504) with one
    difference: what the runtime cannot do for reasons of its own is `RuntimeCallFailed`
    (HTTP 502, a failure upstream), never an internal error of ours."""
    if isinstance(exc, CallTimeout):
        return RuntimeTimedOut(str(exc))
    text = exc.rpc_message.lower()
    if "unknown variant" in text or exc.code == -32601 or "experimental" in text:
        return MethodNotSupported(method)
    if exc.code == -32602 or "missing field" in text or "invalid type" in text:
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
    if exc.code == -32600:
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


class ManagerBase:
    """The shared state. Attributes are set by `Manager.open`."""

    config: ManagerConfig
    store: Store
    bus: EventBus
    ledger: Ledger
    supervisor: Supervisor
    clock: Clock
    tools: ToolRegistry
    data_dir: Path | None
    codex_home: Path | None
    _tasks: anyio.abc.TaskGroup
    _state: ManagerState
    _sessions: dict[str, SessionRecord]
    _tombstones: dict[str, Tombstone]
    _unknown_threads: set[str]
    _threads: ThreadIds

    # ------------------------------------------------------------------ cross-domain
    # Implemented by the domain mixins (which come before this base in the Manager's MRO);
    # declared here so each mixin can call the others' methods type-checked.

    async def get_project(self, project_id: str) -> Project:
        raise NotImplementedError

    async def delete_session(self, session_id: str) -> int:
        raise NotImplementedError

    async def _archive(self, session_id: str) -> None:
        raise NotImplementedError

    async def read_thread(self, session_id: str, *, include_turns: bool = True) -> Any:
        raise NotImplementedError

    async def _expire_requests(
        self,
        query: RequestQuery,
        reason: str,
        *,
        to_status: RequestStatus = RequestStatus.EXPIRED,
        statuses: tuple[RequestStatus, ...] = (RequestStatus.PENDING,),
    ) -> int:
        raise NotImplementedError

    # ------------------------------------------------------------------ writing

    async def _write(
        self, mutations: Iterable[Mutation] = (), events: Iterable[EventDraft] = ()
    ) -> list[Event]:
        return await self.ledger.write(Batch(tuple(mutations), tuple(events)))

    def _event(
        self,
        type_: str,
        thread_id: str | None,
        payload: Any,
        *,
        system: bool = False,
    ) -> EventDraft:
        return EventDraft(type_, thread_id, payload, self._now(), system=system)

    def _now(self) -> Any:
        return utcnow()

    async def _save_session(
        self, record: SessionRecord, events: Sequence[EventDraft] = (), *extra: Mutation
    ) -> list[Event]:
        self._sessions[record.session_id] = record
        self._threads.bind(record.session_id, record.runtime_thread_id)
        self._unknown_threads.discard(record.session_id)
        try:
            return await self._write([PutSession(record), *extra], events)
        except BaseException:
            self._sessions.pop(record.session_id, None)
            raise

    async def _patch_session(
        self,
        session_id: str,
        changes: Mapping[str, Any],
        events: Sequence[EventDraft] = (),
        *extra: Mutation,
    ) -> SessionRecord | None:
        """Change fields of a session (in the cache at once, in the store with `events`)."""
        current = self._sessions.get(session_id) or await self.store.get_session(session_id)
        if current is None:
            if events or extra:
                await self._write(extra, events)
            return None
        updated = attrs.evolve(current, **changes)
        self._sessions[session_id] = updated
        try:
            await self._write([PatchSession(session_id, dict(changes)), *extra], events)
        except BaseException:
            self._sessions.pop(session_id, None)
            raise
        return updated

    async def _update_session(self, session_id: str, changes: Mapping[str, Any]) -> SessionRecord:
        """Change a session and announce it (`session_updated`) in the same transaction."""
        from codex_manager_core.views import session_view

        current = await self._session(session_id)
        updated = attrs.evolve(current, **changes)
        event = self._event(
            "session_updated",
            session_id,
            {"session": session_view(updated)},
            system=updated.system_owned,
        )
        result = await self._patch_session(session_id, changes, [event])
        return result if result is not None else updated

    # ------------------------------------------------------------------ reading

    async def _find_session(self, session_id: str) -> SessionRecord | None:
        record = self._sessions.get(session_id)
        if record is None:
            stored = await self.store.get_session(session_id)
            # While we awaited, the cache may have got a newer record: it wins. A delete
            # may have begun meanwhile (tombstone set, its store write still queued): then
            # the stored row is stale and must not come back into the cache.
            record = self._sessions.get(session_id)
            if record is None and stored is not None and session_id not in self._tombstones:
                record = self._sessions[session_id] = stored
                self._threads.bind(session_id, stored.runtime_thread_id)
        return record

    async def _tombstone(self, session_id: str) -> Tombstone | None:
        tombstone = self._tombstones.get(session_id)
        if tombstone is None:
            tombstone = await self.store.get_tombstone(session_id)
            if tombstone is not None:
                self._tombstones[session_id] = tombstone
        return tombstone

    async def _session(self, session_id: str, *, allow_system: bool = True) -> SessionRecord:
        """The session, or NotFound / Gone / SystemSessionForbidden."""
        check_id(session_id, "sessionId")
        record = await self._find_session(session_id)
        if record is None:
            tombstone = await self._tombstone(session_id)
            if tombstone is not None:
                raise Gone(session_id, tombstone.title, tombstone.deleted_at)
            raise NotFound(f"no session {session_id!r}; list sessions to see the ids")
        if record.system_owned and not allow_system:
            raise SystemSessionForbidden(
                f"session {session_id} is system-owned (a queue worker); it can be read "
                "but not changed"
            )
        return record

    # ------------------------------------------------------------------ runtime

    async def _call(self, method: str, params: Any = None, *, timeout: float | None = None) -> Any:
        """Call the runtime, mapping its errors to the Manager's typed errors. A session's
        thread is addressed by the session id; `ThreadIds` translates both ways."""
        if method in STARTS_WORK:
            # Its events could only be held in memory: refuse it (StoreUnavailable, 507).
            await self.ledger.ensure_writable()
        threads = self._threads
        try:
            result = await self.supervisor.request(
                method, threads.outgoing(params), timeout=timeout
            )
        except (RpcError, CallTimeout) as exc:
            raise map_runtime_error(method, exc) from exc
        return threads.incoming(result)

    def _spawn(self, name: str, coro_fn: Any, *args: Any) -> None:
        """Run background work owned by the Manager (ends with it); failures are logged."""

        async def guarded() -> None:
            try:
                await coro_fn(*args)
            except Exception:
                logger.exception("background task %s failed", name)

        self._tasks.start_soon(guarded, name=name)
