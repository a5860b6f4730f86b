"""Runs `agent_instruction` jobs on worker sessions: provision the worker, orient it once,
run the instruction turn, and do with the answer what the job asked.

The steps that cost a model turn are recorded on the job (`JobContext.step`): provisioned
(by the job that made the worker: the worker mapping is durable on its own), oriented,
bootstrap:<key>, turn_started (its id, in one write with the running context),
result_parsed, reprovisioned. A retried or recovered attempt reads them back, so a restart
does not repeat an orientation turn, and an instruction turn that completed before the
crash gives its answer without being run again.

While its turn runs, the job's scope (owner, source session and turn) is what the worker's
dynamic tools may touch (`WorkerTools` asks `scope_of`); the answer's action intents run
through the same executor, with idempotency keys derived from the job, so a retried job
does not act twice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final, Protocol

import anyio
import attrs

from codex_manager_core.actions import (
    ActionExecutor,
    ActionScope,
    ActionStatus,
    WorkerTools,
    parse_action_intents,
)
from codex_manager_core.errors import (
    CallTimeout,
    InvalidInput,
    NotFound,
    RuntimeUnavailable,
    TimedOut,
    TurnFailed,
)
from codex_manager_core.events.bus import EventFilter
from codex_manager_core.models import JsonObject, Lagged, TurnStatus
from codex_manager_core.queue.agent_instruction import (
    AGENT_INSTRUCTION,
    AgentInstruction,
    AgentInstructionResult,
    ResponseMode,
    dedupe_key,
    output_message_id,
)
from codex_manager_core.queue.agents import AgentDefinition, AgentRegistry
from codex_manager_core.queue.definitions import JobHooks, JobType
from codex_manager_core.queue.model import JobPriority
from codex_manager_core.queue.policies import (
    CancelPolicy,
    Classification,
    DedupeMode,
    DedupePolicy,
    RetryPolicy,
)
from codex_manager_core.services.context import ServiceContext
from codex_manager_core.services.job_context import JobContext
from codex_manager_core.services.supplemental_targets import SupplementalTargets
from codex_manager_core.services.transcript import TranscriptService
from codex_manager_core.services.turn_waits import TurnResult, wait_for_turn_end
from codex_manager_core.services.turns import TurnHandle, TurnsService
from codex_manager_core.services.workers import Worker, WorkersService, is_stale_thread_error

logger = logging.getLogger("codex_manager_core.queue.agents")

DELTA_TYPE: Final = "app_server.item.agent_message.delta"
STREAM_INTERVAL: Final = 0.25
"""Seconds between two writes of a streaming answer (transcript row and progress)."""
AGENT_JOB_TIMEOUT: Final = 180.0


class SuggestionSink(Protocol):
    """Where a `suggested_request` completion signal writes the worker's answer
    (`manager.suggestions`)."""

    async def answer(self, session_id: str, request_key: str, suggestion: str | None) -> Any: ...


class AgentJobs:
    """The `agent_instruction` job type and what runs it."""

    def __init__(
        self,
        ctx: ServiceContext,
        *,
        agents: AgentRegistry,
        workers: WorkersService,
        turns: TurnsService,
        transcript: TranscriptService,
        executor: ActionExecutor,
        worker_tools: WorkerTools,
        suggestions: SuggestionSink | None = None,
    ) -> None:
        self._ctx = ctx
        self._agents = agents
        self._workers = workers
        self._turns = turns
        self._transcript = transcript
        self._executor = executor
        self._suggestions = suggestions
        self._scopes: dict[str, ActionScope] = {}
        """Worker session -> the scope of the job whose turn runs on it."""
        self._oriented: set[tuple[str, str]] = set()
        """(worker session, orientation key) done in this process."""
        self._targets = SupplementalTargets(ctx, transcript)
        worker_tools.set_scope_resolver(self.scope_of)

    def scope_of(self, worker_session_id: str) -> ActionScope | None:
        return self._scopes.get(worker_session_id)

    def job_type(self) -> JobType[AgentInstruction, AgentInstructionResult]:
        return JobType(
            type=AGENT_INSTRUCTION,
            payload=AgentInstruction,
            result=AgentInstructionResult,
            priority=JobPriority.INTERACTIVE,
            dedupe=DedupePolicy(mode=DedupeMode.SINGLE_FLIGHT, key=dedupe_key),
            retry=RetryPolicy(max_attempts=2, classifier=classify, base_delay=0.06),
            timeout=AGENT_JOB_TIMEOUT,
            cancel=CancelPolicy(strategy="interrupt_turn", graceful_wait=1.5),
            run=self.run,
            hooks=JobHooks(
                on_completed=self._targets.completed,
                on_failed=self._targets.failed,
                on_canceled=self._targets.canceled,
            ),
        )

    # ------------------------------------------------------------------ the job

    async def run(self, job: JobContext, payload: AgentInstruction) -> AgentInstructionResult:
        agent = self._agents.get(payload.agent)
        steps: dict[str, Any] = dict(job.steps or {})
        if payload.supplemental_targets and "placeholders" not in steps:
            await self._targets.placeholders(payload, job.job_id)
            await self._record(
                job, steps, "placeholders", {"count": len(payload.supplemental_targets)}
            )
        while True:
            worker = await self._workers.ensure(
                job.owner, payload.agent, source_session_id=payload.source_session
            )
            try:
                return await self._run_on_worker(job, payload, agent, steps, worker)
            except Exception as exc:
                if not is_stale_thread_error(exc) or "reprovisioned" in steps:
                    raise
                # The worker's thread is gone (removed behind our back): a fresh one, once.
                logger.warning(
                    "job %s: worker %s is stale (%s); provisioning a new one",
                    job.job_id,
                    worker.session_id,
                    exc,
                )
                await self._workers.invalidate(worker)
                steps = {"reprovisioned": {"staleSessionId": worker.session_id}}
                await job.step("reprovisioned", steps["reprovisioned"])

    async def _run_on_worker(
        self,
        job: JobContext,
        payload: AgentInstruction,
        agent: AgentDefinition,
        steps: dict[str, Any],
        worker: Worker,
    ) -> AgentInstructionResult:
        session_id = worker.session_id
        if worker.created:
            # The worker mapping is durable on its own: the step says this job made it.
            await self._record(job, steps, "provisioned", {"sessionId": session_id})
        await self._orient(job, steps, worker, agent, payload)
        earlier = await self._earlier_answer(steps, session_id)
        if earlier is not None:
            turn_id, text = earlier
            status = TurnStatus.COMPLETED.value
        else:
            turn_id, status, text = await self._instruct(job, steps, worker, agent, payload)
        return await self._respond(job, payload, session_id, turn_id, status, text)

    async def _record(
        self, job: JobContext, steps: dict[str, Any], name: str, data: JsonObject
    ) -> None:
        if steps.get(name) != data:
            steps[name] = data
            await job.step(name, data)

    async def _orient(
        self,
        job: JobContext,
        steps: dict[str, Any],
        worker: Worker,
        agent: AgentDefinition,
        payload: AgentInstruction,
    ) -> None:
        turns = [("oriented", "core", agent.orientation_text)]
        bootstrap = payload.bootstrap_instruction
        if bootstrap is not None:
            turns.append((f"bootstrap:{bootstrap.key}", bootstrap.key, bootstrap.instruction_text))
        for step, key, text in turns:
            done = steps.get(step)
            if (worker.session_id, key) in self._oriented or (
                isinstance(done, Mapping) and done.get("sessionId") == worker.session_id
            ):
                continue
            handle = await self._turns.send_to_worker(
                worker.session_id, text, model=agent.model, effort=agent.effort
            )
            await job.set_running_context(worker.session_id, handle.turn_id)
            # Interrupted (a cancel) or failed: the worker is not oriented.
            await self._completed(handle, agent.turn_timeout, f"{step} turn")
            self._oriented.add((worker.session_id, key))
            await self._record(
                job, steps, step, {"sessionId": worker.session_id, "turnId": handle.turn_id}
            )

    async def _completed(self, handle: TurnHandle, timeout: float, what: str) -> TurnResult:
        """The worker's turn once it ended; TurnFailed unless it completed."""
        result = await wait_for_turn_end(
            self._ctx.bus,
            self._ctx.store,
            self._ctx.clock,
            handle.session_id,
            handle.turn_id,
            timeout=timeout,
            since=handle.since_seq,
        )
        if result.status is not TurnStatus.COMPLETED:
            raise TurnFailed(
                handle.session_id,
                handle.turn_id,
                f"the worker's {what} ended {result.status.value}",
            )
        return result

    async def _earlier_answer(
        self, steps: dict[str, Any], session_id: str
    ) -> tuple[str, str | None] | None:
        """The answer of an instruction turn an earlier attempt started, if it completed."""
        started = steps.get("turn_started")
        if not isinstance(started, Mapping) or started.get("sessionId") != session_id:
            return None
        turn_id = started.get("turnId")
        if not isinstance(turn_id, str):
            return None
        try:
            turn = await self._turns.get(turn_id)
        except NotFound:
            return None
        if turn.status is not TurnStatus.COMPLETED:
            return None
        return turn_id, turn.final_text

    async def _instruct(
        self,
        job: JobContext,
        steps: dict[str, Any],
        worker: Worker,
        agent: AgentDefinition,
        payload: AgentInstruction,
    ) -> tuple[str, str, str | None]:
        session_id = worker.session_id
        self._scopes[session_id] = ActionScope(
            owner=job.owner,
            project_id=payload.project_id,
            session_id=payload.source_session,
            turn_id=payload.turn_id,
        )
        try:
            handle = await self._turns.send_to_worker(
                session_id,
                payload.instruction_text,
                model=payload.model or agent.model,
                effort=payload.effort or agent.effort,
            )
            started = {"sessionId": session_id, "turnId": handle.turn_id}
            steps["turn_started"] = started
            # One write: the step, and the turn a cancel interrupts.
            await job.step("turn_started", started, running_context=(session_id, handle.turn_id))
            try:
                async with anyio.create_task_group() as tasks:
                    if payload.expect_response is ResponseMode.ASSISTANT_TEXT:
                        tasks.start_soon(self._stream, job, payload, session_id, handle)
                    result = await self._completed(handle, agent.turn_timeout, "turn")
                    tasks.cancel_scope.cancel()
            except ExceptionGroup as group:
                # The turn's failure, not a group of one: the retry policy classifies it.
                raise group.exceptions[0] if len(group.exceptions) == 1 else group from None
        finally:
            self._scopes.pop(session_id, None)
        return handle.turn_id, result.status.value, result.final_text

    async def _stream(
        self, job: JobContext, payload: AgentInstruction, session_id: str, handle: TurnHandle
    ) -> None:
        """The answer as it streams: a transcript row of the source session and progress."""
        text: list[str] = []
        written = 0
        last = -STREAM_INTERVAL
        clock = self._ctx.clock
        subscription = self._ctx.bus.subscribe(
            EventFilter.of([session_id], [DELTA_TYPE]), since=handle.since_seq
        )
        try:
            async for item in subscription:
                if isinstance(item, Lagged):
                    continue  # the final text is written at the end in any case
                params = item.payload.get("params") if isinstance(item.payload, Mapping) else None
                if not isinstance(params, Mapping) or params.get("turnId") != handle.turn_id:
                    continue
                delta = params.get("delta")
                if isinstance(delta, str):
                    text.append(delta)
                if clock.monotonic() - last >= STREAM_INTERVAL and len(text) != written:
                    last, written = clock.monotonic(), len(text)
                    await self._output(job, payload, "".join(text), "streaming")
        finally:
            subscription.close()

    async def _output(
        self, job: JobContext, payload: AgentInstruction, text: str, status: str
    ) -> None:
        if status == "streaming":
            # The whole answer is the job's result: no last progress write before the end.
            await job.progress({"text": text, "status": status})
        source = payload.source_session
        if source is None:
            return
        entry: dict[str, Any] = {
            "messageId": output_message_id(job.job_id),
            "turnId": payload.turn_id or f"agent-job::{job.job_id}",
            "role": "system",
            "type": "agent.jobOutput",
            "content": text,
            "status": status,
            "details": {"jobId": job.job_id, "agent": payload.agent, "jobKind": payload.job_kind},
        }
        if payload.anchor_item_id:
            entry["details"]["anchorItemId"] = payload.anchor_item_id
        try:
            await self._transcript.upsert(source, entry)
        except NotFound:
            logger.info(
                "job %s: source session %s is gone; its output row is not written",
                job.job_id,
                source,
            )

    async def _respond(
        self,
        job: JobContext,
        payload: AgentInstruction,
        session_id: str,
        turn_id: str,
        status: str,
        text: str | None,
    ) -> AgentInstructionResult:
        mode = payload.expect_response
        if mode is ResponseMode.NONE:
            return AgentInstructionResult(session_id, turn_id, status)
        if mode is ResponseMode.ASSISTANT_TEXT:
            await self._output(job, payload, text or "", "complete")
            await self._signal(payload, text or "")
            return AgentInstructionResult(session_id, turn_id, status, text)
        actions = await self._act(job, payload, text or "")
        return AgentInstructionResult(session_id, turn_id, status, text, actions)

    async def _signal(self, payload: AgentInstruction, text: str) -> None:
        signal = payload.completion_signal
        if signal is None or self._suggestions is None or payload.source_session is None:
            return
        if signal.kind == "suggested_request":
            await self._suggestions.answer(payload.source_session, signal.request_key, text)

    async def _act(
        self, job: JobContext, payload: AgentInstruction, text: str
    ) -> tuple[JsonObject, ...]:
        intents = parse_action_intents(text)
        await job.step("result_parsed", {"intents": len(intents)})
        scope = ActionScope(
            owner=job.owner,
            project_id=payload.project_id,
            session_id=payload.source_session,
            turn_id=payload.turn_id,
        )
        done: list[JsonObject] = []
        for index, intent in enumerate(intents):
            # The job's own key for each intent: a retried job finds what it already did.
            key = f"{job.job_id}:{index}:{intent.idempotency_key or intent.kind}"
            request = attrs.evolve(intent, idempotency_key=key)
            outcome = await self._executor.execute(request, scope, actor=f"job:{job.job_id}")
            done.append(
                {
                    "kind": outcome.kind,
                    "status": outcome.status.value,
                    "result": outcome.result,
                    "error": outcome.error,
                }
            )
            if outcome.status not in (ActionStatus.PERFORMED, ActionStatus.ALREADY_PERFORMED):
                raise InvalidInput(
                    f"action intent {index} ({outcome.kind}) was {outcome.status.value}: "
                    f"{outcome.error}",
                    issues=[{"path": ["intents", index], "message": outcome.status.value}],
                )
        return tuple(done)


def classify(exc: BaseException) -> Classification:
    """Another attempt helps when the runtime or the model was away or slow, or the worker
    thread went stale; not when the request itself was refused (a 4xx of the model server,
    an unknown agent, an intent out of scope)."""
    if isinstance(exc, TurnFailed):
        status = exc.notice.http_status if exc.notice is not None else None
        return (
            "fatal"
            if status is not None and 400 <= status < 500 and status not in (408, 429)
            else "retryable"
        )
    if isinstance(exc, CallTimeout | RuntimeUnavailable | TimedOut):
        return "retryable"
    return "retryable" if is_stale_thread_error(exc) else "fatal"


__all__ = ["AgentJobs", "classify"]
