"""`Manager`: the whole product as one in-process object.

    async with Manager.open(data_dir=".data") as manager:
        session = await manager.create_session(title="Demo")
        reply = await manager.send_and_wait(session.session_id, "Hello")

It owns the runtime (through a Supervisor), the store, the ledger writer and the event bus;
the domain mixins (projects, sessions, turns, controls, requests, transcript, pass-throughs)
give it its methods. Hosts (HTTP, CLI) are thin translations of these methods.
"""

from __future__ import annotations

import inspect
import logging
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import anyio
import attrs

from codex_manager_core._base import ManagerState, check_id
from codex_manager_core.config import ManagerConfig
from codex_manager_core.data_dir import DataDirLock, prepare_data_dir
from codex_manager_core.errors import BinaryNotFound, InvalidInput, StoreUnavailable
from codex_manager_core.events.bus import EventBus, EventFilter, Subscription
from codex_manager_core.events.ledger import Ledger, LedgerStats, RetryBackoff, StorageHealth
from codex_manager_core.models import Event, Lagged
from codex_manager_core.passthrough import PassthroughMixin
from codex_manager_core.ports import (
    Clock,
    RuntimeProcess,
    RuntimeTransport,
    Store,
    SystemClock,
)
from codex_manager_core.projects import ProjectsMixin
from codex_manager_core.requests import OPEN
from codex_manager_core.runtime.stdio import LogSettings, codex_app_server_transport
from codex_manager_core.runtime.supervisor import RuntimeHealth, Supervisor
from codex_manager_core.runtime_events import RuntimeEventsMixin
from codex_manager_core.store.batch import (
    CompactDeltas,
    EventQuery,
    RequestQuery,
    StoreStats,
)
from codex_manager_core.thread_ids import ThreadIds
from codex_manager_core.tools import ToolRegistry
from codex_manager_core.transcript import TranscriptMixin
from codex_manager_core.turns import TurnsMixin

logger = logging.getLogger("codex_manager_core.manager")

Handler = TypeVar("Handler", bound=Callable[..., Any])
MAX_EVENT_PAGE = 1000


@attrs.frozen
class ManagerHealth:
    runtime: RuntimeHealth
    store: StoreStats | None
    """Row counts (None while the store cannot be read)."""
    ledger: LedgerStats
    subscribers: int
    data_dir: str | None
    codex_home: str | None
    storage: StorageHealth = StorageHealth(writable=True)
    """Whether the store takes writes; while it does not: since when, why, events held."""


class _UnavailableTransport:
    """Stands in when the codex binary cannot be found, so the manager (and its health
    endpoint) still runs and reports why the runtime failed."""

    def __init__(self, error: BinaryNotFound) -> None:
        self.error = error

    def open(self) -> Any:
        error = self.error

        @asynccontextmanager
        async def failing() -> AsyncIterator[RuntimeProcess]:
            raise error
            yield  # pragma: no cover

        return failing()


def _single_error(group: BaseExceptionGroup[BaseException]) -> Exception | None:
    """The one ordinary exception inside `group` (and its nested groups), if it holds
    exactly one and nothing else."""
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        current = pending.pop()
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        else:
            leaves.append(current)
    if len(leaves) == 1 and isinstance(leaves[0], Exception):
        return leaves[0]
    return None


def _import_user_auth(codex_home: Path) -> None:
    """Copy ~/.codex/auth.json once into our CODEX_HOME (the only read of ~/.codex)."""
    target = codex_home / "auth.json"
    source = Path.home() / ".codex" / "auth.json"
    if not target.exists() and source.is_file():
        shutil.copyfile(source, target)
        target.chmod(0o600)


