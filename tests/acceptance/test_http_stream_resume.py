"""Resuming `GET /api/stream` at frame level, and what a thread filter receives (issue 7,
point 6), over real sockets: real uvicorn, real codex (offline, ScriptedModel).

- a client cut off between two frames of one event (the `app_server.*` frame and its raw
  `notification` sibling) resumes with `since=<seq>&part=<part>` (query or subscribe
  command) and gets exactly the frames an uninterrupted client got; `since` alone keeps
  its old meaning (after the whole event);
- many resumes during one streaming turn (the `bench/stream_resume.py` client the fault
  script uses), compared frame by frame with an uninterrupted subscriber;
- a socket following one thread gets, of the events of other threads or of none, only what
  the original broadcast: the manager's thread-less events and the account aliases, not the
  runtime's other thread-less notifications;
- frames before `subscribed` belong to the previous subscription (without a query filter:
  every thread, as in the original); a filter in the query applies from the first frame.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from bench.stream_resume import (
    collect_frames,
    compare_frames,
    frame_id,
    resume_repeatedly,
    turn_end,
)

from codex_manager_core.testing.scripted_model import Reply
from tests.acceptance.http_fixtures import recv_json, recv_until, running_host
from tests.acceptance.test_http_stream import (
    WAIT,
    create_session,
    ends_turn,
    events_of,
    is_type,
    post_message,
    send,
    text_of,
)

pytestmark = [pytest.mark.anyio, pytest.mark.real_runtime]

Frame = dict[str, Any]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # uvicorn runs on asyncio only


def is_delta_event(frame: Frame) -> bool:
    """The first frame of a delta event: its raw `notification` sibling follows."""
    return frame["type"] == "app_server.item.agent_message.delta"


def ids(frames: list[Frame]) -> list[tuple[int, int]]:
    return [frame_id(frame) for frame in events_of(frames)]


@pytest.mark.parametrize("resume", ["query", "command"])
async def test_a_client_cut_between_sibling_frames_resumes_with_seq_and_part(
    tmp_path: Path, resume: str
) -> None:
    script = [Reply(text_of(2000), chunks=40, delay=0.01)]
    async with running_host(tmp_path, script) as host:
        session_id = await create_session(host)
        path = f"/api/stream?threadId={session_id}"
        async with host.websocket(path) as steady:
            start = (await recv_json(steady))["seq"]
            turn_id = await post_message(host, session_id, "stream please")
            # A client that goes away right after the first frame of the 5th delta event.
            seen: list[Frame] = []
            async with host.websocket(f"{path}&since={start}") as flaky:
                assert (await recv_json(flaky))["type"] == "ready"
                with anyio.fail_after(WAIT):
                    while sum(map(is_delta_event, seen)) < 5:
                        seen.append(await recv_json(flaky))
            cut = seen[-1]
            assert (cut["part"], cut["type"]) == (0, "app_server.item.agent_message.delta")

            if resume == "query":
                resumed_path = f"{path}&since={cut['seq']}&part={cut['part']}"
            else:
                resumed_path = "/api/stream"
            async with host.websocket(resumed_path) as again:
                assert (await recv_json(again))["type"] == "ready"
                if resume == "command":
                    await send(
                        again,
                        {
                            "type": "subscribe",
                            "threadIds": [session_id],
                            "since": cut["seq"],
                            "part": cut["part"],
                        },
                    )
                    answer, _ = await recv_until(again, is_type("subscribed"), timeout=WAIT)
                    assert (answer["since"], answer["part"]) == (cut["seq"], 0)
                _, rest = await recv_until(again, ends_turn(turn_id), timeout=WAIT)
            _, everything = await recv_until(steady, ends_turn(turn_id), timeout=WAIT)

            # The old form: `since` alone resumes after the whole event (the sibling is not
            # sent again), as before `part` existed.
            async with host.websocket(f"{path}&since={cut['seq']}") as old_style:
                assert (await recv_json(old_style))["type"] == "ready"
                _, after_seq = await recv_until(old_style, ends_turn(turn_id), timeout=WAIT)
            assert events_of(after_seq)[0]["seq"] > cut["seq"]

        rest_events = events_of(rest)
        # First the sibling the client missed: the raw notification of the same delta.
        assert frame_id(rest_events[0]) == (cut["seq"], 1)
        assert rest_events[0]["type"] == "notification"
        assert rest_events[0]["payload"]["params"] == cut["payload"]["params"]
        union = ids(seen) + ids(rest)
        assert len(union) == len(set(union)), "a frame came twice"
        assert union == ids(everything), "frames missing or out of order"
        assert events_of(seen) + rest_events == events_of(everything)


async def test_many_resumes_during_a_streaming_turn_lose_no_frame(tmp_path: Path) -> None:
    """What bench/faults.py does 200 times: cut after 1-3 frames, resume with the cursor."""
    script = [Reply(text_of(8000), chunks=150, delay=0.005)]
    rng = random.Random(7)
    async with running_host(tmp_path, script) as host:
        session_id = await create_session(host)
        base = host.url
        start = host.manager.bus.last_seq
        until: Callable[[Frame], bool] = turn_end(None)
        async with anyio.create_task_group() as tasks:
            results: dict[str, Any] = {}

            async def steady() -> None:
                results["steady"] = await collect_frames(
                    base, thread_id=session_id, since=start, until=until, timeout=WAIT
                )

            async def flaky() -> None:
                results["flaky"] = await resume_repeatedly(
                    base,
                    thread_id=session_id,
                    since=start,
                    until=until,
                    cut=lambda: rng.randint(1, 3),
                    timeout=90.0,
                )

            tasks.start_soon(steady)
            tasks.start_soon(flaky)
            await post_message(host, session_id, "stream a lot")

    everything, run = results["steady"], results["flaky"]
    assert len(everything) > 300
    diff = compare_frames(everything, run.frames)
    assert diff.ok, diff
    assert run.connections > 100
    assert run.cuts_inside_an_event > 30, "few cuts fell between sibling frames"


async def test_a_thread_filter_gets_only_the_broadcast_frames_of_other_events(
    tmp_path: Path,
) -> None:
    async with running_host(tmp_path, [Reply("hello", chunks=2)] * 2) as host:
        session_id = await create_session(host)
        other = await create_session(host)
        for sid in (session_id, other):
            turn_id = await post_message(host, sid, "hi")
            await host.manager.turns.wait(sid, turn_id, timeout=WAIT)
        response = await host.http.post("/api/projects", json={"name": "sentinel"})
        assert response.status_code == 200, response.text

        def sentinel(frame: Frame) -> bool:
            return frame["type"] == "project_upserted"

        # Both replay the whole ledger (since=0): the runtime's start-up notifications,
        # both turns (each with a thread-less account/rateLimits/updated), the project.
        async with (
            host.websocket(f"/api/stream?threadId={session_id}&since=0") as following,
            host.websocket("/api/stream?since=0") as everything,
        ):
            _, filtered = await recv_until(following, sentinel, timeout=WAIT)
            _, unfiltered = await recv_until(everything, sentinel, timeout=WAIT)

    filtered = events_of(filtered)
    unfiltered = events_of(unfiltered)
    threadless = [(f["type"], f["part"]) for f in filtered if f["threadId"] is None]
    # The original broadcast these to every socket; nothing else without a thread.
    assert set(threadless) == {
        ("runtime_state_changed", 0),
        ("account_rate_limits_updated", 2),
        ("project_upserted", 0),
    }, threadless
    assert {f["threadId"] for f in filtered} == {session_id, None}
    # The unfiltered socket gets the runtime's thread-less notifications in full.
    all_threadless = {f["type"] for f in unfiltered if f["threadId"] is None}
    assert {"app_server.account.rate_limits.updated", "notification"} <= all_threadless
    assert {"app_server.config_warning"} <= all_threadless
    # Of its own thread the filtered socket misses nothing.
    mine = [frame_id(f) for f in unfiltered if f["threadId"] == session_id]
    assert [frame_id(f) for f in filtered if f["threadId"] == session_id] == mine


async def test_frames_before_subscribed_belong_to_the_previous_subscription(
    tmp_path: Path,
) -> None:
    """As the original: a socket opened without `threadId` follows every thread until the
    client subscribes; from `subscribed` on, only the new subscription. A socket with the
    filter in its query gets no other thread's frame at all."""
    async with running_host(tmp_path, [Reply("hello", chunks=2)] * 2) as host:
        mine = await create_session(host)
        other = await create_session(host)
        async with (
            host.websocket() as default,
            host.websocket(f"/api/stream?threadId={mine}") as filtered,
        ):
            for ws in (default, filtered):
                assert (await recv_json(ws))["type"] == "ready"
            first = await post_message(host, other, "before")
            _, before = await recv_until(default, ends_turn(first), timeout=WAIT)
            assert {f["threadId"] for f in events_of(before)} >= {other}
            await send(default, {"type": "subscribe", "threadId": mine})
            await recv_until(default, is_type("subscribed"), timeout=WAIT)

            second = await post_message(host, other, "after")
            await host.manager.turns.wait(other, second, timeout=WAIT)
            response = await host.http.post("/api/projects", json={"name": "sentinel"})
            assert response.status_code == 200, response.text

            def sentinel(frame: Frame) -> bool:
                return frame["type"] == "project_upserted"

            _, after = await recv_until(default, sentinel, timeout=WAIT)
            _, only_mine = await recv_until(filtered, sentinel, timeout=WAIT)
        assert {f["threadId"] for f in events_of(after)} == {None}
        assert {f["threadId"] for f in events_of(only_mine)} == {None}
