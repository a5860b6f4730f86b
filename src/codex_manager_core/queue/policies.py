"""A job type's policies: dedupe, retry and cancel, each with its pure decision.

Separate from the job type itself (`definitions.py`) because the runner and the queue
service consult them on their own (whether to enqueue a duplicate, whether and when to
retry a failure, how to cancel), and each decision is a function of facts alone, so it is
tested without a store, a runtime or a clock.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from typing import Any, Literal, Protocol

import attrs

from codex_manager_core.errors import CallTimeout, RuntimeUnavailable, TimedOut
from codex_manager_core.queue.model import Job, JobState

# ---------------------------------------------------------------- dedupe


class DedupeMode(enum.StrEnum):
    """What enqueueing a job does when jobs with the same dedupe key exist (the original's
    four modes)."""

    SINGLE_FLIGHT = "single_flight"
    """One job per key in flight (queued or running): a new one joins the existing job."""
    DROP_DUPLICATE = "drop_duplicate"
    """A new job is dropped while one with its key is still queued (a running one does not
    count: the new job may need to see what the running one is changing)."""
    MERGE_DUPLICATE = "merge_duplicate"
    """A new job's payload is merged into the queued one with its key (`DedupePolicy.merge`)."""
    NONE = "none"
    """No dedupe: every enqueue adds a job."""


def _check_merge(policy: DedupePolicy, attribute: Any, merge: Any) -> None:
    # `merge` exists exactly for merge_duplicate: without it that mode cannot work, and with
    # another mode it would silently never run.
    if (policy.mode is DedupeMode.MERGE_DUPLICATE) != (merge is not None):
        raise ValueError("DedupePolicy.merge is required with merge_duplicate, and only then")
    if policy.mode is not DedupeMode.NONE and policy.key is None:
        raise ValueError(f"DedupePolicy mode {policy.mode.value} needs a key function")


@attrs.frozen
class DedupePolicy:
    """`key(payload)`: the dedupe key of a payload (None: this job is not deduped);
    `merge(queued_payload, new_payload)`: the merged payload, for merge_duplicate."""

    mode: DedupeMode = attrs.field(default=DedupeMode.NONE, converter=DedupeMode)
    key: Callable[[Any], str | None] | None = None
    merge: Callable[[Any, Any], Any] | None = attrs.field(default=None, validator=_check_merge)


class DedupeAction(enum.StrEnum):
    ENQUEUE = "enqueue"
    """Add the new job."""
    JOIN = "join"
    """single_flight: the in-flight job (queued or running) stands for the new one."""
    DROP = "drop"
    """drop_duplicate: a queued job with the key exists; the new one is not added."""
    MERGE = "merge"
    """merge_duplicate: merge the new payload into the queued job's."""


@attrs.frozen
class DedupeDecision:
    action: DedupeAction
    existing: Job | None = None
    """The job that stands for the new one (JOIN, DROP) or takes its payload (MERGE)."""


def dedupe_decision(existing: Sequence[Job], mode: DedupeMode) -> DedupeDecision:
    """What enqueueing does, given the jobs that already have the new job's dedupe key (in
    any state; terminal ones never count). With several candidates the oldest wins."""
    live = sorted(
        (job for job in existing if not job.state.terminal),
        key=lambda job: (job.created_at, job.job_id),
    )
    queued = [job for job in live if job.state is JobState.QUEUED]
    if mode is DedupeMode.SINGLE_FLIGHT and live:
        return DedupeDecision(DedupeAction.JOIN, live[0])
    if mode is DedupeMode.DROP_DUPLICATE and queued:
        return DedupeDecision(DedupeAction.DROP, queued[0])
    if mode is DedupeMode.MERGE_DUPLICATE and queued:
        return DedupeDecision(DedupeAction.MERGE, queued[0])
    return DedupeDecision(DedupeAction.ENQUEUE)


# ---------------------------------------------------------------- retry

Classification = Literal["retryable", "fatal"]

DEFAULT_RETRYABLE: tuple[type[BaseException], ...] = (CallTimeout, RuntimeUnavailable, TimedOut)
"""Typed errors worth another attempt: the runtime was away or slow. Everything else (a
refused request, an invalid payload, a bug) fails the same way again, so it is fatal."""


class Random(Protocol):
    """What `RetryPolicy.delay` needs of a random source (`random.Random` fits): seedable
    in tests, so jitter is checked exactly."""

    def random(self) -> float: ...


@attrs.frozen
class RetryPolicy:
    """How many attempts a job gets, which failures earn another, and the wait before it.

    `max_attempts` counts the first attempt (the original's default, 2: one retry).
    `retryable`: exception classes (subclasses included) that are retryable; `classifier`,
    when given, decides instead. `delay(attempt)`: `base_delay * 2**(attempt-1)` seconds,
    capped at `max_delay`, then shortened by up to `jitter` of itself at random, so jobs that
    failed together do not all retry at the same instant."""

    max_attempts: int = attrs.field(default=2, validator=attrs.validators.ge(1))
    retryable: tuple[type[BaseException], ...] = DEFAULT_RETRYABLE
    classifier: Callable[[BaseException], Classification] | None = None
    base_delay: float = attrs.field(default=0.5, validator=attrs.validators.ge(0))
    max_delay: float = attrs.field(default=30.0, validator=attrs.validators.ge(0))
    jitter: float = attrs.field(
        default=0.2, validator=[attrs.validators.ge(0), attrs.validators.le(1)]
    )

    def classify(self, exc: BaseException) -> Classification:
        if self.classifier is not None:
            return self.classifier(exc)
        return "retryable" if isinstance(exc, self.retryable) else "fatal"

    def should_retry(self, attempt: int, exc: BaseException) -> bool:
        """Whether attempt number `attempt` (1-based), failing with `exc`, earns another."""
        return attempt < self.max_attempts and self.classify(exc) == "retryable"

    def delay(self, attempt: int, rng: Random) -> float:
        """Seconds to wait after attempt number `attempt` (1-based) failed."""
        # min() before the power would overflow: 2**1100 as a float raises.
        exponent = min(max(attempt, 1) - 1, 64)
        full = min(self.max_delay, self.base_delay * 2.0**exponent)
        return full * (1.0 - self.jitter * rng.random())


# ---------------------------------------------------------------- cancel


class CancelStrategy(enum.StrEnum):
    INTERRUPT_TURN = "interrupt_turn"
    """Interrupt the worker's running turn, wait up to `graceful_wait` for it to end, then
    abort the job: the turn ends cleanly when it can."""
    MARK_CANCELED = "mark_canceled"
    """Abort the job at once."""


@attrs.frozen
class CancelPolicy:
    """How a running job is canceled (a queued one is always canceled at once)."""

    strategy: CancelStrategy = attrs.field(
        default=CancelStrategy.INTERRUPT_TURN, converter=CancelStrategy
    )
    graceful_wait: float = attrs.field(default=1.5, validator=attrs.validators.ge(0))


__all__ = [
    "DEFAULT_RETRYABLE",
    "CancelPolicy",
    "CancelStrategy",
    "Classification",
    "DedupeAction",
    "DedupeDecision",
    "DedupeMode",
    "DedupePolicy",
    "Random",
    "RetryPolicy",
    "dedupe_decision",
]
