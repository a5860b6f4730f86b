"""`wait_turn` and `wait_job` against a real server, on asyncio and trio: the same
`TurnResult` as the embedded `turns.wait`; a wait that completes through reconnects (the
socket cut by a TCP proxy every few frames) with every event exactly once, compared with an
uninterrupted subscriber (issue 11, test 5); failures and timeouts as the core's errors;
a job's final state, whether it ended before or during the wait."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator
from typing import Any

import anyio
import attrs
import pytest

from codex_manager_client.errors import ClientTimeout
from codex_manager_client.stream import EventStream, StreamFrame
from codex_manager_client.target import Target
from codex_manager_client.waits import wait_job, wait_turn
from codex_manager_core.errors import TimedOut, TurnFailed, TurnTimeout
from codex_manager_core.models import TurnStatus
from codex_manager_core.queue.model import Job, JobState
from codex_manager_core.testing.scripted_model import FailResponse, Reply, Stall
from tests.client.live_fixtures import (
    WAIT,
    ServerThread,
    collect,
    create_session,
    ends_turn,
    http_client,
    send_message,
    server_thread,
)
from tests.client.tcp_proxy import tcp_proxy

pytestmark = [pytest.mark.anyio, pytest.mark.real_runtime]


@attrs.frozen
class Note:
    text: str


@attrs.define
class Gate:
    release: Any


def register_jobs(server: ServerThread) -> Gate:
    """`test.gate` (runs until the gate opens), `test.noop`, `test.broken` (raises)."""
    jobs = server.host.manager.jobs
    gate = Gate(server.call(anyio.Event))

    @jobs.job_type("test.gate", payload=Note, result=Note, timeout=WAIT * 3)
    async def gated(ctx: Any, payload: Note) -> Note:
        await gate.release.wait()
        return payload

    @jobs.job_type("test.noop", payload=Note, result=Note)
    async def noop(ctx: Any, payload: Note) -> Note:
        return payload

    @jobs.job_type("test.broken", payload=Note, result=Note)
    async def broken(ctx: Any, payload: Note) -> Note:
        raise RuntimeError(f"broken on purpose: {payload.text}")

    return gate


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    with server_thread(tmp_path_factory.mktemp("waits")) as running:
        yield running


@pytest.fixture(scope="module")
def gate(server: ServerThread) -> Gate:
    return register_jobs(server)


async def head(target: Target) -> int:
    async with EventStream(target) as stream:
        return stream.head


async def test_wait_turn_gives_the_embedded_result(server: ServerThread) -> None:
    target = server.target
    session_id = await create_session(target)
    server.add_steps(Reply("the answer", chunks=3))
    since = await head(target)
    turn_id = await send_message(target, session_id, "question")
    deltas: list[str] = []

    def on_frame(frame: StreamFrame) -> None:
        if frame.type == "app_server.item.agent_message.delta":
            deltas.append(frame.payload["params"]["delta"])

    with anyio.fail_after(WAIT):
        result = await wait_turn(target, session_id, turn_id, since=since, on_frame=on_frame)
    embedded = server.call(functools.partial(server.host.manager.turns.wait, session_id, turn_id))
    assert result == embedded
    assert (result.status, result.final_text) == (TurnStatus.COMPLETED, "the answer")
    assert "".join(deltas) == "the answer"
    # A turn that already ended is found by replaying from `since`, without on_frame too.
    with anyio.fail_after(WAIT):
        assert await wait_turn(target, session_id, turn_id, since=since) == embedded


async def test_a_wait_completes_through_reconnects_with_every_event_once(
    server: ServerThread,
) -> None:
    target = server.target
    session_id = await create_session(target)
    server.add_steps(Reply("y" * 3000, chunks=120, delay=0.005))
    since = await head(target)
    seen: list[StreamFrame] = []
    results: dict[str, Any] = {}
    async with tcp_proxy(int(target.server.rsplit(":", 1)[1])) as proxy:
        flaky_target = dataclasses.replace(target, server=f"http://127.0.0.1:{proxy.port}")

        def on_frame(frame: StreamFrame) -> None:
            seen.append(frame)
            if len(seen) % 9 == 0:
                proxy.cut()

        async def steady() -> None:
            async with EventStream(target, thread_ids=[session_id], since=since) as stream:
                results["steady"] = await collect(stream, ends_turn(), what="turn/completed")

        async def flaky() -> None:
            with anyio.fail_after(WAIT):
                results["turn"] = await wait_turn(
                    flaky_target, session_id, results["turn_id"], since=since, on_frame=on_frame
                )

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(steady)
            results["turn_id"] = await send_message(target, session_id, "stream a lot")
            tasks.start_soon(flaky)

    assert results["turn"].final_text == "y" * 3000
    assert proxy.cuts >= 20
    steady_frames: list[StreamFrame] = results["steady"]
    assert len(steady_frames) > 200
    # The wait ends on the turn's event (part 0); its raw sibling (part 1) comes after.
    assert (seen[-1].type, steady_frames[-1].seq) == ("app_server.turn.completed", seen[-1].seq)
    assert seen == steady_frames[:-1], "frames lost, repeated or reordered across reconnects"


async def test_a_failed_turn_is_turn_failed_and_a_slow_one_times_out(server: ServerThread) -> None:
    target = server.target
    session_id = await create_session(target)
    server.add_steps(FailResponse("the model broke"))
    since = await head(target)
    turn_id = await send_message(target, session_id, "fail please")
    with anyio.fail_after(WAIT), pytest.raises(TurnFailed) as failed:
        await wait_turn(target, session_id, turn_id, since=since)
    assert "the model broke" in str(failed.value)

    server.add_steps(Stall())
    since = await head(target)
    turn_id = await send_message(target, session_id, "hang")
    with anyio.fail_after(WAIT), pytest.raises(TurnTimeout, match=r"did not finish within 0\.5 s"):
        await wait_turn(target, session_id, turn_id, since=since, timeout=0.5)
    async with http_client(target) as http:
        response = await http.post(f"/api/sessions/{session_id}/interrupt", json={})
        assert response.status_code == 200, response.text
    with anyio.fail_after(WAIT):
        result = await wait_turn(target, session_id, turn_id, since=since)
    assert result.status is TurnStatus.INTERRUPTED


async def test_wait_job_gives_the_final_job(server: ServerThread, gate: Gate) -> None:
    target = server.target
    jobs = server.host.manager.jobs
    gate.release = server.call(anyio.Event)  # closed again (the module shares the server)
    enqueue = functools.partial(jobs.enqueue, owner="waits")

    done = server.call(enqueue, "test.noop", {"text": "quick"}).job
    with anyio.fail_after(WAIT):
        job = await wait_job(target, done.job_id)
    assert (job.state, job.result) == (JobState.COMPLETED, {"text": "quick"})

    broken = server.call(enqueue, "test.broken", {"text": "x"}).job
    with anyio.fail_after(WAIT):
        job = await wait_job(target, broken.job_id)
    assert job.state is JobState.FAILED
    assert "broken on purpose: x" in (job.error or "")

    gated = server.call(enqueue, "test.gate", {"text": "slow"}).job
    with anyio.fail_after(WAIT), pytest.raises(ClientTimeout) as timed_out:
        await wait_job(target, gated.job_id, timeout=0.3)
    assert isinstance(timed_out.value, TimedOut)
    frames: list[StreamFrame] = []
    ended: list[Job] = []
    async with anyio.create_task_group() as tasks:

        async def wait() -> None:
            with anyio.fail_after(WAIT):
                ended.append(await wait_job(target, gated.job_id, on_frame=frames.append))

        tasks.start_soon(wait)
        server.call(gate.release.set)
    assert (ended[0].state, ended[0].result) == (JobState.COMPLETED, {"text": "slow"})
    assert all(frame.payload["jobId"] == gated.job_id for frame in frames)
