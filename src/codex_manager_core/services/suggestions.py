"""`manager.suggestions`: "suggest my next prompt", backed by the job queue.

Asking for a suggestion announces `suggest_request.requested`; a handler turns that into a
job (today the built-in one below enqueues an `agent_instruction` job for the supervisor
agent; the extension runtime of issue 10 will take this over); the worker writes its
result back with `upsert`, which keeps the state in memory and announces
`suggested_request_updated` on the session's stream. `request` waits, on the Manager's
clock, for that result up to `ManagerConfig.suggest_request_wait`, and past it answers a
heuristic fallback so the user is never left waiting (the original's deadline rule).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final, Literal

import anyio
import attrs

from codex_manager_core.errors import Conflict, NotFound, QueueFull
from codex_manager_core.events.bus import EventFilter
from codex_manager_core.extensions.api import EventContext, ExtensionEvent
from codex_manager_core.extensions.model import EmitSummary, Envelope, EnvelopeKind
from codex_manager_core.models import Lagged
from codex_manager_core.queue.model import Job, JobPriority, JobState
from codex_manager_core.services import job_events
from codex_manager_core.services.context import ServiceContext
from codex_manager_core.services.jobs import MAX_JOB_PAGE, Enqueued, JobsService
from codex_manager_core.services.suggestion_state import (
    MAX_SUGGESTION,
    SuggestionState,
    SuggestionStates,
    SuggestionStatus,
    check_options,
    check_upsert,
    context_rows,
    event_payload,
    fallback_suggestion,
    last_of,
    suggestion_job,
    transcript_text,
)
from codex_manager_core.services.transcript import TranscriptService

REQUESTED: Final = "suggest_request.requested"
DIRECT: Final = "directDispatch"
"""Set (true) in a `suggest_request.requested` ledger event the service emitted to the
extensions itself: the background dispatcher's synthesizer skips it (no second emit)."""
UPDATED: Final = "suggested_request_updated"
AGENT_INSTRUCTION: Final = "agent_instruction"
# The original's placeholder turn id when the session has no turn yet (a draft only).
_NO_TURN: Final = "suggest-request"


@attrs.frozen
class SuggestRequest:
    """What `suggest_request.requested` says (the original's event payload): what a handler
    needs to enqueue the job that writes the suggestion."""

    request_key: str
    session_id: str
    project_id: str
    turn_id: str
    user_request: str
    transcript: str
    model: str | None = None
    effort: str | None = None
    draft: str | None = None
    seq: int | None = None
    """The ledger seq of its `suggest_request.requested` event (not in the payload)."""

    def payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "requestKey": self.request_key,
            "sessionId": self.session_id,
            "projectId": self.project_id,
            "threadId": self.session_id,
            "turnId": self.turn_id,
            "userRequest": self.user_request,
            "turnTranscript": self.transcript,
        }
        for key, value in (("model", self.model), ("effort", self.effort), ("draft", self.draft)):
            if value is not None:
                payload[key] = value
        return payload


SuggestHandler = Callable[[SuggestRequest], Awaitable[Enqueued | None]]
"""Enqueues the job for a request (or returns None: nothing enqueued, a 409)."""
Emit = Callable[[ExtensionEvent], Awaitable[EmitSummary]]
"""`manager.extension_dispatcher.emit`."""


def select_enqueue_winner(summary: EmitSummary) -> Envelope | None:
    """The original's `selectEnqueueWinner`: the first `enqueued` enqueue result, else the
    first `already_queued` one, else None."""
    results = [e for e in summary.envelopes if e.kind is EnvelopeKind.ENQUEUE_RESULT]
    for wanted in ("enqueued", "already_queued"):
        for envelope in results:
            if envelope.status == wanted and isinstance(envelope.details, Mapping):
                return envelope
    return None


@attrs.frozen
class SuggestionJob:
    job_id: str
    request_key: str
    """The key the result is written under; for `already_queued`, the live job's key."""
    session_id: str
    project_id: str
    dedupe: Literal["enqueued", "already_queued"]


