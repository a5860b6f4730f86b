"""MemoryStore, domain "workers": the (owner, agent) -> worker session table in memory,
kept beside `memory.py` (which composes it). Records go through `codec.WORKERS` as in
SqliteStore, and writes through the batch's `Undo` log."""

from __future__ import annotations

from codex_manager_core.ports.store.workers import (
    DeleteWorkers,
    PutWorker,
    WorkerMutation,
    WorkerRecord,
)
from codex_manager_core.store import codec
from codex_manager_core.store.memory_undo import Undo


class MemoryWorkers:
    def __init__(self) -> None:
        self._workers: dict[tuple[str, str], WorkerRecord] = {}

    def mutate(self, mutation: WorkerMutation, undo: Undo) -> None:
        match mutation:
            case PutWorker(record):
                canonical = codec.WORKERS.canonical(record)
                undo.set(self._workers, (canonical.owner, canonical.agent), canonical)
            case DeleteWorkers(owner, agent):
                codec.check_str(owner, "worker.owner")
                if agent is not None:
                    codec.check_str(agent, "worker.agent")
                for key in [k for k in self._workers if k[0] == owner and agent in (None, k[1])]:
                    undo.delete(self._workers, key)

    def get(self, owner: str, agent: str) -> WorkerRecord | None:
        return self._workers.get((owner, agent))

    def of_owner(self, owner: str) -> list[WorkerRecord]:
        return sorted(
            (record for (o, _a), record in self._workers.items() if o == owner),
            key=lambda record: record.agent,
        )
