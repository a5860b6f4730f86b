"""`manager.suggestions` over MemoryRuntime + MemoryStore + FakeClock: the in-memory state
rules (no regress, the cap, the event), enqueue (the agent_instruction payload, dedupe,
no_context, system and unknown sessions, no job type), and request (ok, the deadline
fallback that cancels the job, queued when the job never started). The real
`agent_instruction` job type is another piece: a stand-in type plays the worker here.
Nothing sleeps: handlers block on events, and time moves only when the test advances it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest

from codex_manager_core import Conflict, Event, InvalidInput, Manager, ManagerConfig, NotFound
from codex_manager_core.errors import SystemSessionForbidden
from codex_manager_core.queue.definitions import JobType
from codex_manager_core.queue.model import JobPriority, JobState
from codex_manager_core.queue.policies import DedupeMode, DedupePolicy
from codex_manager_core.services.job_runner import JobContext
from codex_manager_core.services.suggestion_state import (
    SuggestionStates,
    fallback_suggestion,
)
from codex_manager_core.store.memory import MemoryStore
from codex_manager_core.testing import FakeClock, MemoryRuntime

WAIT = 10.0
USER_TEXT = "Add   a retry to the upload\nfunction"


@attrs.frozen
class Signal:
    kind: str
    request_key: str


@attrs.frozen
class Instruction:
    """The stand-in for the real agent_instruction payload: the keys enqueue sends."""

    agent: str
    job_kind: str
    project_id: str
    source_session_id: str
    thread_id: str
    turn_id: str
    instruction_text: str
    dedupe_key: str | None = None
    expect_response: str | None = None
    completion_signal: Signal | None = None
    model: str | None = None
    effort: str | None = None
    fallback_suggestion_draft: str | None = None


@attrs.frozen
class Done:
    status: str = "ok"


Run = Callable[[JobContext, Instruction], Awaitable[Done]]


class Runtime:
    """Threads created by thread/start; thread/read answers the turns the test gave."""

    def __init__(self) -> None:
        self.turns: dict[str, list[dict[str, Any]]] = {}
        self.runtime = MemoryRuntime(
            {"thread/start": self.start, "thread/read": self.read, "thread/name/set": {}}
        )

    def start(self, params: Any) -> Any:
        thread_id = f"thr_{len(self.turns) + 1}"
        self.turns[thread_id] = []
        thread = {"id": thread_id, "cwd": params["cwd"], "status": {"type": "idle"}, "turns": []}
        return {"thread": thread, "model": "memory-model", "modelProvider": "memory"}

    def read(self, params: Any) -> Any:
        thread_id = params["threadId"]
        return {"thread": {"id": thread_id, "turns": self.turns.get(thread_id, [])}}

    def said(self, thread_id: str, text: str, answer: str = "Done.") -> None:
        turn_id = f"turn_{len(self.turns[thread_id]) + 1}"
        self.turns[thread_id].append(
            {
                "id": turn_id,
                "status": "completed",
                "items": [
                    {
                        "type": "userMessage",
                        "id": "u1",
                        "content": [{"type": "text", "text": text}],
                    },
                    {"type": "agentMessage", "id": "a1", "text": answer},
                ],
            }
        )


@asynccontextmanager
async def opened(
    tmp_path: Path, clock: FakeClock | None = None, **config: Any
) -> AsyncIterator[tuple[Manager, Runtime]]:
    runtime = Runtime()
    settings = ManagerConfig(
        default_cwd=tmp_path, import_user_auth=False, delta_retention=None, **config
    )
    with anyio.fail_after(WAIT):
        async with Manager.open(
            store=MemoryStore(), transport=runtime.runtime, config=settings, clock=clock
        ) as manager:
            await manager.runtime.wait_ready(WAIT)
            yield manager, runtime


def stand_in(manager: Manager, run: Run) -> None:
    """Takes the place of the built-in `agent_instruction` (no worker, no model here)."""
    manager.jobs.register(
        JobType(
            type="agent_instruction",
            payload=Instruction,
            result=Done,
            priority="interactive",
            timeout=600,
            run=run,
            # As the built-in: one live job per dedupe key (a second request joins it).
            dedupe=DedupePolicy(mode=DedupeMode.SINGLE_FLIGHT, key=lambda p: p.dedupe_key),
        ),
        replace=True,
    )


async def chat(manager: Manager, runtime: Runtime, text: str = USER_TEXT) -> str:
    session = await manager.sessions.create()
    runtime.said(session.session_id, text)
    return session.session_id


async def events_of(manager: Manager, type_: str) -> list[Event]:
    return list(await manager.events.read(types=[type_], limit=1000))


# ---------------------------------------------------------------------- the state


def test_a_terminal_state_never_regresses_and_the_oldest_go_past_the_cap() -> None:
    states = SuggestionStates(limit=3)
    first, changed = states.apply("s", "k", "streaming", None, None, 1)
    assert (first.status, changed) == ("streaming", True)
    done, _ = states.apply("s", "k", "complete", "Do X", None, 2)
    late, changed = states.apply("s", "k", "streaming", None, None, 3)
    assert (late, changed) == (done, False)
    failed, _ = states.apply("s", "e", "error", None, None, 4)
    assert failed.error == "suggested request generation failed"
    states.apply("s", "a", "streaming", None, None, 5)
    states.apply("s", "b", "streaming", None, None, 6)  # over the cap: "k" (oldest) goes
    assert len(states) == 3
    assert states.get("s", "k") is None
    assert states.get("s", "e") is not None


def test_the_fallback_is_the_draft_else_the_last_user_message() -> None:
    rows = [{"role": "user", "content": USER_TEXT}, {"role": "assistant", "content": "ok"}]
    assert fallback_suggestion(rows, "  My draft ") == "My draft"
    assert fallback_suggestion(rows, None) == (
        "Please continue from your last response and focus on this request: "
        "Add a retry to the upload function"
    )
    assert "next concrete step" in fallback_suggestion([], None)


@pytest.mark.anyio
async def test_upsert_announces_on_the_session_and_keeps_terminal_states(tmp_path: Path) -> None:
    async with opened(tmp_path) as (manager, runtime):
        session_id = await chat(manager, runtime)
        await manager.suggestions.upsert(session_id, "k1", "streaming")
        state = await manager.suggestions.upsert(session_id, "k1", "complete", "Run the tests")
        again = await manager.suggestions.upsert(session_id, "k1", "streaming")
        with pytest.raises(InvalidInput) as missing:
            await manager.suggestions.upsert(session_id, "k2", "complete")
        with pytest.raises(InvalidInput) as too_long:
            await manager.suggestions.upsert(session_id, "k2", "complete", "x" * 8001)
        with pytest.raises(InvalidInput) as bad_status:
            await manager.suggestions.upsert(session_id, "k2", "done", "x")
        updates = [
            e
            for e in await events_of(manager, "suggested_request_updated")
            if e.thread_id == session_id
        ]
    assert (state.status, state.suggestion, again) == ("complete", "Run the tests", state)
    assert [e.payload for e in updates] == [
        {"sessionId": session_id, "requestKey": "k1", "status": "streaming"},
        {
            "sessionId": session_id,
            "requestKey": "k1",
            "status": "complete",
            "suggestion": "Run the tests",
        },
    ]  # the late streaming changed nothing, so announced nothing
    assert missing.value.code == "missing_suggestion"
    assert too_long.value.issues[0]["path"] == ["suggestion"]
    assert bad_status.value.issues[0]["path"] == ["status"]


# ---------------------------------------------------------------------- enqueue


@pytest.mark.anyio
async def test_enqueue_sends_the_agent_instruction_and_dedupes(tmp_path: Path) -> None:
    started = anyio.Event()
    seen: list[Instruction] = []
    async with opened(tmp_path, FakeClock()) as (manager, runtime):

        async def block(ctx: JobContext, payload: Instruction) -> Done:
            seen.append(payload)
            started.set()
            await anyio.Event().wait()
            raise AssertionError("unreachable")

        stand_in(manager, block)
        session_id = await chat(manager, runtime)
        first = await manager.suggestions.enqueue(
            session_id, model="gpt-x", effort="low", draft="Also log it"
        )
        with anyio.fail_after(WAIT):
            await started.wait()
        second = await manager.suggestions.enqueue(session_id)
        job = await manager.jobs.get(first.job_id)
        requested = await events_of(manager, "suggest_request.requested")
        await manager.jobs.cancel(first.job_id)

    assert (first.dedupe, second.dedupe) == ("enqueued", "already_queued")
    assert second.job_id == first.job_id
    assert second.request_key == first.request_key  # the live job writes under its key
    assert first.project_id == f"session:{session_id}"
    assert (job.type, job.owner, job.priority) == (
        "agent_instruction",
        f"session:{session_id}",
        JobPriority.INTERACTIVE,
    )
    payload = job.payload
    assert payload["agent"] == "supervisor"
    assert payload["jobKind"] == "suggest_request"
    assert payload["dedupeKey"] == f"suggest_request:{session_id}"
    assert payload["expectResponse"] == "assistant_text"
    assert payload["completionSignal"] == {
        "kind": "suggested_request",
        "requestKey": first.request_key,
    }
    assert (payload["threadId"], payload["turnId"]) == (session_id, "turn_1")
    assert (payload["model"], payload["effort"], payload["fallbackSuggestionDraft"]) == (
        "gpt-x",
        "low",
        "Also log it",
    )
    assert USER_TEXT in payload["instructionText"]
    assert "Also log it" in payload["instructionText"]
    assert seen[0].source_session_id == session_id
    assert len(requested) == 2  # each ask is announced, also one that joins the live job
    assert requested[0].payload["requestKey"] == first.request_key
    assert requested[0].payload["userRequest"] == USER_TEXT
    assert requested[0].thread_id == session_id


@pytest.mark.anyio
async def test_enqueue_refuses_what_it_cannot_suggest_for(tmp_path: Path) -> None:
    async with opened(tmp_path, FakeClock()) as (manager, runtime):
        empty = (await manager.sessions.create()).session_id
        built_in = manager.suggestions.handler

        async def enqueues_nothing(_: Any) -> None:
            return None

        manager.suggestions.handler = enqueues_nothing
        with pytest.raises(Conflict) as no_type:
            await manager.suggestions.enqueue(await chat(manager, runtime))
        manager.suggestions.handler = built_in
        stand_in(manager, _never)
        with pytest.raises(Conflict) as no_context:
            await manager.suggestions.enqueue(empty)
        drafted = await manager.suggestions.enqueue(empty, draft="Start the project")
        worker = await manager.sessions.create(system_owned=True)
        runtime.said(worker.session_id, "hello")
        with pytest.raises(SystemSessionForbidden):
            await manager.suggestions.enqueue(worker.session_id)
        with pytest.raises(NotFound):
            await manager.suggestions.enqueue("no-such-session")
        with pytest.raises(InvalidInput) as long_draft:
            await manager.suggestions.enqueue(empty, draft="x" * 4001)
        with pytest.raises(InvalidInput) as bad_effort:
            await manager.suggestions.enqueue(empty, effort="maximal")
        await manager.jobs.cancel(drafted.job_id)
    assert no_type.value.code == "job_conflict"
    assert no_context.value.code == "no_context"
    assert drafted.dedupe == "enqueued"
    assert long_draft.value.issues[0]["path"] == ["draft"]
    assert bad_effort.value.issues[0]["path"] == ["effort"]


async def _never(ctx: JobContext, payload: Instruction) -> Done:
    await anyio.Event().wait()
    raise AssertionError("unreachable")


# ---------------------------------------------------------------------- request


@pytest.mark.anyio
async def test_request_answers_the_workers_suggestion(tmp_path: Path) -> None:
    async with opened(tmp_path, FakeClock()) as (manager, runtime):

        async def suggest(ctx: JobContext, payload: Instruction) -> Done:
            assert payload.completion_signal is not None
            await ctx.manager.suggestions.upsert(
                payload.source_session_id,
                payload.completion_signal.request_key,
                "complete",
                "Write a test for the retry",
            )
            return Done()

        stand_in(manager, suggest)
        session_id = await chat(manager, runtime)
        outcome = await manager.suggestions.request(session_id)
    assert (outcome.status, outcome.suggestion) == ("ok", "Write a test for the retry")


@pytest.mark.anyio
async def test_past_the_deadline_the_fallback_is_written_and_the_job_canceled(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    started = anyio.Event()
    async with opened(tmp_path, clock) as (manager, runtime):

        async def stuck(ctx: JobContext, payload: Instruction) -> Done:
            started.set()
            await anyio.Event().wait()
            raise AssertionError("unreachable")

        stand_in(manager, stuck)
        session_id = await chat(manager, runtime)
        outcomes: list[Any] = []
        deadline = clock.monotonic() + manager.config.suggest_request_wait
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(lambda: _collect(manager.suggestions.request(session_id), outcomes))
            with anyio.fail_after(WAIT):
                await started.wait()
            await clock.wait_for_deadline(deadline)
            clock.advance(manager.config.suggest_request_wait)
        [outcome] = outcomes
        job = await manager.jobs.get(outcome.job_id)
        state = manager.suggestions.get(session_id, outcome.request_key)
    expected = (
        "Please continue from your last response and focus on this request: "
        "Add a retry to the upload function"
    )
    assert (outcome.status, outcome.suggestion) == ("fallback", expected)
    assert state is not None
    assert (state.status, state.suggestion) == ("complete", expected)
    assert job.state is JobState.CANCELED


@pytest.mark.anyio
async def test_a_job_that_never_started_by_the_deadline_is_answered_queued(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    busy = anyio.Event()
    async with opened(tmp_path, clock) as (manager, runtime):

        @manager.jobs.job_type("busy", payload=Done, result=Done, timeout=600)
        async def occupy(ctx: JobContext, payload: Done) -> Done:
            busy.set()
            await anyio.Event().wait()
            raise AssertionError("unreachable")

        stand_in(manager, _never)
        session_id = await chat(manager, runtime)
        blocker = await manager.jobs.enqueue("busy", {}, owner=f"session:{session_id}")
        with anyio.fail_after(WAIT):
            await busy.wait()  # the owner's one running job: the suggestion waits behind it
        outcomes: list[Any] = []
        deadline = clock.monotonic() + 5.0
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(
                lambda: _collect(manager.suggestions.request(session_id, wait=5.0), outcomes)
            )
            await clock.wait_for_deadline(deadline)
            clock.advance(5.0)
        [outcome] = outcomes
        job = await manager.jobs.get(outcome.job_id)
        state = manager.suggestions.get(session_id, outcome.request_key)
        await manager.jobs.cancel(outcome.job_id)
        await manager.jobs.cancel(blocker.job.job_id)
    assert (outcome.status, outcome.suggestion) == ("queued", None)
    assert job.state is JobState.QUEUED
    assert state is None  # no fallback written: the job will still write the suggestion


async def _collect(call: Awaitable[Any], into: list[Any]) -> None:
    into.append(await call)


@pytest.mark.anyio
async def test_the_workers_answer_keeps_a_terminal_state_and_an_empty_one_is_an_error(
    tmp_path: Path,
) -> None:
    async with opened(tmp_path) as (manager, runtime):
        session_id = await chat(manager, runtime)
        suggestions = manager.suggestions
        fresh = await suggestions.answer(session_id, "k1", "  Write the test  ")
        await suggestions.upsert(session_id, "k2", "canceled")
        kept = await suggestions.answer(session_id, "k2", "Too late")
        empty = await suggestions.answer(session_id, "k3", "   ")
        gone = await suggestions.answer("no-such-session", "k4", "Anything")
        announced = await events_of(manager, "suggested_request_updated")
    assert fresh is not None
    assert (fresh.status, fresh.suggestion) == ("complete", "Write the test")
    assert kept is not None
    assert (kept.status, kept.suggestion) == ("canceled", None), "the first terminal stands"
    assert empty is not None
    assert (empty.status, empty.error) == ("error", "the worker answered no suggestion")
    assert gone is None
    assert [(e.payload["requestKey"], e.payload["status"]) for e in announced] == [
        ("k1", "complete"),
        ("k2", "canceled"),
        ("k3", "error"),
    ]
