"""How the manager is doing, in one call: the runtime, the store and the ledger, whether the
store takes writes, and whether codex has credentials to work with (`manager.health()`).

Hosts answer health checks often and must answer at once, so the store's row counts (a
query) are kept in memory: `cached=True` answers from figures at most a few seconds old
(of the Clock), reading them again only when they are older. The queue's live figures
(queued, running, owners) come from the runner's in-memory index, exact and free; its
ended jobs (kept by retention) are counted with the store's figures.
"""

from __future__ import annotations

import logging
import os
from typing import Final

import attrs

from codex_manager_core.events.ledger import LedgerStats, StorageHealth
from codex_manager_core.ports.store import StoreStats
from codex_manager_core.queue.index import QueueIndex
from codex_manager_core.queue.model import JobState
from codex_manager_core.runtime.supervisor import RuntimeHealth
from codex_manager_core.services.context import ServiceContext

logger = logging.getLogger("codex_manager_core.manager")

#: How old the cached store figures may be (seconds of the Clock).
STATS_MAX_AGE: Final = 5.0


@attrs.frozen
class AuthState:
    """Whether codex has something to log in to the model with."""

    api_key: bool
    """OPENAI_API_KEY or CODEX_API_KEY is in the runtime's environment."""
    auth_file: bool
    """CODEX_HOME holds an auth.json (a ChatGPT or API-key login)."""

    @property
    def likely_unauthenticated(self) -> bool:
        return not (self.api_key or self.auth_file)


@attrs.frozen
class QueueHealth:
    """The job queue now: live jobs (exact) and the ended jobs kept (as of the store's
    figures)."""

    queued: int
    running: int
    completed: int
    failed: int
    canceled: int
    owners: int
    """Owners (projects, `session:<id>`) with queued or running jobs."""


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
    last_seq: int = 0
    """The last event's seq."""
    auth: AuthState = AuthState(api_key=False, auth_file=False)
    queue: QueueHealth | None = None
    """None where the Manager has no queue index to read (a bare HealthService)."""


class HealthService:
    def __init__(self, ctx: ServiceContext, queue: QueueIndex | None = None) -> None:
        self._ctx = ctx
        self._queue = queue
        self._ended: dict[JobState, int] = {}
        self._stats: StoreStats | None = None
        self._stats_at: float | None = None

    async def health(self, *, cached: bool = False) -> ManagerHealth:
        """Answers at once, also while the runtime is starting or has failed, and while the
        store refuses writes. `cached`: the store's figures as of the last refresh (at
        most a few seconds old) instead of a query now."""
        ctx = self._ctx
        age = None if self._stats_at is None else ctx.clock.monotonic() - self._stats_at
        fresh = cached and age is not None and age < STATS_MAX_AGE
        if fresh:
            stats = self._stats
        else:
            # A store that cannot be read (an I/O error, busy): health still answers, with
            # the last figures when those are what was asked for.
            stats = await self._read_stats(quiet=cached)
            if stats is None and cached:
                stats = self._stats
        env = ctx.config.runtime_env if ctx.config.runtime_env is not None else os.environ
        return ManagerHealth(
            runtime=ctx.supervisor.health,
            store=stats,
            ledger=ctx.ledger.stats,
            subscribers=ctx.bus.subscriber_count,
            data_dir=str(ctx.data_dir) if ctx.data_dir else None,
            codex_home=str(ctx.codex_home) if ctx.codex_home else None,
            storage=ctx.ledger.storage,
            last_seq=ctx.bus.last_seq,
            auth=AuthState(
                api_key=bool(env.get("OPENAI_API_KEY") or env.get("CODEX_API_KEY")),
                auth_file=await ctx.home.has_auth(),
            ),
            queue=self._queue_health(),
        )

    def _queue_health(self) -> QueueHealth | None:
        index = self._queue
        if index is None:
            return None
        running = index.running_count()
        return QueueHealth(
            queued=index.live_count() - running,
            running=running,
            completed=self._ended.get(JobState.COMPLETED, 0),
            failed=self._ended.get(JobState.FAILED, 0),
            canceled=self._ended.get(JobState.CANCELED, 0),
            owners=index.owner_count(),
        )

    async def _read_stats(self, *, quiet: bool = False) -> StoreStats | None:
        try:
            self._stats = await self._ctx.store.stats()
            if self._queue is not None:
                self._ended = dict(await self._ctx.store.count_jobs(None))
        except Exception as exc:  # e.g. an I/O error: health must still answer
            log = logger.debug if quiet else logger.warning
            log("could not read the store's figures: %s", exc)
            return None
        self._stats_at = self._ctx.clock.monotonic()
        return self._stats
