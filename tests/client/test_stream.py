"""`EventStream` against a real server (uvicorn, real codex offline, ScriptedModel), on
asyncio and trio: frames in order; a reconnect during a streaming turn yields every frame
exactly once (compared with an uninterrupted subscriber); 401 and a server that is down
end the stream with typed errors. Issue 11, test 5."""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator

import anyio
import pytest

from codex_manager_client.errors import AuthError, InvalidInputError, TransportError
from codex_manager_client.stream import EventStream, StreamFrame, backoff_delay
from codex_manager_client.target import Target
from codex_manager_core.testing.scripted_model import Reply
from tests.client.live_fixtures import (
    WAIT,
    ServerThread,
    collect,
    create_session,
    ends_turn,
    send_message,
    server_thread,
)

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    with server_thread(tmp_path_factory.mktemp("stream")) as running:
        yield running


def ids(frames: list[StreamFrame]) -> list[tuple[int, int]]:
    return [(frame.seq, frame.part) for frame in frames]


@pytest.mark.real_runtime
async def test_frames_arrive_in_order_with_the_head(server: ServerThread) -> None:
    target = server.target
    session_id = await create_session(target)
    server.add_steps(Reply("hello there", chunks=4))
    async with EventStream(target, thread_ids=[session_id]) as stream:
        assert stream.head >= 0
        turn_id = await send_message(target, session_id, "hi")
        frames = await collect(stream, ends_turn(turn_id), what="turn/completed")
        assert stream.cursor == (frames[-1].seq, frames[-1].part)
    assert ids(frames) == sorted(set(ids(frames))), "frames repeated or out of order"
    assert all(frame.seq > stream.head for frame in frames)
    assert {frame.thread_id for frame in frames} <= {session_id, None}
    deltas = [f for f in frames if f.type == "app_server.item.agent_message.delta"]
    assert "".join(f.payload["params"]["delta"] for f in deltas) == "hello there"


@pytest.mark.real_runtime
async def test_a_reconnect_during_a_streaming_turn_yields_every_frame_exactly_once(
    server: ServerThread,
) -> None:
    target = server.target
    session_id = await create_session(target)
    server.add_steps(Reply("x" * 3000, chunks=120, delay=0.005))
    results: dict[str, list[StreamFrame]] = {}
    async with EventStream(target, thread_ids=[session_id]) as probe:
        start = probe.head
    flaky_stream = EventStream(target, thread_ids=[session_id], since=start)

    async def steady() -> None:
        async with EventStream(target, thread_ids=[session_id], since=start) as stream:
            results["steady"] = await collect(stream, ends_turn(), what="turn/completed")

    async def flaky() -> None:
        got: list[StreamFrame] = []
        async with flaky_stream as stream:
            with anyio.fail_after(WAIT):
                async for frame in stream:
                    got.append(frame)
                    if len(got) % 7 == 0:
                        await stream.disconnect()  # cut between (or inside) events
                    if ends_turn()(frame):
                        break
        results["flaky"] = got

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(steady)
        tasks.start_soon(flaky)
        await send_message(target, session_id, "stream a lot")

    steady_frames, flaky_frames = results["steady"], results["flaky"]
    assert len(steady_frames) > 200
    assert flaky_stream.reconnects >= 20, flaky_stream.reconnects
    assert ids(flaky_frames) == ids(steady_frames)
    assert flaky_frames == steady_frames


@pytest.mark.real_runtime
async def test_resuming_from_seq_and_part_starts_after_that_frame(server: ServerThread) -> None:
    target = server.target
    session_id = await create_session(target)
    server.add_steps(Reply("abcdef", chunks=3))
    async with EventStream(target, thread_ids=[session_id]) as stream:
        turn_id = await send_message(target, session_id, "hi")
        everything = await collect(stream, ends_turn(turn_id))
    inside = next(
        i
        for i, f in enumerate(everything)
        if f.part == 0 and i + 1 < len(everything) and everything[i + 1].seq == f.seq
    )
    cut = everything[inside]
    async with EventStream(
        target, thread_ids=[session_id], since=cut.seq, part=cut.part
    ) as resumed:
        rest = await collect(resumed, ends_turn(turn_id))
    assert rest == everything[inside + 1 :]


@pytest.mark.real_runtime
async def test_a_wrong_token_is_an_auth_error(server: ServerThread) -> None:
    wrong = Target(server.host.url, token="not-the-token")
    with pytest.raises(AuthError) as caught:
        async with EventStream(wrong):
            pass
    assert caught.value.status == 401


@pytest.mark.real_runtime
async def test_a_refused_query_is_a_clear_error(server: ServerThread) -> None:
    async def first_frame() -> StreamFrame:
        async with EventStream(server.target, since=10**9) as stream:
            with anyio.fail_after(WAIT):
                return await stream.__anext__()

    with pytest.raises(InvalidInputError, match="refused the stream subscription"):
        await first_frame()


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_server_that_is_down_is_a_transport_error_after_the_bound() -> None:
    target = Target(f"http://127.0.0.1:{unused_port()}", timeout=2.0)
    with anyio.fail_after(10):
        with pytest.raises(TransportError, match="after 3 attempts"):
            async with EventStream(target, max_reconnects=2):
                pass


def test_backoff_is_bounded_and_grows() -> None:
    rng = random.Random(11)
    first = [backoff_delay(0, rng) for _ in range(200)]
    later = [backoff_delay(6, rng) for _ in range(200)]
    assert all(0 <= delay <= 0.1 for delay in first)
    assert all(0 <= delay <= 5.0 for delay in later)  # the cap
    assert max(later) > 2.0  # full jitter up to the (grown) ceiling
    assert all(backoff_delay(1000, rng) <= 5.0 for _ in range(50))


def test_part_without_since_is_refused() -> None:
    with pytest.raises(ValueError, match="part needs since"):
        EventStream(Target(), part=1)


@pytest.mark.real_runtime
async def test_several_threads_are_followed_by_subscribing_also_after_a_reconnect(
    server: ServerThread,
) -> None:
    target = server.target
    first, second, other = [await create_session(target) for _ in range(3)]
    server.add_steps(Reply("one"), Reply("other"), Reply("two"))
    async with EventStream(target, thread_ids=[first, second]) as stream:
        turn = await send_message(target, first, "hi")
        got = await collect(stream, ends_turn(turn), what="the first turn's end")
        await stream.disconnect()  # the resubscribe after a reconnect keeps both threads
        async with EventStream(target, thread_ids=[other]) as watch:
            ignored = await send_message(target, other, "hi")
            await collect(watch, ends_turn(ignored), what="the other turn's end")
        turn = await send_message(target, second, "hi")
        got += await collect(stream, ends_turn(turn), what="the second turn's end")
    threads = {frame.thread_id for frame in got}
    assert {first, second} <= threads <= {first, second, None}
    assert ids(got) == sorted(set(ids(got)))
    assert stream.reconnects == 1
