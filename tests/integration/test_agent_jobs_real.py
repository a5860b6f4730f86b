"""`agent_instruction` jobs on the REAL codex binary (offline, ScriptedModel): the issue's
tests 1 (assistant_text on a hidden worker, reused), 3 (retry with backoff on an HTTP 500 of
the model; a fatal failure at once), 4 (cancel of a running job interrupts its turn), 7 (a
worker thread removed behind the manager's back is re-provisioned once) and 8
(action_intents: in-scope intents run, an out-of-scope one fails the job as forbidden).

The scripted model answers by what it is asked: the orientation turn gets "ready", an
instruction its scripted answer, so each test counts how many orientation and instruction
requests codex sent.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from codex_manager_core import Manager
from codex_manager_core.queue.agents import DEFAULT_ORIENTATION
from codex_manager_core.queue.model import Job, JobState, session_owner
from codex_manager_core.testing import Fail, Reply, ScriptedModel, Stall, Step
from codex_manager_core.testing.scripted_model import RecordedRequest
from tests.integration.manager_fixtures import ManagerEnv, open_manager, running_manager

pytestmark = [pytest.mark.anyio, pytest.mark.real_runtime]

WAIT = 60.0
ORIENTATION_MARK = DEFAULT_ORIENTATION[:40]


def is_orientation(request: RecordedRequest) -> bool:
    return ORIENTATION_MARK in (request.last_user_text or "")


class Worker:
    """The scripted model: "ready" to orientation turns, `answer(request)` to the rest."""

    def __init__(self, answer: Callable[[RecordedRequest], Step]) -> None:
        self.answer = answer
        self.orientations = 0
        self.instructions = 0

    def __call__(self, request: RecordedRequest) -> Step:
        if is_orientation(request):
            self.orientations += 1
            return Reply("ready")
        self.instructions += 1
        return self.answer(request)


def instruction(
    env: ManagerEnv, source: str, text: str, mode: str = "assistant_text", **more: Any
) -> dict[str, Any]:
    return {
        "agent": "default",
        "jobKind": "test",
        "instructionText": text,
        "sourceSessionId": source,
        "expectResponse": mode,
        **more,
    }


async def finished(manager: Manager, job_id: str) -> Job:
    job = await manager.jobs.wait(job_id, timeout=WAIT)
    assert job.state.terminal, f"job {job_id} still {job.state.value}"
    return job


async def test_assistant_text_runs_on_a_hidden_worker_that_a_second_job_reuses(
    tmp_path: Path,
) -> None:
    model = Worker(lambda request: Reply("Next: write the tests.", chunks=4))
    async with running_manager(tmp_path, model) as env:
        manager = env.manager
        project = await manager.projects.create("demo", str(env.workdir))
        source = await manager.sessions.create(project_id=project.project_id)
        payload = instruction(
            env, source.session_id, "Suggest the next step", projectId=project.project_id
        )
        first = await manager.jobs.enqueue("agent_instruction", payload, owner=project.project_id)
        done = await finished(manager, first.job.job_id)
        again = await manager.jobs.enqueue(
            "agent_instruction",
            {**payload, "instructionText": "And after that?", "dedupeKey": "second"},
            owner=project.project_id,
        )
        second = await finished(manager, again.job.job_id)
        workers = await manager.workers.list(project.project_id)
        listed = await manager.sessions.list()
        transcript = await manager.transcript.get(source.session_id)
        progress = await manager.events.read(types=["orchestrator_job_progress"], limit=1000)
    assert (done.state, done.error) == (JobState.COMPLETED, None)
    assert done.result["text"] == "Next: write the tests."
    assert second.state is JobState.COMPLETED, second.error
    assert len(workers) == 1, "the second job reuses the owner's worker"
    worker_id = workers[0].session_id
    assert done.result["workerSessionId"] == second.result["workerSessionId"] == worker_id
    assert worker_id not in {s.session_id for s in listed.items}, "workers are hidden"
    assert (model.orientations, model.instructions) == (1, 2), "oriented once, then reused"
    rows = {row["messageId"]: row for row in transcript.entries}
    row = rows[f"agent-job-output::{done.job_id}"]
    assert (row["content"], row["status"], row["type"]) == (
        "Next: write the tests.",
        "complete",
        "agent.jobOutput",
    )
    steps = done.steps or {}
    assert {"provisioned", "oriented", "turn_started"} <= set(steps)
    # A worker acts through the worker tools only: codex's own (shell, web search,
    # sub-agents, ...) are off in its thread (ManagerConfig.system_thread_config).
    for request in env.model.requests:
        tools = {tool.get("name") or tool.get("type") for tool in request.body.get("tools", [])}
        assert "act" in tools, tools
        assert not tools & {"exec_command", "write_stdin", "web_search", "multi_agent_v1"}, tools
    texts = [e.payload.get("progress", {}).get("text") for e in progress]
    streamed = [text for text in texts if text]
    assert streamed, "the answer is reported as progress while it streams"
    assert all("Next: write the tests.".startswith(text) for text in streamed), streamed


async def test_an_http_500_is_retried_with_backoff_and_a_fatal_failure_is_not(
    tmp_path: Path,
) -> None:
    failures = {"left": 1}

    def answer(request: RecordedRequest) -> Step:
        text = request.last_user_text or ""
        if "fail once" in text and failures["left"] > 0:
            failures["left"] -= 1
            return Fail(500, "upstream exploded")
        return Reply("fine")

    model = Worker(answer)
    # codex retries a 5xx itself first: 0 retries here, so the job's retry is what is seen.
    async with running_manager(tmp_path, model) as env:
        manager = env.manager
        source = await manager.sessions.create()
        owner = session_owner(source.session_id)
        retried = await manager.jobs.enqueue(
            "agent_instruction",
            instruction(env, source.session_id, "fail once please"),
            owner=owner,
        )
        done = await finished(manager, retried.job.job_id)
        fatal = await manager.jobs.enqueue(
            "agent_instruction",
            {**instruction(env, source.session_id, "x"), "agent": "nobody-knows-me"},
            owner=owner,
        )
        failed = await finished(manager, fatal.job.job_id)
        events = await manager.events.read(types=["orchestrator_job_"], limit=1000)
    assert (done.state, done.attempts) == (JobState.COMPLETED, 2), done.error
    assert done.result["text"] == "fine"
    retry_events = [
        e for e in events if e.payload.get("jobId") == done.job_id and e.payload.get("retry")
    ]
    assert len(retry_events) == 1, "the failed attempt was announced as a retry"
    # codex words a 500 of the model server as "high demand" (a temporary error).
    assert "TurnFailed" in retry_events[0].payload["error"]
    started = [
        e
        for e in events
        if e.payload.get("jobId") == done.job_id and e.type == "orchestrator_job_started"
    ]
    backoff = (started[1].at - retry_events[0].at).total_seconds()
    assert backoff >= 0.06 * 0.8, f"the retry waited its backoff (waited {backoff:.3f} s)"
    assert (failed.state, failed.attempts) == (JobState.FAILED, 1)
    assert "unknown_agent" in (failed.error or "") or "nobody-knows-me" in (failed.error or "")


async def test_cancel_interrupts_the_running_turn_within_the_graceful_wait(tmp_path: Path) -> None:
    model = Worker(lambda request: Stall())
    async with running_manager(tmp_path, model) as env:
        manager = env.manager
        source = await manager.sessions.create()
        owner = session_owner(source.session_id)
        enqueued = await manager.jobs.enqueue(
            "agent_instruction", instruction(env, source.session_id, "take forever"), owner=owner
        )
        job_id = enqueued.job.job_id
        with anyio.fail_after(WAIT):
            async with manager.events.subscribe(types=["orchestrator_job_progress"]) as sub:
                async for event in sub:
                    step = event.payload.get("step") if isinstance(event.payload, dict) else None
                    if (
                        event.payload.get("jobId") == job_id
                        and step
                        and step.get("name") == "turn_started"
                    ):
                        break
        running = await manager.jobs.get(job_id)
        turn_id = running.running_context.turn_id if running.running_context else None
        canceled = await manager.jobs.cancel(job_id)
        turn = await manager.turns.get(turn_id) if turn_id else None
    assert turn_id is not None, "the job recorded its running turn"
    assert (canceled.state, canceled.error) == (JobState.CANCELED, "canceled")
    assert turn is not None
    assert turn.status.value == "interrupted"


async def test_a_removed_worker_thread_is_provisioned_again_once(tmp_path: Path) -> None:
    model = Worker(lambda request: Reply("done"))
    async with ScriptedModel(model) as scripted:
        async with open_manager(tmp_path, scripted) as env:
            source = await env.manager.sessions.create()
            owner = session_owner(source.session_id)
            first = await env.manager.jobs.enqueue(
                "agent_instruction", instruction(env, source.session_id, "one"), owner=owner
            )
            done = await finished(env.manager, first.job.job_id)
        stale = done.result["workerSessionId"]
        # Behind the manager's back, while no runtime holds the thread: its files go.
        async with open_manager(tmp_path, scripted) as env:
            manager = env.manager
            home = manager.context.home
            assert await home.remove_files(await home.thread_files(stale)) > 0
            second = await manager.jobs.enqueue(
                "agent_instruction",
                {**instruction(env, source.session_id, "two"), "dedupeKey": "two"},
                owner=owner,
            )
            again = await finished(manager, second.job.job_id)
            workers = await manager.workers.list(owner)
    assert again.state is JobState.COMPLETED, again.error
    fresh = again.result["workerSessionId"]
    assert fresh != stale
    assert [w.session_id for w in workers] == [fresh]
    assert "reprovisioned" in (again.steps or {})
    assert model.orientations == 2, "the new worker is oriented once"


async def test_action_intents_in_scope_run_and_one_out_of_scope_fails_the_job(
    tmp_path: Path,
) -> None:
    answers: dict[str, str] = {}
    model = Worker(lambda request: Reply(answers[(request.last_user_text or "")[:8]]))
    async with running_manager(tmp_path, model) as env:
        manager = env.manager
        source = await manager.sessions.create()
        other = await manager.sessions.create()
        owner = session_owner(source.session_id)
        row = {
            "messageId": "review::1",
            "turnId": "review",
            "role": "system",
            "type": "turn.supervisorReview",
            "content": "Looks good.",
            "status": "complete",
        }
        answers["intents1"] = (
            "```json\n"
            + json.dumps(
                {
                    "kind": "action_intents",
                    "intents": [
                        {
                            "kind": "transcript.upsert",
                            "payload": {"sessionId": source.session_id, **row},
                        },
                        {
                            "kind": "session.rename",
                            "payload": {"sessionId": source.session_id, "title": "Reviewed"},
                        },
                    ],
                }
            )
            + "\n```"
        )
        answers["intents2"] = json.dumps(
            {
                "kind": "action_intents",
                "intents": [
                    {
                        "kind": "session.rename",
                        "payload": {"sessionId": other.session_id, "title": "Hijacked"},
                    }
                ],
            }
        )
        good = await manager.jobs.enqueue(
            "agent_instruction",
            instruction(env, source.session_id, "intents1", "action_intents"),
            owner=owner,
        )
        ok = await finished(manager, good.job.job_id)
        bad = await manager.jobs.enqueue(
            "agent_instruction",
            {**instruction(env, source.session_id, "intents2", "action_intents"), "dedupeKey": "2"},
            owner=owner,
        )
        refused = await finished(manager, bad.job.job_id)
        renamed = await manager.sessions.get(source.session_id)
        untouched = await manager.sessions.get(other.session_id)
        transcript = await manager.transcript.get(source.session_id)
    assert ok.state is JobState.COMPLETED, ok.error
    assert [a["status"] for a in ok.result["actions"]] == ["performed", "performed"]
    assert (ok.steps or {}).get("result_parsed") == {"intents": 2}
    assert renamed.title == "Reviewed"
    assert "review::1" in {r["messageId"] for r in transcript.entries}
    assert (refused.state, refused.attempts) == (JobState.FAILED, 1), "forbidden is fatal"
    assert "forbidden" in (refused.error or "")
    assert other.session_id in (refused.error or ""), "the error names what was out of scope"
    assert untouched.title != "Hijacked"


async def test_supplemental_targets_hold_a_placeholder_then_the_fallback_of_the_end(
    tmp_path: Path,
) -> None:
    def answer(request: RecordedRequest) -> Step:
        # "stall": a job that keeps the owner busy, so the next one stays queued.
        return Stall() if "stall" in (request.last_user_text or "") else Reply("nothing written")

    model = Worker(answer)
    async with running_manager(tmp_path, model) as env:
        manager = env.manager
        source = await manager.sessions.create()
        owner = session_owner(source.session_id)
        targets = [
            {
                "messageId": "explain::1",
                "type": "fileChange.explainability",
                "placeholderTexts": ["Explaining..."],
                "completeFallback": "No explanation was written.",
            },
            {"messageId": "insight::1", "type": "fileChange.supervisorInsight"},
        ]
        payload = {
            **instruction(env, source.session_id, "explain", "none"),
            "supplementalTargets": targets,
        }
        seen_placeholder = False
        async with manager.events.subscribe(
            thread_ids=[source.session_id], types=["transcript_updated"]
        ) as sub:
            enqueued = await manager.jobs.enqueue("agent_instruction", payload, owner=owner)
            with anyio.fail_after(WAIT):
                async for event in sub:
                    entry = event.payload["entry"]
                    if entry["messageId"] == "explain::1" and entry["status"] == "streaming":
                        seen_placeholder = entry["content"] == "Explaining..."
                        break
        done = await finished(manager, enqueued.job.job_id)
        # A job canceled while still queued settles its rows too.
        blocker = await manager.jobs.enqueue(
            "agent_instruction",
            {**instruction(env, source.session_id, "stall", "none"), "dedupeKey": "b"},
            owner=owner,
        )
        queued = await manager.jobs.enqueue(
            "agent_instruction",
            {
                **payload,
                "dedupeKey": "c",
                "supplementalTargets": [
                    {"messageId": "late::1", "type": "t", "canceledFallback": "Canceled."}
                ],
            },
            owner=owner,
        )
        await manager.jobs.cancel(queued.job.job_id)
        await manager.jobs.cancel(blocker.job.job_id)
        rows = {
            r["messageId"]: r for r in (await manager.transcript.get(source.session_id)).entries
        }
    assert seen_placeholder, "the placeholder row streams while the job runs"
    assert done.state is JobState.COMPLETED, done.error
    assert (rows["explain::1"]["content"], rows["explain::1"]["status"]) == (
        "No explanation was written.",
        "complete",
    )
    assert rows["insight::1"]["status"] == "complete"
    assert (rows["late::1"]["content"], rows["late::1"]["status"]) == ("Canceled.", "canceled")
