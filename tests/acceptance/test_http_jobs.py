"""The job queue over HTTP, on real uvicorn + the real codex binary: read one job, one
owner's jobs (the original's shapes, oldest first), cancel (queued -> canceled; an ended job
-> 409 already_terminal), 404s, the global list with its filters and paging, 400 naming the
query parameter that is wrong, `orchestratorQueue` in health and the queue's metrics moving
as jobs run. Jobs are no-op types registered on the Manager the app wraps; a handler that
must stay running waits on an event the test sets (nothing sleeps)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import attrs
import httpx
import pytest

from codex_manager_core import Manager, QueueFull
from codex_manager_core.queue.model import JobState
from codex_manager_core.queue.policies import RetryPolicy
from codex_manager_core.services.job_runner import JobContext
from codex_manager_http.errors import manager_error_response
from tests.acceptance.http_fixtures import running_host

WAIT = 20.0
UNKNOWN = "job_0000000000000000000000000000dead"
RECORD_FIELDS = {
    "id",
    "type",
    "version",
    "projectId",
    "sourceSessionId",
    "priority",
    "state",
    "dedupeKey",
    "payload",
    "result",
    "error",
    "attempts",
    "maxAttempts",
    "createdAt",
    "startedAt",
    "completedAt",
    "cancelRequestedAt",
    "nextAttemptAt",
    "lastAttemptAt",
    "runningContext",
    "progress",
}


@pytest.fixture
def anyio_backend() -> str:
    """uvicorn runs on asyncio only."""
    return "asyncio"


@attrs.frozen
class Note:
    text: str


@attrs.frozen
class Done:
    text: str


@attrs.define
class Gate:
    """A job type whose handler runs until the test opens the gate."""

    started: anyio.Event = attrs.field(factory=anyio.Event)
    release: anyio.Event = attrs.field(factory=anyio.Event)


def register(manager: Manager) -> Gate:
    """`test.gate` (waits for the gate), `test.noop` (ends at once), `test.flaky` (fails its
    first attempt, retried at once)."""
    gate = Gate()

    @manager.jobs.job_type("test.gate", payload=Note, result=Done, timeout=WAIT * 3)
    async def gated(ctx: JobContext, payload: Note) -> Done:
        gate.started.set()
        await gate.release.wait()
        return Done(payload.text)

    @manager.jobs.job_type("test.noop", payload=Note, result=Done)
    async def noop(ctx: JobContext, payload: Note) -> Done:
        return Done(payload.text)

    retry = RetryPolicy(max_attempts=2, classifier=lambda exc: "retryable", base_delay=0.0)

    @manager.jobs.job_type("test.flaky", payload=Note, result=Done, retry=retry)
    async def flaky(ctx: JobContext, payload: Note) -> Done:
        if ctx.attempt == 1:
            raise RuntimeError("first attempt fails")
        return Done(payload.text)

    return gate


async def wait_for(what: str, condition: Callable[[], Any]) -> None:
    try:
        with anyio.fail_after(WAIT):
            await condition()
    except TimeoutError:
        raise AssertionError(f"{what} did not happen within {WAIT:g} s") from None


async def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, (response.status_code, response.text)
    return response.json()


def issue_paths(body: dict[str, Any]) -> list[list[Any]]:
    return [issue["path"] for issue in body.get("issues", [])]


_SAMPLE = re.compile(r"^([a-z_]+)(\{[^}]*\})? (\S+)$")


def samples(text: str) -> dict[str, float]:
    """`name{labels}` -> value, of every sample line of a Prometheus text."""
    found = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match:
            found[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    return found


@pytest.mark.anyio
@pytest.mark.real_runtime
async def test_read_list_and_cancel_jobs_with_the_original_shapes(tmp_path: Path) -> None:
    async with running_host(tmp_path) as host:
        http, jobs = host.http, host.manager.jobs
        gate = register(host.manager)
        first = (await jobs.enqueue("test.gate", {"text": "a"}, owner="p1")).job
        await wait_for("the first job starting", gate.started.wait)
        # One job of an owner runs at a time: the second waits, queued.
        second = (await jobs.enqueue("test.noop", {"text": "b"}, owner="p1")).job
        other = (await jobs.enqueue("test.gate", {"text": "c"}, owner="session:s9")).job

        body = await ok(await http.get(f"/api/orchestrator/jobs/{first.job_id}"))
        assert body["status"] == "ok"
        record = body["job"]
        assert record.keys() >= RECORD_FIELDS
        assert record["id"] == first.job_id
        assert (record["type"], record["projectId"], record["state"]) == (
            "test.gate",
            "p1",
            "running",
        )
        assert record["payload"] == {"text": "a"}
        assert record["runningContext"] == {"threadId": None, "turnId": None}
        assert record["startedAt"] is not None
        assert record["priority"] == "background"

        missing = await http.get(f"/api/orchestrator/jobs/{UNKNOWN}")
        assert missing.status_code == 404
        assert missing.json()["status"] == "not_found"
        assert missing.json()["code"] == "job_not_found"
        assert missing.json()["jobId"] == UNKNOWN

        listed = await ok(await http.get("/api/projects/p1/orchestrator/jobs"))
        assert [j["id"] for j in listed["data"]] == [first.job_id, second.job_id]
        queued = await ok(
            await http.get("/api/projects/p1/orchestrator/jobs", params={"state": "queued"})
        )
        assert [j["id"] for j in queued["data"]] == [second.job_id]
        by_session = await ok(await http.get("/api/projects/session:s9/orchestrator/jobs"))
        assert [j["id"] for j in by_session["data"]] == [other.job_id]
        nobody = await ok(await http.get("/api/projects/nobody/orchestrator/jobs"))
        assert nobody == {"data": []}
        bad_state = await http.get("/api/projects/p1/orchestrator/jobs", params={"state": "done"})
        assert bad_state.status_code == 400, bad_state.text
        assert ["state"] in issue_paths(bad_state.json())

        canceled = await ok(await http.post(f"/api/orchestrator/jobs/{second.job_id}/cancel"))
        assert canceled["status"] == "ok"
        assert canceled["job"]["state"] == "canceled"
        assert canceled["job"]["cancelRequestedAt"] is not None
        again = await http.post(f"/api/orchestrator/jobs/{second.job_id}/cancel")
        assert again.status_code == 409, again.text
        assert again.json()["status"] == "already_terminal"
        assert again.json()["code"] == "already_terminal"
        assert again.json()["job"]["id"] == second.job_id
        assert again.json()["job"]["state"] == "canceled"
        gone = await http.post(f"/api/orchestrator/jobs/{UNKNOWN}/cancel")
        assert gone.status_code == 404
        assert gone.json()["jobId"] == UNKNOWN

        # A running job is canceled too.
        running = await ok(await http.post(f"/api/orchestrator/jobs/{other.job_id}/cancel"))
        assert running["job"]["state"] == "canceled"

        gate.release.set()
        done = await jobs.wait(first.job_id, timeout=WAIT)
        assert done.state is JobState.COMPLETED
        record = (await ok(await http.get(f"/api/orchestrator/jobs/{first.job_id}")))["job"]
        assert record["state"] == "completed"
        assert record["result"] == {"text": "a"}
        assert record["completedAt"] is not None


@pytest.mark.anyio
@pytest.mark.real_runtime
async def test_the_global_list_filters_pages_and_names_bad_parameters(tmp_path: Path) -> None:
    async with running_host(tmp_path) as host:
        http, jobs = host.http, host.manager.jobs
        register(host.manager)
        ids = []
        for n, owner in enumerate(["a", "a", "b", "session:c", "b"]):
            job = (await jobs.enqueue("test.noop", {"text": str(n)}, owner=owner)).job
            ids.append(job.job_id)
        for job_id in ids:
            await jobs.wait(job_id, timeout=WAIT)
        gated = (await jobs.enqueue("test.gate", {"text": "g"}, owner="z")).job
        await jobs.cancel(gated.job_id)

        everything = await ok(await http.get("/api/orchestrator/jobs"))
        assert everything["status"] == "ok"
        assert everything["nextCursor"] is None
        # Newest first.
        assert [j["id"] for j in everything["data"]] == [gated.job_id, *reversed(ids)]

        seen, cursor = [], None
        for _ in range(10):
            params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = await ok(await http.get("/api/orchestrator/jobs", params=params))
            assert len(page["data"]) <= 2
            seen += [j["id"] for j in page["data"]]
            cursor = page["nextCursor"]
            if cursor is None:
                break
        assert seen == [j["id"] for j in everything["data"]]

        completed = await ok(
            await http.get("/api/orchestrator/jobs", params={"state": "completed"})
        )
        assert {j["id"] for j in completed["data"]} == set(ids)
        both = await ok(
            await http.get("/api/orchestrator/jobs", params={"state": "completed,canceled"})
        )
        assert len(both["data"]) == len(ids) + 1
        repeated = await ok(
            await http.get(
                "/api/orchestrator/jobs", params=[("state", "canceled"), ("state", "queued")]
            )
        )
        assert [j["id"] for j in repeated["data"]] == [gated.job_id]
        typed = await ok(await http.get("/api/orchestrator/jobs", params={"type": "test.gate"}))
        assert [j["id"] for j in typed["data"]] == [gated.job_id]
        owned = await ok(await http.get("/api/orchestrator/jobs", params={"owner": "b"}))
        assert [j["id"] for j in owned["data"]] == [ids[4], ids[2]]

        for params, name in [
            ({"state": "finished"}, "state"),
            ({"state": "queued,"}, "state"),
            ({"type": ""}, "type"),
            ({"limit": "0"}, "limit"),
            ({"limit": "5000"}, "limit"),
            ({"limit": "ten"}, "limit"),
            ({"cursor": "not-a-cursor"}, "cursor"),
            ({"cursor": ""}, "cursor"),
            ({"owner": "has space"}, "owner"),
        ]:
            response = await http.get("/api/orchestrator/jobs", params=params)
            assert response.status_code == 400, (params, response.status_code, response.text)
            assert [name] in issue_paths(response.json()), (params, response.json())


@pytest.mark.anyio
@pytest.mark.real_runtime
async def test_health_and_metrics_follow_the_queue(tmp_path: Path) -> None:
    async with running_host(tmp_path) as host:
        http, jobs = host.http, host.manager.jobs
        gate = register(host.manager)

        queue = (await ok(await http.get("/api/health")))["orchestratorQueue"]
        assert queue == {
            "enabled": True,
            "queued": 0,
            "running": 0,
            "completed": 0,
            "failed": 0,
            "canceled": 0,
            "projects": 0,
        }
        before = samples((await http.get("/api/metrics")).text)
        assert before["codex_manager_queue_depth"] == 0
        assert before['codex_manager_queue_jobs_ended_total{state="completed"}'] == 0
        assert before['codex_manager_queue_job_latency_seconds_bucket{le="+Inf"}'] == 0

        running = (await jobs.enqueue("test.gate", {"text": "r"}, owner="p1")).job
        await wait_for("the gated job starting", gate.started.wait)
        waiting = (await jobs.enqueue("test.noop", {"text": "w"}, owner="p1")).job
        queue = (await ok(await http.get("/api/health")))["orchestratorQueue"]
        assert (queue["queued"], queue["running"], queue["projects"]) == (1, 1, 1)
        live = samples((await http.get("/api/metrics")).text)
        assert live["codex_manager_queue_depth"] == 1
        assert live["codex_manager_queue_running"] == 1
        assert live["codex_manager_queue_enqueued_total"] == 2

        gate.release.set()
        await jobs.wait(running.job_id, timeout=WAIT)
        await jobs.wait(waiting.job_id, timeout=WAIT)
        flaky = (await jobs.enqueue("test.flaky", {"text": "f"}, owner="p2")).job
        assert (await jobs.wait(flaky.job_id, timeout=WAIT)).state is JobState.COMPLETED

        # Ended jobs are counted with the store's figures, cached for a few seconds: an
        # uncached read refreshes them.
        await host.manager.health()
        queue = (await ok(await http.get("/api/health")))["orchestratorQueue"]
        assert queue == {
            "enabled": True,
            "queued": 0,
            "running": 0,
            "completed": 3,
            "failed": 0,
            "canceled": 0,
            "projects": 0,
        }
        after = samples((await http.get("/api/metrics")).text)
        assert after["codex_manager_queue_depth"] == 0
        assert after["codex_manager_queue_running"] == 0
        assert after["codex_manager_queue_retries_total"] == 1
        assert after['codex_manager_queue_jobs_ended_total{state="completed"}'] == 3
        assert after['codex_manager_queue_job_latency_seconds_bucket{le="+Inf"}'] == 3
        assert after["codex_manager_queue_job_latency_seconds_count"] == 3
        assert after["codex_manager_queue_job_latency_seconds_sum"] > 0


def test_a_full_queue_is_429_queue_full() -> None:
    """The mapping every enqueueing route relies on (the suggested-request routes test it
    end to end)."""
    response = manager_error_response(QueueFull("the queue holds 500 jobs (queue_max_total)"))
    assert response.status_code == 429
    assert isinstance(response.content, dict)
    assert response.content["code"] == "queue_full"
    assert response.content["status"] == "error"
    assert "queue_max_total" in response.content["message"]
