"""Counters of the queue since this process started: retries, jobs ended per state and how
long jobs took from enqueue to end, for `/api/metrics` (hosts read them; the core keeps
them because only it sees every job write).

Counted from the `orchestrator_job_*` events of each committed write (`job_events.write`),
so a retry is what the event says it is (`retry: true`), not guessed from the states.
Sans-IO and pure, like the index it hangs from.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Final

from codex_manager_core.queue.model import Job, JobState

#: Upper bounds (seconds) of the latency histogram's buckets (Prometheus `le`).
LATENCY_BUCKETS: Final = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 1800.0, 3600.0)

_END_EVENTS: Final = {
    "orchestrator_job_completed": JobState.COMPLETED,
    "orchestrator_job_failed": JobState.FAILED,
    "orchestrator_job_canceled": JobState.CANCELED,
}
_QUEUED_EVENT: Final = "orchestrator_job_queued"


class QueueStats:
    def __init__(self) -> None:
        self.enqueued = 0
        """Jobs added (not joined, dropped or merged into another)."""
        self.retries = 0
        """Attempts that failed and were queued again."""
        self.ended: dict[JobState, int] = {state: 0 for state in _END_EVENTS.values()}
        self.latency_buckets = [0] * len(LATENCY_BUCKETS)
        """Jobs ended within each bucket's bound (not cumulative; `cumulative()` is)."""
        self.latency_count = 0
        self.latency_sum = 0.0

    def observe(
        self, events: Iterable[Any], job_before: Callable[[str], Job | None], now: datetime
    ) -> None:
        """Count a committed write's job events. `job_before` gives the live job as it was
        before the write (its `created_at` starts the latency)."""
        for event in events:
            payload = getattr(event, "payload", None)
            if not isinstance(payload, Mapping):
                continue
            kind = getattr(event, "type", None)
            if kind == _QUEUED_EVENT:
                if payload.get("retry") is True:
                    self.retries += 1
                elif not payload.get("merged") and not payload.get("recovered"):
                    self.enqueued += 1
                continue
            state = _END_EVENTS.get(str(kind))
            if state is None:
                continue
            self.ended[state] += 1
            job_id = payload.get("jobId")
            job = job_before(job_id) if isinstance(job_id, str) else None
            if job is not None:
                self._latency(max(0.0, (now - job.created_at).total_seconds()))

    def _latency(self, seconds: float) -> None:
        self.latency_count += 1
        self.latency_sum += seconds
        at = bisect.bisect_left(LATENCY_BUCKETS, seconds)
        if at < len(LATENCY_BUCKETS):
            self.latency_buckets[at] += 1

    def cumulative(self) -> list[tuple[float, int]]:
        """(bound, jobs ended within it) per bucket, as Prometheus histograms count."""
        total, out = 0, []
        for bound, count in zip(LATENCY_BUCKETS, self.latency_buckets, strict=True):
            total += count
            out.append((bound, total))
        return out


__all__ = ["LATENCY_BUCKETS", "QueueStats"]
