"""The suggested-request routes over real HTTP on the REAL codex binary (offline,
ScriptedModel) with the built-in `agent_instruction` job type and a real supervisor worker:
the issue's test 9. A user session has a real turn; asking for a suggestion provisions the
hidden worker, orients it ("ready") and runs the suggestion turn, whose answer is the
suggestion; the enqueue-only route dedupes a running job; past `suggest_request_wait` the
waiting route answers the fallback, interrupts the worker's turn and cancels the job; an
outside write-back (as the original's worker did with the CLI) is not regressed by a late
`streaming`.

The scripted model answers by what it is asked: orientation turns "ready", the suggestion
instruction by the test's `suggest` function, the user's turns an echo.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from codex_manager_core import Manager
from codex_manager_core.models import TurnStatus
from codex_manager_core.queue.agents import DEFAULT_ORIENTATION
from codex_manager_core.queue.model import Job, JobState
from codex_manager_core.testing import Reply, Stall, Step
from codex_manager_core.testing.scripted_model import RecordedRequest
from tests.acceptance.http_fixtures import Host, running_host

pytestmark = [pytest.mark.anyio, pytest.mark.real_runtime]

WAIT = 60.0
ORIENTATION_MARK = DEFAULT_ORIENTATION[:40]
SUGGESTION_MARK = "# Job: suggest the user's next request"
USER_TEXT = "Add a retry to the HTTP client"
SUGGESTED = "Now add a test for the retry with a fake server."
UPDATED = "suggested_request_updated"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the HTTP host (uvicorn) runs on asyncio


class Model:
    """Orientation: "ready"; the suggestion instruction: `suggest(request)`; else an echo."""

    def __init__(self, suggest: Callable[[RecordedRequest], Awaitable[Step]]) -> None:
        self.suggest = suggest
        self.orientations = 0
        self.suggestions: list[RecordedRequest] = []

    async def __call__(self, request: RecordedRequest) -> Step:
        text = request.last_user_text or ""
        if ORIENTATION_MARK in text:
            self.orientations += 1
            return Reply("ready")
        if SUGGESTION_MARK in text:
            self.suggestions.append(request)
            return await self.suggest(request)
        return Reply(f"Done: {text[:60]}")


async def answers(step: Step) -> Step:
    return step


def answer(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url.path}: expected {status}, got "
        f"{response.status_code}: {response.text}"
    )
    body: dict[str, Any] = response.json()
    return body


def url(session_id: str, tail: str = "") -> str:
    return f"/api/sessions/{session_id}/suggested-request{tail}"


async def chat(host: Host, project_id: str | None = None) -> str:
    """A user session with one real turn the model answered."""
    session = await host.manager.sessions.create(project_id=project_id)
    result = await host.manager.turns.send_and_wait(session.session_id, USER_TEXT, timeout=WAIT)
    assert result.status is TurnStatus.COMPLETED, result
    return session.session_id


async def finished(manager: Manager, job_id: str) -> Job:
    job = await manager.jobs.wait(job_id, timeout=WAIT)
    assert job.state.terminal, f"job {job_id} still {job.state.value} after {WAIT:g} s"
    return job


async def updates(manager: Manager, session_id: str) -> list[dict[str, Any]]:
    events = await manager.events.read(thread_ids=[session_id], types=[UPDATED], limit=1000)
    return [dict(event.payload) for event in events]


async def test_the_waiting_route_answers_the_real_workers_suggestion(tmp_path: Path) -> None:
    model = Model(lambda request: answers(Reply(SUGGESTED, chunks=3)))
    with anyio.fail_after(120):
        async with running_host(tmp_path, model) as host:
            manager = host.manager
            project = await manager.projects.create("demo", str(tmp_path / "work"))
            session_id = await chat(host, project.project_id)
            ok = answer(await host.http.post(url(session_id), json={}), 200)
            [job] = (await manager.jobs.list(types=["agent_instruction"])).items
            done = await finished(manager, job.job_id)
            listed = answer(await host.http.get("/api/sessions", params={"limit": 200}), 200)
            agents = answer(
                await host.http.get(f"/api/projects/{project.project_id}/agent-sessions"), 200
            )
            events = await updates(manager, session_id)
            state = manager.suggestions.get(session_id, ok["requestKey"])
    assert (ok["status"], ok["sessionId"], ok["suggestion"]) == ("ok", session_id, SUGGESTED)
    assert (model.orientations, len(model.suggestions)) == (1, 1)
    assert USER_TEXT in (model.suggestions[0].last_user_text or ""), "the worker saw the chat"
    assert done.state is JobState.COMPLETED, done.error
    assert done.owner == project.project_id
    assert done.payload["agent"] == "supervisor"
    worker_id = done.result["workerSessionId"]
    assert worker_id not in {s["sessionId"] for s in listed["data"]}, "the worker is hidden"
    assert session_id in {s["sessionId"] for s in listed["data"]}
    assert [(s["agent"], s["sessionId"]) for s in agents["data"]] == [("supervisor", worker_id)]
    assert events[-1] == {
        "sessionId": session_id,
        "requestKey": ok["requestKey"],
        "status": "complete",
        "suggestion": SUGGESTED,
    }
    assert state is not None
    assert (state.status, state.suggestion) == ("complete", SUGGESTED)


async def test_the_jobs_route_queues_once_while_the_worker_runs(tmp_path: Path) -> None:
    asked = anyio.Event()
    release = anyio.Event()

    async def suggest(request: RecordedRequest) -> Step:
        asked.set()
        await release.wait()
        return Reply(SUGGESTED)

    model = Model(suggest)
    with anyio.fail_after(120):
        async with running_host(tmp_path, model) as host:
            manager = host.manager
            session_id = await chat(host)
            first = answer(await host.http.post(url(session_id, "/jobs"), json={}), 202)
            with anyio.fail_after(WAIT):
                await asked.wait()  # the worker's suggestion turn runs
            running = answer(await host.http.get(f"/api/orchestrator/jobs/{first['jobId']}"), 200)
            second = answer(
                await host.http.post(url(session_id, "/jobs"), json={"effort": "low"}), 202
            )
            release.set()
            done = await finished(manager, first["jobId"])
            # The route's semantics read the state back: a late `streaming` leaves it as is.
            entry = answer(
                await host.http.post(
                    url(session_id, "/upsert"),
                    json={"requestKey": first["requestKey"], "status": "streaming"},
                ),
                200,
            )
            events = await updates(manager, session_id)
            jobs = await manager.jobs.list(types=["agent_instruction"])
    assert (first["status"], first["dedupe"], first["projectId"]) == (
        "queued",
        "enqueued",
        f"session:{session_id}",
    )
    assert running["job"]["state"] == "running", running
    assert (second["status"], second["dedupe"]) == ("queued", "already_queued")
    assert (second["jobId"], second["requestKey"]) == (first["jobId"], first["requestKey"])
    assert len(jobs.items) == 1, "one job for both asks"
    assert done.state is JobState.COMPLETED, done.error
    assert done.result["text"] == SUGGESTED
    assert (entry["entry"]["status"], entry["entry"]["suggestion"]) == ("complete", SUGGESTED)
    assert [(e["requestKey"], e["status"]) for e in events] == [
        (first["requestKey"], "complete")
    ], "one update: the late streaming announced nothing"


async def test_past_the_deadline_the_route_answers_the_fallback_and_interrupts_the_worker(
    tmp_path: Path,
) -> None:
    stalled = anyio.Event()

    async def suggest(request: RecordedRequest) -> Step:
        if len(model.suggestions) == 1:
            return Reply("warm-up")
        stalled.set()
        return Stall()

    model = Model(suggest)
    with anyio.fail_after(120):
        async with running_host(tmp_path, model, suggest_request_wait=2.0) as host:
            manager = host.manager
            session_id = await chat(host)
            # A first job provisions and orients the worker, so the deadline below falls on
            # the suggestion turn itself.
            warm = answer(await host.http.post(url(session_id, "/jobs"), json={}), 202)
            assert (await finished(manager, warm["jobId"])).state is JobState.COMPLETED
            started = anyio.current_time()
            fallback = answer(await host.http.post(url(session_id), json={}), 200)
            took = anyio.current_time() - started
            assert stalled.is_set(), "the suggestion turn ran and stalled"
            [job] = [
                j
                for j in (await manager.jobs.list(types=["agent_instruction"])).items
                if j.job_id != warm["jobId"]
            ]
            done = await finished(manager, job.job_id)
            turn_started = (done.steps or {}).get("turn_started") or {}
            turn = await manager.turns.get(turn_started["turnId"])
            state = manager.suggestions.get(session_id, fallback["requestKey"])
            events = await updates(manager, session_id)
    expected = f"Please continue from your last response and focus on this request: {USER_TEXT}"
    assert (fallback["status"], fallback["sessionId"], fallback["suggestion"]) == (
        "fallback",
        session_id,
        expected,
    )
    assert 2.0 <= took < 2.0 + 10.0, f"the route answered after {took:.2f} s"
    assert (done.state, done.error) == (JobState.CANCELED, "canceled")
    assert turn.status is TurnStatus.INTERRUPTED, turn.status
    assert state is not None
    assert (state.status, state.suggestion) == ("complete", expected)
    assert events[-1]["requestKey"] == fallback["requestKey"]
    assert events[-1]["suggestion"] == expected


async def test_an_outside_terminal_upsert_is_not_regressed_by_a_late_streaming(
    tmp_path: Path,
) -> None:
    release = anyio.Event()

    async def suggest(request: RecordedRequest) -> Step:
        await release.wait()
        return Reply("too late")

    model = Model(suggest)
    with anyio.fail_after(120):
        async with running_host(tmp_path, model) as host:
            manager = host.manager
            session_id = await chat(host)
            queued = answer(await host.http.post(url(session_id, "/jobs"), json={}), 202)
            key = queued["requestKey"]
            streaming = answer(
                await host.http.post(
                    url(session_id, "/upsert"),
                    json={"requestKey": key, "status": "streaming", "suggestion": "Now add"},
                ),
                200,
            )
            failed = answer(
                await host.http.post(
                    url(session_id, "/upsert"),
                    json={"requestKey": key, "status": "error", "error": "worker gave up"},
                ),
                200,
            )
            late = answer(
                await host.http.post(
                    url(session_id, "/upsert"),
                    json={"requestKey": key, "status": "streaming", "suggestion": "Now add a"},
                ),
                200,
            )
            events = await updates(manager, session_id)
            release.set()
            done = await finished(manager, queued["jobId"])
            after = manager.suggestions.get(session_id, key)
            final_events = await updates(manager, session_id)
    assert streaming["entry"]["status"] == "streaming"
    assert failed["entry"]["status"] == "error"
    assert failed["entry"]["error"] == "worker gave up"
    assert failed["entry"]["suggestion"] == "Now add", "the streamed text is kept"
    assert late["entry"] == failed["entry"], "a terminal state never regresses"
    assert [e["status"] for e in events] == ["streaming", "error"]
    # The worker's answer came after the terminal state: it is the job's result, but the
    # state written first stands (the original's job ended with it).
    assert done.state is JobState.COMPLETED, done.error
    assert done.result["text"] == "too late"
    assert after is not None
    assert (after.status, after.error) == ("error", "worker gave up")
    assert final_events == events, "nothing more announced"


async def test_a_deadline_during_the_orientation_leaves_a_worker_the_next_job_orients(
    tmp_path: Path,
) -> None:
    stalled = anyio.Event()

    class ColdModel(Model):
        async def __call__(self, request: RecordedRequest) -> Step:
            if ORIENTATION_MARK in (request.last_user_text or "") and not stalled.is_set():
                stalled.set()  # the first orientation hangs past the deadline
                self.orientations += 1
                return Stall()
            return await super().__call__(request)

    model = ColdModel(lambda request: answers(Reply(SUGGESTED)))
    with anyio.fail_after(120):
        async with running_host(tmp_path, model, suggest_request_wait=1.0) as host:
            manager = host.manager
            session_id = await chat(host)
            fallback = answer(await host.http.post(url(session_id), json={}), 200)
            [job] = (await manager.jobs.list(types=["agent_instruction"])).items
            canceled = await finished(manager, job.job_id)
            again = answer(await host.http.post(url(session_id, "/jobs"), json={}), 202)
            done = await finished(manager, again["jobId"])
            state = manager.suggestions.get(session_id, again["requestKey"])
            workers = await manager.workers.list(f"session:{session_id}")
    assert stalled.is_set()
    assert fallback["status"] == "fallback"
    assert canceled.state is JobState.CANCELED
    assert "oriented" not in (canceled.steps or {}), "the interrupted orientation is not done"
    assert "turn_started" not in (canceled.steps or {})
    assert done.state is JobState.COMPLETED, done.error
    worker_id = done.result["workerSessionId"]
    assert canceled.steps["provisioned"]["sessionId"] == worker_id, "the same worker"
    assert [w.session_id for w in workers] == [worker_id]
    assert (model.orientations, len(model.suggestions)) == (2, 1), "oriented again, once"
    assert state is not None
    assert (state.status, state.suggestion) == ("complete", SUGGESTED)