class Manager(
    TurnsMixin,
    ProjectsMixin,
    TranscriptMixin,
    PassthroughMixin,
    RuntimeEventsMixin,
):
    """The embedded codex-manager. Create it with `Manager.open(...)`."""

    def __init__(self) -> None:
        raise TypeError("use `async with Manager.open(...) as manager:`")

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        data_dir: str | Path | None = None,
        *,
        store: Store | None = None,
        config: ManagerConfig | None = None,
        transport: RuntimeTransport | None = None,
        tools: ToolRegistry | None = None,
        clock: Clock | None = None,
    ) -> AsyncIterator[Manager]:
        """Open a manager. With `data_dir` everything is durable there (the SQLite store,
        the runtime's CODEX_HOME, logs); with `store=MemoryStore()` and no data_dir it is
        ephemeral (CODEX_HOME in a temporary folder removed on exit). `transport` replaces
        the codex subprocess (tests, fault injection).

        A data directory is locked for the manager's life: a second manager on it gets
        DataDirLocked. One that cannot be created or written gets DataDirUnusable; a store
        that cannot be opened for writing, StoreUnavailable."""
        config = config or ManagerConfig()
        if data_dir is None and store is None:
            raise InvalidInput(
                "give data_dir= (durable state) or store=MemoryStore() (ephemeral)",
                issues=[{"path": ["data_dir"], "message": "required without store"}],
            )
        temporary = None
        if data_dir is None:
            temporary = tempfile.TemporaryDirectory(prefix="codex-manager-")
        lock: DataDirLock | None = None
        try:
            root = prepare_data_dir(temporary.name if temporary is not None else str(data_dir))
            if data_dir is not None:
                lock = DataDirLock(root)
                lock.acquire()
            if store is None:
                from codex_manager_core.store.sqlite import SqliteStore

                store = SqliteStore(root / "manager.sqlite3")
            codex_home = (config.codex_home or root / "codex-home").absolute()
            if transport is None:
                prepare_data_dir(codex_home, warn_if_shared=False)
                if config.import_user_auth:
                    _import_user_auth(codex_home)
                try:
                    transport = codex_app_server_transport(
                        codex_home=codex_home,
                        codex_bin=config.codex_bin,
                        env=config.runtime_env,
                        strict_config=config.strict_config,
                        extra_args=config.runtime_args,
                        log=LogSettings(
                            path=root / "logs" / "app-server.stderr.log",
                            max_bytes=config.log_max_bytes,
                            backups=config.log_backups,
                        ),
                    )
                except BinaryNotFound as exc:
                    logger.error("%s", exc)
                    transport = _UnavailableTransport(exc)
            try:
                async with cls._run(
                    root if data_dir is not None else None,
                    codex_home,
                    store,
                    config,
                    transport,
                    tools or ToolRegistry(),
                    clock or SystemClock(),
                ) as manager:
                    yield manager
            except BaseExceptionGroup as group:
                # The manager's task groups wrap what crosses them, also an error of the
                # caller's own block (a TurnTimeout, a KeyError): give that back as itself.
                single = _single_error(group)
                if single is None:
                    raise
                raise single from None
        finally:
            if lock is not None:
                lock.release()
            if temporary is not None:
                temporary.cleanup()

    @classmethod
    @asynccontextmanager
    async def _run(
        cls,
        data_dir: Path | None,
        codex_home: Path,
        store: Store,
        config: ManagerConfig,
        transport: RuntimeTransport,
        tools: ToolRegistry,
        clock: Clock,
    ) -> AsyncIterator[Manager]:
        await store.open()
        try:
            manager = object.__new__(cls)
            manager.config = config
            manager.store = store
            manager.clock = clock
            manager.tools = tools
            manager.data_dir = data_dir
            manager.codex_home = codex_home
            manager._state = ManagerState()
            manager._sessions = {}
            manager._tombstones = {}
            manager._unknown_threads = set()
            manager._threads = ThreadIds()
            manager._capabilities = None
            manager.bus = EventBus(
                store, last_seq=await store.last_seq(), buffer=config.subscriber_buffer
            )
            manager.ledger = Ledger(
                store,
                manager.bus,
                clock=clock,
                max_held_events=config.max_held_events,
                backoff=RetryBackoff(config.store_retry_initial, config.store_retry_max),
            )
            manager.supervisor = Supervisor(
                transport,
                client_info=config.client_info,
                experimental_api=config.experimental_api,
                call_timeout=config.call_timeout,
                initialize_timeout=config.initialize_timeout,
                ready_timeout=config.ready_timeout,
                restart=config.restart,
                retry=config.retry,
                clock=clock,
                on_notification=manager._on_notification,
                on_server_request=manager._on_server_request,
                on_ready=manager._on_ready,
                on_exit=manager._on_exit,
            )
            async with anyio.create_task_group() as core:
                await core.start(manager.ledger.run)
                try:
                    async with anyio.create_task_group() as background:
                        manager._tasks = background
                        # Nothing a previous process left open can still be answered,
                        # not even an answer that was being sent when it stopped.
                        await manager._expire_requests(
                            RequestQuery(),
                            "codex-manager restarted; the runtime process that asked is gone",
                            statuses=OPEN,
                        )
                        if config.delta_retention is not None:
                            background.start_soon(manager._compaction_loop)
                        try:
                            async with manager.supervisor:
                                yield manager
                        finally:
                            background.cancel_scope.cancel()
                finally:
                    # Everything queued is written before the store closes.
                    await manager.ledger.close()
        finally:
            await store.close()

    # ------------------------------------------------------------------ status

    async def wait_ready(self, timeout: float | None = None) -> RuntimeHealth:
        """Wait until the runtime is ready (RuntimeUnavailable if it failed)."""
        return await self.supervisor.wait_ready(timeout)

    async def health(self) -> ManagerHealth:
        """Runtime state, store and ledger figures, and whether the store takes writes.
        Answers at once, also while the runtime is starting or has failed, and while the
        store refuses writes."""
        try:
            stats: StoreStats | None = await self.store.stats()
        except Exception as exc:  # e.g. an I/O error: health must still answer
            logger.warning("could not read the store's figures: %s", exc)
            stats = None
        return ManagerHealth(
            runtime=self.supervisor.health,
            store=stats,
            ledger=self.ledger.stats,
            subscribers=self.bus.subscriber_count,
            data_dir=str(self.data_dir) if self.data_dir else None,
            codex_home=str(self.codex_home) if self.codex_home else None,
            storage=self.ledger.storage,
        )

    async def restart_runtime(
        self, *, wait: bool = False, timeout: float | None = None
    ) -> RuntimeHealth:
        """Restart the runtime process now (history survives; threads resume on demand).
        From `failed` this starts a new round of attempts at once (the restart cap counts
        afresh). With `wait`, return once the new process is ready (RuntimeUnavailable if
        it fails, or is not ready within `timeout`, default `ready_timeout`)."""
        before = self.supervisor.epoch
        await self.supervisor.restart()
        if wait:
            return await self.supervisor.wait_restarted(before, timeout)
        return self.supervisor.health

    # ------------------------------------------------------------------ events

    def subscribe(
        self,
        *,
        thread_ids: Iterable[str] | None = None,
        types: Iterable[str] | None = None,
        since: int | None = None,
        buffer: int | None = None,
        include_thread_less: bool = False,
    ) -> Subscription:
        """Events as an async iterator: with `since`, first every stored event after that
        seq, then live ones, with no gap and no duplicate. Filters: thread ids (many) and
        type prefixes. A subscriber that falls `buffer` events behind receives
        `Lagged(seq)` and ends; subscribe again with `since=seq`."""
        thread_list = (
            None if thread_ids is None else [check_id(t, "threadId") for t in _many(thread_ids)]
        )
        type_list = None if types is None else [_check_type(t) for t in _many(types, "types")]
        if since is not None and (
            not isinstance(since, int) or isinstance(since, bool) or since < 0
        ):
            raise InvalidInput(
                f"since must be a non-negative integer, got {since!r}",
                issues=[{"path": ["since"], "message": "invalid"}],
            )
        if buffer is not None and (not isinstance(buffer, int) or buffer < 1):
            raise InvalidInput(
                "buffer must be a positive integer",
                issues=[{"path": ["buffer"], "message": "invalid"}],
            )
        return self.bus.subscribe(
            EventFilter.of(thread_list, type_list, include_thread_less=include_thread_less),
            since=since,
            buffer=buffer,
        )

    async def read_events(
        self,
        *,
        since: int = 0,
        limit: int = 100,
        thread_ids: Sequence[str] | None = None,
        types: Sequence[str] | None = None,
    ) -> list[Event]:
        """Stored events after `since` (ascending seq), at most `limit`."""
        if not isinstance(since, int) or isinstance(since, bool) or since < 0:
            raise InvalidInput(
                "since must be a non-negative integer",
                issues=[{"path": ["since"], "message": "invalid"}],
            )
        if (
            not isinstance(limit, int)
            or isinstance(limit, bool)
            or not 1 <= limit <= MAX_EVENT_PAGE
        ):
            raise InvalidInput(
                f"limit must be an integer from 1 to {MAX_EVENT_PAGE}",
                issues=[{"path": ["limit"], "message": "out of range"}],
            )
        return await self.store.read_events(
            EventQuery(
                since=since,
                limit=limit,
                thread_ids=None
                if thread_ids is None
                else frozenset(check_id(t, "threadId") for t in _many(thread_ids)),
                type_prefixes=None
                if types is None
                else tuple(_check_type(t) for t in _many(types, "types")),
            )
        )

    def on(
        self, *types: str, thread_ids: Iterable[str] | None = None
    ) -> Callable[[Handler], Handler]:
        """Decorator: call `handler(event)` (sync or async) for every live event whose type
        starts with one of `types` (all events if none). Handlers run in their own task,
        one event at a time, and their errors are logged, never raised into the manager.

            @manager.on("app_server.item.agent_message.delta")
            async def show(event): print(event.payload["params"]["delta"], end="")
        """

        def register(handler: Handler) -> Handler:
            subscription = self.subscribe(
                thread_ids=thread_ids, types=list(types) or None, include_thread_less=True
            )
            self._tasks.start_soon(
                self._run_handler, handler, subscription, name=f"handler {handler!r}"
            )
            return handler

        return register

    async def _run_handler(
        self, handler: Callable[[Event], Any], subscription: Subscription
    ) -> None:
        while True:
            async with subscription:
                async for item in subscription:
                    if isinstance(item, Lagged):
                        logger.warning(
                            "handler %r fell behind; resuming from seq %d", handler, item.seq
                        )
                        subscription = self.bus.subscribe(subscription.filter, since=item.seq)
                        break
                    try:
                        result = handler(item)
                        if inspect.isawaitable(result):
                            await result
                    except Exception:
                        logger.exception("event handler %r failed on %s", handler, item.type)
                else:
                    return

    async def compact_ledger(self, *, older_than: float | None = None) -> None:
        """Drop streaming deltas of completed items older than `older_than` seconds (default:
        the configured retention). The completed items keep their full content."""
        age = self.config.delta_retention if older_than is None else older_than
        if age is None:
            return
        await self._write([CompactDeltas(self._now() - timedelta(seconds=age))])

    async def _compaction_loop(self) -> None:
        while True:
            await anyio.sleep(self.config.compaction_interval)
            try:
                await self.compact_ledger()
            except StoreUnavailable as exc:
                logger.warning("ledger compaction skipped: %s", exc.reason)
            except Exception:
                logger.exception("ledger compaction failed")


def _many(values: Iterable[str], what: str = "threadIds") -> Iterable[str]:
    """A list of strings: a lone string would otherwise be taken letter by letter."""
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise InvalidInput(
            f"{what} must be a list of strings, got {values!r}",
            issues=[{"path": [what], "message": "not a list"}],
        )
    return values


def _check_type(value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > 200:
        raise InvalidInput(
            f"event type filters must be non-empty strings, got {value!r}",
            issues=[{"path": ["types"], "message": "invalid"}],
        )
    return value


__all__ = ["Manager", "ManagerHealth", "StorageHealth"]
