"""Worker sessions (`manager.workers`): the hidden thread a job of an owner runs its agent on.

A job that needs the model (a suggested reply, a supervisor's review) must not talk in the
user's chat, nor start a fresh thread every time (each would pay the orientation again and
lose what the worker learnt). So each (owner, agent) pair has ONE system-owned session,
provisioned the first time it is needed and reused by every later job, also after a
restart: the mapping is in the store's "workers" domain. When its thread turns out to be
gone (its files were removed: `is_stale_thread_error`), the job invalidates the worker and
the next `ensure` provisions a new one.

`ensure` holds a per-(owner, agent) lock (`KeyedLocks`) across the look-up and the
provisioning, so jobs of one owner that start together still make one thread.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Final

import attrs

from codex_manager_core.errors import Gone, InvalidInput, NotFound, RpcError
from codex_manager_core.keyed_locks import KeyedLocks
from codex_manager_core.models import JsonObject, SessionRecord
from codex_manager_core.ports.store import DeleteWorkers, PutWorker, WorkerRecord
from codex_manager_core.queue.agents import AgentDefinition, AgentRegistry
from codex_manager_core.services.context import ServiceContext, check_id
from codex_manager_core.services.projects import require_project
from codex_manager_core.services.session_rules import MAX_TITLE

if TYPE_CHECKING:
    from codex_manager_core.services.sessions import SessionsService

logger = logging.getLogger(__name__)

SESSION_OWNER_PREFIX: Final = "session:"
#: What the runtime says about a thread whose files are gone (`thread/resume`: "no rollout
#: found for thread id ..."; `turn/start` on an unknown thread: "thread not found: ...").
_STALE_TEXTS: Final = ("no rollout found", "thread not found")

DynamicToolsProvider = Callable[[], Sequence[JsonObject]]


@attrs.frozen
class Worker:
    session_id: str
    owner: str
    agent: str
    created: bool
    """True when this `ensure` provisioned the thread (the caller sends its orientation)."""


def is_stale_thread_error(exc: BaseException) -> bool:
    """True when `exc` says the worker's thread is gone from the runtime (its rollout was
    removed): the runtime's "thread not found" / "no rollout found", as
    `map_runtime_error` gives them (NotFound `not_found` from "codex app-server: ...") or
    raw (`RpcError`). Any other error, also our own NotFound for an unknown session, is not
    stale: invalidating on it would throw a working worker away."""
    if isinstance(exc, RpcError):
        text = exc.rpc_message
    elif isinstance(exc, NotFound) and exc.code == "not_found":
        text = str(exc)
        if not text.startswith("codex app-server:"):
            return False
    else:
        return False
    lowered = text.lower()
    return any(stale in lowered for stale in _STALE_TEXTS)


def _check_owner(owner: object) -> str:
    if not isinstance(owner, str):
        raise InvalidInput(
            f"owner must be a project id or 'session:<id>', got {owner!r}",
            issues=[{"path": ["owner"], "message": "not a string"}],
        )
    if owner.startswith(SESSION_OWNER_PREFIX):
        check_id(owner[len(SESSION_OWNER_PREFIX) :], "owner")
    else:
        check_id(owner, "owner")
    return owner


class WorkersService:
    """`manager.workers`: ensure, list and invalidate the worker sessions of owners."""

    def __init__(
        self,
        ctx: ServiceContext,
        sessions: SessionsService,
        agents: AgentRegistry,
        dynamic_tools: DynamicToolsProvider | None = None,
    ) -> None:
        self._ctx = ctx
        self._sessions = sessions
        self._agents = agents
        self._dynamic_tools = dynamic_tools
        self._locks = KeyedLocks()

    def set_dynamic_tools(self, provider: DynamicToolsProvider | None) -> None:
        """The dynamic tools every NEW worker thread declares (the worker tools); existing
        threads keep those they were created with."""
        self._dynamic_tools = provider

    async def ensure(
        self, owner: str, agent: str, *, source_session_id: str | None = None
    ) -> Worker:
        """The worker of (owner, agent), provisioned if there is none (or its session was
        deleted). `owner`: a project id or `session:<id>`; `agent`: a registered agent
        (NotFound `unknown_agent`). `source_session_id`: the session the job is about; a
        project without a working directory runs its worker in that session's cwd."""
        _check_owner(owner)
        definition = self._agents.get(agent)
        if source_session_id is not None:
            check_id(source_session_id, "source_session_id")
        # NUL cannot be in an owner or an agent name: the key is unambiguous.
        async with self._locks.hold(f"{owner}\x00{agent}"):
            record = await self._ctx.store.get_worker(owner, agent)
            if record is not None:
                if await self._ctx.records.find(record.session_id) is not None:
                    return Worker(record.session_id, owner, agent, created=False)
                logger.info(
                    "worker %s of %s: session %s is gone; provisioning a new one",
                    agent,
                    owner,
                    record.session_id,
                )
            session = await self._provision(owner, definition, source_session_id)
            await self._ctx.write(
                [PutWorker(WorkerRecord(owner, agent, session.session_id, self._ctx.now()))]
            )
            return Worker(session.session_id, owner, agent, created=True)

    async def _provision(
        self, owner: str, agent: AgentDefinition, source_session_id: str | None
    ) -> SessionRecord:
        project_id: str | None = None
        cwd: str | None = None
        if owner.startswith(SESSION_OWNER_PREFIX):
            source = await self._ctx.records.get(owner[len(SESSION_OWNER_PREFIX) :])
            label, cwd = source.title, source.cwd
        else:
            project = await require_project(self._ctx.store, owner)
            project_id, label, cwd = owner, project.name, project.working_directory
            if cwd is None and source_session_id is not None:
                source_record = await self._ctx.records.find(source_session_id)
                cwd = source_record.cwd if source_record is not None else None
        if cwd is None and self._ctx.config.default_cwd is not None:
            cwd = str(self._ctx.config.default_cwd)
        title = f"{label} {agent.name}"
        if len(title) > MAX_TITLE:  # a long project name or session title: keep the agent
            title = f"{label[: MAX_TITLE - len(agent.name) - 2]}… {agent.name}"
        tools = list(self._dynamic_tools()) if self._dynamic_tools is not None else None
        return await self._sessions.create(
            cwd=cwd,
            title=title,
            project_id=project_id,
            model=agent.model,
            approval_policy=agent.approval_policy,
            network_access=agent.network_access,
            filesystem_sandbox=agent.sandbox,
            dynamic_tools=tools or None,
            system_owned=True,
        )

    async def invalidate(self, worker: Worker) -> None:
        """Forget a worker whose thread is gone, so the next `ensure` provisions a new one.
        Its session is deleted (not archived: archiving needs the rollout that is gone, and
        an archived husk would stay in the project's agent sessions for ever). A mapping
        that already points at another session (a newer worker) is left alone."""
        async with self._locks.hold(f"{worker.owner}\x00{worker.agent}"):
            record = await self._ctx.store.get_worker(worker.owner, worker.agent)
            if record is not None and record.session_id == worker.session_id:
                await self._ctx.write([DeleteWorkers(worker.owner, worker.agent)])
        try:
            await self._sessions.delete_any(worker.session_id)
        except (NotFound, Gone):
            pass  # already gone
        except Exception as exc:  # the mapping is forgotten: a leftover record is harmless
            logger.warning("deleting stale worker session %s failed: %s", worker.session_id, exc)

    async def list(self, owner: str) -> builtins.list[Worker]:
        """The workers of `owner`, by agent name."""
        _check_owner(owner)
        return [
            Worker(record.session_id, owner, record.agent, created=False)
            for record in await self._ctx.store.list_workers(owner)
        ]

    def is_stale_thread_error(self, exc: BaseException) -> bool:
        """See the module-level `is_stale_thread_error`."""
        return is_stale_thread_error(exc)


__all__ = ["Worker", "WorkersService", "is_stale_thread_error"]
