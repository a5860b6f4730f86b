"""`Manager`: the whole product as one in-process object, and its composition root.

    async with Manager.open(data_dir=".data") as manager:
        session = await manager.sessions.create(title="Demo")
        reply = await manager.turns.send_and_wait(session.session_id, "Hello")

`Manager.open` builds the pieces (store, ledger writer, event bus, runtime supervisor), one
`ServiceContext` holding them, and one service per domain concept over that context
(`services/`). The Manager is the facade that groups them: `manager.sessions`,
`manager.projects`, `manager.turns`, `manager.controls`, `manager.settings`,
`manager.approvals`, `manager.tool_input`, `manager.tool_calls`, `manager.requests`,
`manager.transcript`, `manager.runtime`, `manager.events`, `manager.jobs`,
`manager.suggestions`, `manager.agents`, `manager.workers`, `manager.actions` (the action
executor) with `manager.worker_tools`, `manager.extensions` (docs/extensions.md), and `manager.session(id)` for one session. Hosts
(HTTP, CLI) are thin translations of these calls. See docs/embedded.md.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from codex_manager_core import rpc
from codex_manager_core.actions import ActionExecutor, WorkerTools
from codex_manager_core.config import ManagerConfig
from codex_manager_core.data_dir import DataDirLock, prepare_data_dir
from codex_manager_core.errors import BinaryNotFound, InvalidInput
from codex_manager_core.events.bus import EventBus
from codex_manager_core.events.ledger import Ledger, RetryBackoff, StorageHealth
from codex_manager_core.extensions.dispatch import ExtensionDispatcher
from codex_manager_core.ports import (
    Clock,
    RuntimeProcess,
    RuntimeTransport,
    Store,
    SystemClock,
)
from codex_manager_core.ports.codex_home import CodexHome
from codex_manager_core.ports.store import RequestQuery
from codex_manager_core.queue.agents import AgentRegistry, registry_for
from codex_manager_core.runtime.client import InitializeResult
from codex_manager_core.runtime.codex_home import CodexHomeDir, import_user_auth
from codex_manager_core.runtime.stdio import LogSettings, codex_app_server_transport
from codex_manager_core.runtime.supervisor import ExitRecord, Supervisor
from codex_manager_core.services.agent_jobs import AgentJobs
from codex_manager_core.services.context import ServiceContext
from codex_manager_core.services.controls import ControlsService
from codex_manager_core.services.events import EventsService
from codex_manager_core.services.extensions import ExtensionsService
from codex_manager_core.services.health import HealthService, ManagerHealth
from codex_manager_core.services.jobs import JobsService
from codex_manager_core.services.notifications import RuntimeEvents
from codex_manager_core.services.projects import ProjectsService
from codex_manager_core.services.records import SessionRecords
from codex_manager_core.services.request_intake import RequestIntake
from codex_manager_core.services.request_lifecycle import RequestLifecycle
from codex_manager_core.services.request_rules import OPEN
from codex_manager_core.services.requests import (
    ApprovalsService,
    RequestsService,
    ToolCallsService,
    ToolInputService,
)
from codex_manager_core.services.runtime_api import RuntimeService
from codex_manager_core.services.session_scope import SessionScope
from codex_manager_core.services.session_threads import SessionThreads
from codex_manager_core.services.sessions import SessionsService
from codex_manager_core.services.settings import SettingsService
from codex_manager_core.services.suggestions import SuggestionsService
from codex_manager_core.services.thread_files import ThreadFiles
from codex_manager_core.services.transcript import TranscriptService
from codex_manager_core.services.turns import TurnsService
from codex_manager_core.services.workers import WorkersService
from codex_manager_core.thread_ids import ThreadIds
from codex_manager_core.tools import ToolRegistry

if TYPE_CHECKING:
    from codex_manager_core.blocking import Blocking

logger = logging.getLogger("codex_manager_core.manager")


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


class Manager:
    """The embedded codex-manager. Create it with `Manager.open(...)`."""

    sessions: SessionsService
    """Create, list, read, rename, archive, fork, delete sessions."""
    projects: ProjectsService
    turns: TurnsService
    """Send messages, wait for turns, interrupt and steer them."""
    controls: ControlsService
    """Model, approval policy and sandbox: the defaults and each session's."""
    settings: SettingsService
    requests: RequestsService
    """Every interactive request (approvals, questions, tool calls), read-only by kind."""
    approvals: ApprovalsService
    tool_input: ToolInputService
    tool_calls: ToolCallsService
    transcript: TranscriptService
    runtime: RuntimeService
    """The runtime itself: readiness, restart, capabilities and codex's own methods."""
    events: EventsService
    """The ordered event ledger: subscribe, read, handlers, compaction."""
    jobs: JobsService
    """The durable job queue: job types, enqueue, read, cancel, wait (docs/queue.md)."""
    suggestions: SuggestionsService
    """Suggested next requests, written by queue jobs (docs/queue.md)."""
    agents: AgentRegistry
    """Agent definitions: how each kind of worker runs (built-ins, configured, registered)."""
    workers: WorkersService
    """The hidden worker session of each (owner, agent) pair, made on first use."""
    actions: ActionExecutor
    """The one executor of actions (worker tools, action intents, extensions): scoped,
    idempotent, recorded (docs/queue.md, "Actions and worker tools")."""
    worker_tools: WorkerTools
    """The dynamic tools of worker sessions: `specs()` for their thread/start, and
    `set_scope_resolver(...)` (the queue tells which job runs on which worker)."""
    extensions: ExtensionsService
    """Extensions: discovery, loading, trust, reload and its audit (docs/extensions.md)."""
    extension_dispatcher: ExtensionDispatcher
    """Extension events to their handlers (docs/extensions.md, "Dispatch and actions"):
    `emit(event)`, `recent()`, `set_providers(...)` (the loader's snapshot and trust)."""
    tools: ToolRegistry
    """Python functions the model can call (declared per session with `tools=[...]`)."""
    context: ServiceContext
    """What the services share (store, ledger, bus, supervisor, clock): for tests and tools
    that look inside; applications use the groups above."""

    def __init__(self) -> None:
        raise TypeError("use `async with Manager.open(...) as manager:`")

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def start(
        cls,
        data_dir: str | Path | None = None,
        *,
        store: Store | None = None,
        config: ManagerConfig | None = None,
        transport: RuntimeTransport | None = None,
        tools: ToolRegistry | None = None,
        clock: Clock | None = None,
        home: CodexHome | None = None,
        backend: str = "asyncio",
    ) -> Blocking[Manager]:
        """`Manager.open(...)` with blocking calls, for a notebook or a script without
        async: it runs in a background event loop thread (`codex_manager_core.blocking`).
        Open it in one cell, call `cm.sessions.create()`, `close()` it in another."""
        from codex_manager_core.blocking import Blocking

        def opener() -> AbstractAsyncContextManager[Manager]:
            return cls.open(
                data_dir,
                store=store,
                config=config,
                transport=transport,
                tools=tools,
                clock=clock,
                home=home,
            )

        return Blocking(opener, backend=backend)

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
        home: CodexHome | None = None,
    ) -> AsyncIterator[Manager]:
        """Open a manager. With `data_dir` everything is durable there (the SQLite store,
        the runtime's CODEX_HOME, logs); with `store=MemoryStore()` and no data_dir it is
        ephemeral (CODEX_HOME in a temporary folder removed on exit). `transport` replaces
        the codex subprocess (tests, fault injection), `home` its files on disk (CODEX_HOME and
        the binary's protocol schema: `testing.MemoryCodexHome` in tests).

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
                    import_user_auth(codex_home)
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
                    home,
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
        home: CodexHome | None,
    ) -> AsyncIterator[Manager]:
        await store.open()
        try:
            manager = object.__new__(cls)
            bus = EventBus(store, last_seq=await store.last_seq(), buffer=config.subscriber_buffer)
            ledger = Ledger(
                store,
                bus,
                clock=clock,
                max_held_events=config.max_held_events,
                backoff=RetryBackoff(config.store_retry_initial, config.store_retry_max),
            )
            threads = ThreadIds()

            # The supervisor calls back into services that are built over a context holding
            # the supervisor: the callbacks find them on the manager once it is composed
            # (before the supervisor starts, so before any callback).
            async def on_notification(epoch: int, notification: rpc.Notification) -> None:
                await manager._runtime_events.on_notification(epoch, notification)

            async def on_server_request(epoch: int, request: rpc.ServerRequest) -> Any:
                return await manager._intake.on_server_request(epoch, request)

            async def on_ready(epoch: int, init: InitializeResult) -> None:
                await manager._runtime_events.on_ready(epoch, init)

            async def on_exit(record: ExitRecord) -> None:
                await manager._runtime_events.on_exit(record)

            supervisor = Supervisor(
                transport,
                client_info=config.client_info,
                experimental_api=config.experimental_api,
                call_timeout=config.call_timeout,
                initialize_timeout=config.initialize_timeout,
                ready_timeout=config.ready_timeout,
                restart=config.restart,
                retry=config.retry,
                clock=clock,
                on_notification=on_notification,
                on_server_request=on_server_request,
                on_ready=on_ready,
                on_exit=on_exit,
            )
            ctx = ServiceContext(
                config=config,
                store=store,
                ledger=ledger,
                bus=bus,
                supervisor=supervisor,
                clock=clock,
                tools=tools,
                threads=threads,
                records=SessionRecords(store, ledger, threads, clock),
                home=home
                or CodexHomeDir(
                    codex_home,
                    codex_bin=config.codex_bin,
                    env=config.runtime_env,
                    cache_dir=data_dir,
                ),
                data_dir=data_dir,
                codex_home=codex_home,
            )
            manager._compose(ctx)
            async with anyio.create_task_group() as core:
                await core.start(ledger.run)
                try:
                    async with anyio.create_task_group() as background:
                        ctx.tasks = background
                        # Extensions first (lenient: a bad one is skipped), so before any
                        # event of this process flows: recovery's, the runtime's.
                        await manager.extensions.load_initial()
                        # Nothing a previous process left open can still be answered,
                        # not even an answer that was being sent when it stopped.
                        await manager._lifecycle.expire(
                            RequestQuery(),
                            "codex-manager restarted; the runtime process that asked is gone",
                            statuses=OPEN,
                        )
                        if config.delta_retention is not None:
                            background.start_soon(manager.events.compaction_loop)
                        # Recovery (jobs a previous process left running) before the
                        # Manager is handed out; the runner then waits to be woken.
                        await background.start(manager.jobs.runner.run)
                        if config.extension_dispatch:
                            await background.start(manager.extension_dispatcher.run)
                        try:
                            async with supervisor:
                                try:
                                    yield manager
                                finally:
                                    # Before the runtime stops: running jobs may still need
                                    # it to end by themselves.
                                    await _drain_jobs(manager, config.queue_shutdown_drain)
                        finally:
                            background.cancel_scope.cancel()
                            with anyio.CancelScope(shield=True):
                                # Process-isolated extensions' children end with us.
                                await manager.extensions.aclose()
                finally:
                    # Everything queued is written before the store closes.
                    await ledger.close()
        finally:
            await store.close()

    def _compose(self, ctx: ServiceContext) -> None:
        """Build the services over `ctx`, each given the others it calls."""
        self.context = ctx
        self.tools = ctx.tools
        self._lifecycle = lifecycle = RequestLifecycle(ctx)
        self.controls = controls = ControlsService(ctx)
        self.settings = SettingsService(ctx, controls)
        session_threads = SessionThreads(ctx)
        self.transcript = transcript = TranscriptService(ctx, session_threads)
        self.sessions = sessions = SessionsService(
            ctx,
            controls=controls,
            session_threads=session_threads,
            thread_files=ThreadFiles(ctx),
            lifecycle=lifecycle,
            transcript=transcript,
        )
        self.projects = ProjectsService(ctx, sessions)
        self.agents = agents = registry_for(ctx.config.agents)
        self.workers = WorkersService(ctx, sessions, agents)
        self.turns = turns = TurnsService(ctx, controls=controls, session_threads=session_threads)
        self.requests = requests = RequestsService(ctx, lifecycle)
        self.approvals = ApprovalsService(requests)
        self.tool_input = ToolInputService(requests)
        self.tool_calls = ToolCallsService(requests)
        self.runtime = RuntimeService(ctx)
        self.events = EventsService(ctx)

        async def interrupt_turn(thread_id: str, turn_id: str) -> None:
            # A worker session's id is its thread id (`turns.interrupt` refuses workers).
            await turns.interrupt_worker(thread_id, turn_id)

        self.jobs = jobs = JobsService(ctx, self, interrupt_turn)
        self.suggestions = SuggestionsService(ctx, jobs, transcript)
        self._health = HealthService(ctx, jobs.runner.index)
        self._runtime_events = RuntimeEvents(ctx, lifecycle)
        self.actions = ActionExecutor(ctx, self)
        self.worker_tools = worker_tools = WorkerTools(self.actions)
        self.workers.set_dynamic_tools(worker_tools.specs)
        self._intake = RequestIntake(ctx, lifecycle, worker_tools)
        self._agent_jobs = AgentJobs(
            ctx,
            agents=agents,
            workers=self.workers,
            turns=turns,
            transcript=transcript,
            executor=self.actions,
            worker_tools=worker_tools,
            suggestions=self.suggestions,
        )
        jobs.register(self._agent_jobs.job_type())
        self.extensions = extensions = ExtensionsService(
            ctx.config, ctx.store, ctx.clock, agents, write=ctx.ledger.write
        )
        self.extension_dispatcher = ExtensionDispatcher(
            ctx,
            executor=self.actions,
            jobs=jobs,
            settings=self.settings,
            subscriptions_for=extensions.subscriptions_for,
            action_allowed=extensions.action_allowed,
        )
        if ctx.config.extension_dispatch:
            # Suggested requests go through the extensions (the supervisor enqueues the
            # job); with dispatch off, the built-in handler stays.
            self.suggestions.use_extensions(self.extension_dispatcher.emit)

    # ------------------------------------------------------------------ one session

    def session(self, session_id: str) -> SessionScope:
        """The calls about one session, bound to its id (nothing is checked until a call
        is made): `manager.session(id).send("...")`, `.settings.set(...)`, ..."""
        return SessionScope(self, session_id)

    # ------------------------------------------------------------------ status

    async def health(self, *, cached: bool = False) -> ManagerHealth:
        """Runtime state, store and ledger figures, whether the store takes writes, and
        whether codex has credentials. Answers at once, also while the runtime is starting
        or has failed, and while the store refuses writes. `cached`: the store's row counts
        as of the last refresh (a few seconds old at most) instead of a query now."""
        return await self._health.health(cached=cached)

    # ------------------------------------------------------------------ engine room
    # The parts the services share, for tests, benchmarks and diagnostics.

    @property
    def config(self) -> ManagerConfig:
        return self.context.config

    @property
    def store(self) -> Store:
        return self.context.store

    @property
    def ledger(self) -> Ledger:
        return self.context.ledger

    @property
    def bus(self) -> EventBus:
        return self.context.bus

    @property
    def supervisor(self) -> Supervisor:
        return self.context.supervisor

    @property
    def data_dir(self) -> Path | None:
        return self.context.data_dir

    @property
    def codex_home(self) -> Path | None:
        return self.context.codex_home


async def _drain_jobs(manager: Manager, seconds: float) -> None:
    """The job runner's bounded drain, shielded: it runs also when the Manager closes
    because its block was cancelled. The Manager's clock bounds it (tests drive it with
    FakeClock); real time bounds it too, so a fake clock nobody advances cannot hold the
    close forever."""
    with anyio.CancelScope(shield=True), anyio.move_on_after(max(0.0, seconds) + 5.0):
        await manager.jobs.runner.drain(seconds)


__all__ = ["Manager", "ManagerHealth", "StorageHealth"]
