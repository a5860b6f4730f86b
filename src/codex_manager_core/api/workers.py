"""The protocols of `manager.agents` (agent definitions) and `manager.workers` (the hidden
worker session of each (owner, agent) pair): docs/queue.md, "Worker sessions and agents"."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from codex_manager_core.queue.agents import AgentDefinition
    from codex_manager_core.services.workers import Worker


class AgentsApi(Protocol):
    """`manager.agents`: the built-ins (`default`, `supervisor`), the configured ones and
    those registered at run time (an extension's)."""

    def register(self, definition: AgentDefinition, *, replace: bool = False) -> AgentDefinition:
        """Add an agent (Conflict `agent_exists` for a known name unless `replace`)."""
        ...

    def get(self, name: str) -> AgentDefinition:
        """The agent, or NotFound `unknown_agent` naming the known ones."""
        ...

    def list(self) -> builtins.list[AgentDefinition]:
        """Every agent, by name."""
        ...

    def names(self) -> builtins.list[str]: ...


class WorkersApi(Protocol):
    """`manager.workers`: one system-owned session per (owner, agent), made on first use."""

    async def ensure(
        self, owner: str, agent: str, *, source_session_id: str | None = None
    ) -> Worker:
        """The worker of (owner, agent); `created` is True when this call made its thread."""
        ...

    async def invalidate(self, worker: Worker) -> None:
        """Forget a worker whose thread is gone (its session is deleted)."""
        ...

    async def list(self, owner: str) -> builtins.list[Worker]: ...

    def is_stale_thread_error(self, exc: BaseException) -> bool:
        """True when `exc` says the worker's thread no longer exists in the runtime."""
        ...


__all__ = ["AgentsApi", "WorkersApi"]