@attrs.frozen
class SuggestionOutcome:
    status: Literal["ok", "fallback", "queued"]
    """ok: the worker's suggestion; fallback: the deadline passed while the job ran (the
    heuristic suggestion was written and the job canceled); queued: the job had not started
    by the deadline (it still runs: its result arrives as `suggested_request_updated`)."""
    suggestion: str | None
    job: SuggestionJob

    @property
    def job_id(self) -> str:
        return self.job.job_id

    @property
    def request_key(self) -> str:
        return self.job.request_key


class SuggestionsService:
    """`manager.suggestions`."""

    def __init__(
        self, ctx: ServiceContext, jobs: JobsService, transcript: TranscriptService
    ) -> None:
        self._ctx = ctx
        self._jobs = jobs
        self._transcript = transcript
        self._states = SuggestionStates(ctx.config.suggestions_max_entries)
        # The dedupe check and the enqueue of the built-in handler are read-then-write.
        self._enqueue_lock = anyio.Lock()
        self.handler: SuggestHandler = self.enqueue_agent_instruction
        """Turns `suggest_request.requested` into a job; replace it to route the work
        elsewhere. `use_extensions` routes it through the extensions."""
        self._emit: Emit | None = None

    def use_extensions(self, emit: Emit) -> None:
        """Route requests through the extensions (the Manager does, unless
        `ManagerConfig.extension_dispatch` is off): the event is emitted directly, its
        ledger copy marked `directDispatch` so the background dispatcher skips it, and the
        winner of its enqueue results (`select_enqueue_winner`) is the job."""
        self._emit = emit
        self.handler = self.enqueue_through_extensions

    # ------------------------------------------------------------------ state

    def get(self, session_id: str, request_key: str) -> SuggestionState | None:
        """The latest state of a suggested request (None: unknown, or dropped by the cap)."""
        return self._states.get(session_id, request_key)

    async def upsert(
        self,
        session_id: str,
        request_key: str,
        status: SuggestionStatus | str,
        suggestion: str | None = None,
        error: str | None = None,
    ) -> SuggestionState:
        """Write a suggested request's state and announce it (`suggested_request_updated`).
        A terminal state (complete, error, canceled) never regresses to streaming."""
        key, checked, text, reason = check_upsert(request_key, status, suggestion, error)
        await self._ctx.records.get(session_id, allow_system=False)
        return await self._apply(session_id, key, checked, text, reason)

    async def answer(
        self, session_id: str, request_key: str, suggestion: str | None
    ) -> SuggestionState | None:
        """The worker's answer to a request (what an `agent_instruction` job with a
        `suggested_request` completion signal writes when its turn ends): `complete` with
        the text, or `error` when it answered nothing. A terminal state already there
        stands (the fallback written past the deadline, or an outside writer's): the
        original's job ended with the first terminal state, so nothing replaced it, and the
        waiting route has already answered with it. None: the session is gone."""
        text = (suggestion or "").strip()[:MAX_SUGGESTION] or None
        existing = self.get(session_id, request_key)
        if existing is not None and existing.terminal:
            return existing
        try:
            await self._ctx.records.get(session_id, allow_system=False)
        except NotFound:
            return None
        if text is None:
            return await self._apply(
                session_id, request_key, "error", None, "the worker answered no suggestion"
            )
        return await self._apply(session_id, request_key, "complete", text, None)

    async def _apply(
        self,
        session_id: str,
        request_key: str,
        status: SuggestionStatus,
        suggestion: str | None,
        error: str | None,
    ) -> SuggestionState:
        now_ms = int(self._ctx.clock.now() * 1000)
        state, changed = self._states.apply(
            session_id, request_key, status, suggestion, error, now_ms
        )
        if changed:
            await self._ctx.write(
                events=[self._ctx.event(UPDATED, session_id, event_payload(state))]
            )
        return state

    # ------------------------------------------------------------------ enqueue

    async def enqueue(
        self,
        session_id: str,
        *,
        model: str | None = None,
        effort: str | None = None,
        draft: str | None = None,
    ) -> SuggestionJob:
        """Ask for a suggestion without waiting: the job that writes it (or the live one
        already writing it: `already_queued`). Conflict `no_context` when the session has
        no user message and no draft is given; Conflict `job_conflict` when no handler
        enqueued a job; QueueFull at the queue's capacity."""
        job, _ = await self._enqueue(session_id, model, effort, draft)
        return job

    async def _enqueue(
        self, session_id: str, model: object, effort: object, draft: object
    ) -> tuple[SuggestionJob, str]:
        """The job, and the fallback suggestion for this conversation."""
        model, effort, draft = check_options(model, effort, draft)
        record = await self._ctx.records.get(session_id, allow_system=False)
        page = await self._transcript.get(session_id, limit=None)
        rows = context_rows(page.entries)
        user_request = last_of(rows, "user")
        if user_request is None and draft is None:
            raise Conflict(
                f"session {session_id} has no user message to suggest a next request from "
                "(send a message first, or give a draft)",
                code="no_context",
            )
        request = SuggestRequest(
            request_key=str(uuid.uuid4()),
            session_id=session_id,
            project_id=record.project_id or f"session:{session_id}",
            turn_id=_last_turn(page.entries),
            user_request=user_request or "User request unavailable.",
            transcript=transcript_text(rows),
            model=model,
            effort=effort,
            draft=draft,
        )
        payload = request.payload()
        if self._emit is not None and self.handler == self.enqueue_through_extensions:
            payload[DIRECT] = True
        written = await self._ctx.write(events=[self._ctx.event(REQUESTED, session_id, payload)])
        if written:
            request = attrs.evolve(request, seq=written[0].seq)
        enqueued = await self.handler(request)
        if enqueued is None:
            raise Conflict(f"no handler enqueued a job for {REQUESTED}", code="job_conflict")
        job = enqueued.job
        fresh = enqueued.outcome == "enqueued"
        return (
            SuggestionJob(
                job_id=job.job_id,
                request_key=request.request_key if fresh else _request_key_of(job, request),
                session_id=session_id,
                project_id=job.owner,
                dedupe="enqueued" if fresh else "already_queued",
            ),
            fallback_suggestion(rows, draft),
        )

    async def enqueue_through_extensions(self, request: SuggestRequest) -> Enqueued | None:
        """Emit `suggest_request.requested` to the extensions and take the winner of their
        enqueue results (None: handlers ran but none enqueued a job). With no handler
        subscribed at all, the built-in handler enqueues."""
        if self._emit is None:
            return await self.enqueue_agent_instruction(request)
        project = request.project_id
        event = ExtensionEvent(
            type=REQUESTED,
            payload=request.payload(),
            context=EventContext(
                project_id=None if project.startswith("session:") else project,
                session_id=request.session_id,
                turn_id=request.turn_id,
            ),
            emitted_at=self._ctx.now(),
            correlation_id=None if request.seq is None else str(request.seq),
        )
        summary = await self._emit(event)
        if summary.handlers == 0:
            # No extension listens (the supervisor is not loaded): the built-in handler.
            return await self.enqueue_agent_instruction(request)
        winner = select_enqueue_winner(summary)
        if winner is None or not isinstance(winner.details, Mapping):
            for envelope in summary.envelopes:
                details = envelope.details
                if isinstance(details, Mapping) and details.get("code") == "queue_full":
                    # The queue refused the extension's enqueue: the caller's 429.
                    raise QueueFull(envelope.error or "the job queue is full")
            return None
        job = await self._jobs.get(str(winner.details.get("jobId")))
        return Enqueued(job, "enqueued" if winner.status == "enqueued" else "joined")

    async def enqueue_agent_instruction(self, request: SuggestRequest) -> Enqueued:
        """The built-in handler: one `agent_instruction` job for the supervisor agent, one
        live job per session (`suggest_request:<sessionId>`)."""
        payload = suggestion_job(request.payload())
        dedupe_key = payload["dedupeKey"]
        async with self._enqueue_lock:
            live = await self._jobs.list(
                states=(JobState.QUEUED, JobState.RUNNING),
                types=[AGENT_INSTRUCTION],
                owner=request.project_id,
                limit=MAX_JOB_PAGE,
            )
            for job in live.items:
                if isinstance(job.payload, Mapping) and job.payload.get("dedupeKey") == dedupe_key:
                    return Enqueued(job, "joined")
            try:
                return await self._jobs.enqueue(
                    AGENT_INSTRUCTION,
                    payload,
                    owner=request.project_id,
                    source_session_id=request.session_id,
                    priority=JobPriority.INTERACTIVE,
                )
            except NotFound as exc:
                if exc.code != "unknown_job_type":
                    raise
                raise Conflict(
                    f"no {AGENT_INSTRUCTION!r} job type is registered, so no job can write "
                    "the suggestion",
                    code="job_conflict",
                ) from exc

    # ------------------------------------------------------------------ request

    async def request(
        self,
        session_id: str,
        *,
        model: str | None = None,
        effort: str | None = None,
        draft: str | None = None,
        wait: float | None = None,
    ) -> SuggestionOutcome:
        """Ask for a suggestion and wait for it up to `wait` seconds (default
        `ManagerConfig.suggest_request_wait`). See `SuggestionOutcome.status`; Conflict
        `no_context` also when the job failed for want of context."""
        job, fallback = await self._enqueue(session_id, model, effort, draft)
        deadline = self._ctx.config.suggest_request_wait if wait is None else wait
        state, current = await self._wait(job, deadline)
        if state is not None and state.status == "complete" and state.suggestion:
            return SuggestionOutcome("ok", state.suggestion, job)
        if current is not None and not current.state.terminal:
            if current.state is JobState.QUEUED and current.attempts == 0:
                return SuggestionOutcome("queued", None, job)
        elif (
            current is not None
            and current.state is JobState.FAILED
            and "no_context" in (current.error or "")
        ):
            raise Conflict(
                f"no chat messages available to build a suggested request for {session_id}",
                code="no_context",
            )
        if state is None or not state.terminal:
            state = await self._apply(session_id, job.request_key, "complete", fallback, None)
        if current is not None and not current.state.terminal:
            await self._cancel(job.job_id)
        return SuggestionOutcome("fallback", state.suggestion or fallback, job)

    async def _wait(
        self, job: SuggestionJob, deadline: float
    ) -> tuple[SuggestionState | None, Job | None]:
        """The suggestion's state and the job once either has ended, or as they are at the
        deadline. Driven by the events of both (on the session's thread), never polled."""
        event_filter = EventFilter.of([job.session_id], [job_events.PREFIX, UPDATED])
        subscription = self._ctx.bus.subscribe(event_filter)
        current: Job | None = None
        try:
            with self._ctx.clock.move_on_after(max(0.0, deadline)):
                while True:
                    state = self.get(job.session_id, job.request_key)
                    if state is not None and state.terminal:
                        break
                    current = await self._job(job.job_id)
                    if current is None or current.state.terminal:
                        break
                    item = await subscription.next()
                    if isinstance(item, Lagged):
                        subscription.close()
                        subscription = self._ctx.bus.subscribe(event_filter, since=item.seq)
        finally:
            subscription.close()
        return self.get(job.session_id, job.request_key), await self._job(job.job_id)

    async def _job(self, job_id: str) -> Job | None:
        try:
            return await self._jobs.get(job_id)
        except NotFound:
            return None  # deleted by retention: it ended long ago

    async def _cancel(self, job_id: str) -> None:
        # Conflict already_terminal: it ended meanwhile, nothing to stop.
        with contextlib.suppress(Conflict):
            await self._jobs.cancel(job_id)


def _last_turn(rows: Sequence[Mapping[str, Any]]) -> str:
    for row in reversed(rows):
        turn_id = row.get("turnId")
        if isinstance(turn_id, str) and turn_id:
            return turn_id
    return _NO_TURN


def _request_key_of(job: Job, request: SuggestRequest) -> str:
    """The request key the live job will write its result under."""
    signal = job.payload.get("completionSignal") if isinstance(job.payload, Mapping) else None
    key = signal.get("requestKey") if isinstance(signal, Mapping) else None
    return key if isinstance(key, str) and key else request.request_key


__all__ = [
    "SuggestHandler",
    "SuggestRequest",
    "SuggestionJob",
    "SuggestionOutcome",
    "SuggestionState",
    "SuggestionsService",
]
