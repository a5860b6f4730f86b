"""`GET /api/stream` as clients use it: real uvicorn, real codex (offline, ScriptedModel),
real WebSocket clients.

- a turn end to end: session over HTTP, subscribe over WS, POST a message, deltas and
  turn/completed both as `app_server.*` and raw `notification` frames (same seq), then the
  transcript over HTTP (issue test 2);
- ready, ping/pong, invalid commands (the error frame; the socket stays open);
- many threads per socket, type filters, unsubscribe;
- replay: a client that disconnects mid-turn and resumes with `since` (query parameter or
  subscribe command) ends up with exactly the frames of an uninterrupted one (issue test 4);
- a client that does not read: it gets `lagged` (and catches up with `since`), or, when it
  stays stuck longer than the send timeout, is disconnected; a normal client meanwhile
  receives everything;
- server shutdown ends every connection promptly and leaves no subscription behind.
"""

from __future__ import annotations

import json
import random
import socket
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from codex_manager_core.testing.scripted_model import Reply
from codex_manager_http.app import HostState
from codex_manager_http.frames import BROADCAST_ALIASES
from tests.acceptance.http_fixtures import Host, recv_json, recv_until, running_host

pytestmark = [pytest.mark.anyio, pytest.mark.real_runtime]

WAIT = 30.0
CONTROL = frozenset({"ready", "subscribed", "pong", "error", "lagged"})
Frame = dict[str, Any]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # uvicorn runs on asyncio only


def text_of(size: int, seed: int = 7) -> str:
    """Text that does not compress away (permessage-deflate is on)."""
    rng = random.Random(seed)
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz      .,") for _ in range(size))


def host_state(host: Host) -> HostState:
    state: HostState = host.server.server.config.app.state.host
    return state


async def create_session(host: Host) -> str:
    response = await host.http.post("/api/sessions", json={})
    assert response.status_code == 200, response.text
    session_id: str = response.json()["session"]["sessionId"]
    return session_id


async def post_message(host: Host, session_id: str, text: str) -> str:
    response = await host.http.post(f"/api/sessions/{session_id}/messages", json={"text": text})
    assert response.status_code == 202, response.text
    turn_id: str = response.json()["turnId"]
    return turn_id


async def send(ws: ClientConnection, command: Any) -> None:
    await ws.send(command if isinstance(command, str | bytes) else json.dumps(command))


def is_type(kind: str) -> Callable[[Frame], bool]:
    return lambda frame: frame["type"] == kind


def ends_turn_or_lags(turn_id: str) -> Callable[[Frame], bool]:
    ends = ends_turn(turn_id)
    return lambda frame: frame["type"] == "lagged" or ends(frame)


def ends_turn(turn_id: str | None = None) -> Callable[[Frame], bool]:
    """The raw `notification` frame of turn/completed: the last frame of that event."""

    def predicate(frame: Frame) -> bool:
        if frame["type"] != "notification" or frame["payload"]["method"] != "turn/completed":
            return False
        return turn_id is None or frame["payload"]["params"]["turn"]["id"] == turn_id

    return predicate


async def subscribe(ws: ClientConnection, **command: Any) -> Frame:
    """Send a subscribe command; the `subscribed` answer (frames before it are dropped)."""
    await send(ws, {"type": "subscribe", **command})
    answer, _ = await recv_until(ws, is_type("subscribed"), timeout=WAIT, message="subscribed")
    return answer


def events_of(frames: list[Frame]) -> list[Frame]:
    return [frame for frame in frames if frame["type"] not in CONTROL]


def identities(frames: list[Frame]) -> list[tuple[int, str]]:
    return [(frame["seq"], frame["type"]) for frame in events_of(frames)]


def assert_well_formed(frames: list[Frame]) -> None:
    """Envelope, ISO times, ascending seq, the frames of one event together and numbered by
    `part`, and a raw notification frame for every app_server notification. (A socket that
    follows threads gets, of a thread-less runtime notification, only its broadcast alias.)"""
    by_seq: dict[int, list[Frame]] = {}
    last = 0
    for frame in events_of(frames):
        assert set(frame) == {"type", "threadId", "payload", "seq", "part", "at"}, frame
        assert frame["seq"] >= last, f"seq went back from {last} to {frame['seq']}"
        assert frame["seq"] == last or frame["seq"] not in by_seq, "an event's frames split"
        last = frame["seq"]
        assert datetime.fromisoformat(frame["at"].replace("Z", "+00:00")).tzinfo is not None
        by_seq.setdefault(frame["seq"], []).append(frame)
    for seq, group in by_seq.items():
        first = group[0]
        if first["part"] != 0:
            assert len(group) == 1, group
            assert first["threadId"] is None, first
            assert first["type"] in BROADCAST_ALIASES.values(), first
            continue
        assert [frame["part"] for frame in group] == list(range(len(group))), group
        assert first["type"] != "notification", f"seq {seq} starts with a raw frame"
        payload = first["payload"]
        if first["type"].startswith("app_server.") and payload["signalType"] == "notification":
            assert group[1] == {
                "type": "notification",
                "threadId": first["threadId"],
                "payload": {"method": payload["method"], "params": payload["params"]},
                "seq": seq,
                "part": 1,
                "at": first["at"],
            }
        for extra in group[1:]:
            assert extra["seq"] == seq
            assert extra["at"] == first["at"]
    assert len(identities(frames)) == len(set(identities(frames))), "a frame came twice"


async def wait_until(condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    """Poll a server-side condition that no frame announces (bounded)."""
    with anyio.move_on_after(timeout):
        while True:
            if condition():
                return
            await anyio.sleep(0.01)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def small_socket_buffers(host: Host) -> None:
    """Make the kernel hold little for a client that does not read (accepted sockets
    inherit the listener's send buffer). Otherwise loopback TCP buffers megabytes and
    the server only blocks after a very long turn."""
    for server in host.server.server.servers:
        for listener in server.sockets:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)


@asynccontextmanager
async def non_reading_client(host: Host, path: str) -> AsyncIterator[ClientConnection]:
    """A client that stops reading: a small receive buffer, no compression, and reads
    from the socket paused after one queued frame."""
    sock = socket.socket()
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        await anyio.to_thread.run_sync(sock.connect, (host.server.host, host.server.port))
    except BaseException:
        sock.close()
        raise
    async with connect(
        host.server.ws_url + path, sock=sock, max_queue=1, max_size=None, compression=None
    ) as ws:
        yield ws


# ---------------------------------------------------------------------- end to end


async def test_a_turn_streams_end_to_end(tmp_path: Path) -> None:
    text = text_of(600)
    async with running_host(tmp_path, [Reply(text, chunks=12, delay=0.005)]) as host:
        session_id = await create_session(host)
        async with host.websocket() as ws:
            ready = await recv_json(ws)
            assert ready["type"] == "ready"
            assert ready["threadId"] is None
            assert 0 < ready["seq"] <= host.manager.bus.last_seq
            subscribed = await subscribe(ws, threadId=session_id)
            assert subscribed == {
                "type": "subscribed",
                "threadIds": [session_id],
                "types": None,
                "since": None,
                "part": None,
                "seq": subscribed["seq"],
            }
            turn_id = await post_message(host, session_id, "hello")
            _, frames = await recv_until(ws, ends_turn(turn_id), timeout=WAIT, message="turn end")

        assert_well_formed(frames)
        assert {frame["threadId"] for frame in frames} <= {session_id, None}
        assert all(frame["seq"] > subscribed["seq"] for frame in frames)
        deltas = [f for f in frames if f["type"] == "app_server.item.agent_message.delta"]
        raw_deltas = [
            f
            for f in frames
            if f["type"] == "notification" and f["payload"]["method"] == "item/agentMessage/delta"
        ]
        assert len(deltas) == 12
        assert "".join(f["payload"]["params"]["delta"] for f in deltas) == text
        assert [f["seq"] for f in raw_deltas] == [f["seq"] for f in deltas]
        assert "".join(f["payload"]["params"]["delta"] for f in raw_deltas) == text
        for delta in deltas:
            assert delta["threadId"] == session_id
            assert delta["payload"]["source"] == "app_server"
            assert delta["payload"]["method"] == "item/agentMessage/delta"
            assert delta["payload"]["context"] == {"threadId": session_id, "turnId": turn_id}
        completed = [f for f in frames if f["type"] == "app_server.turn.completed"]
        assert len(completed) == 1
        assert completed[0]["seq"] == frames[-1]["seq"]
        assert completed[0]["payload"]["params"]["turn"]["status"] == "completed"
        # The original's alias of thread/tokenUsage/updated rides along.
        usage = [f for f in frames if f["type"] == "app_server.thread.token_usage.updated"]
        aliases = [f for f in frames if f["type"] == "thread_token_usage_updated"]
        assert [f["seq"] for f in aliases] == [f["seq"] for f in usage]
        assert [f["payload"] for f in aliases] == [f["payload"]["params"] for f in usage]

        response = await host.http.get(f"/api/sessions/{session_id}/transcript")
        assert response.status_code == 200, response.text
        entries = response.json()["entries"]
        assert [e["content"] for e in entries if e["role"] == "assistant"] == [text]
        assert [e["content"] for e in entries if e["role"] == "user"] == ["hello"]


# ---------------------------------------------------------------------- commands


INVALID = [
    ("not json", "not valid JSON"),
    ("[1, 2]", "must be a JSON object"),
    ({"type": "shout"}, "unknown command type 'shout'"),
    ({"no": "type"}, "no string field 'type'"),
    ({"type": "subscribe", "threadId": 42}, "threadId must be a string"),
    ({"type": "subscribe", "threadIds": "abc"}, "threadIds must be an array"),
    ({"type": "subscribe", "threadIds": [f"t{n}" for n in range(1001)]}, "at most 1000"),
    ({"type": "subscribe", "since": "5"}, "since must be a non-negative integer"),
    ({"type": "subscribe", "since": 10**9}, "after the last event"),
    ({"type": "subscribe", "types": [""]}, "types[0]"),
    (b"\xff", "not UTF-8"),
]


async def test_ready_ping_and_invalid_commands_keep_the_socket_open(tmp_path: Path) -> None:
    async with running_host(tmp_path) as host:
        async with host.websocket("/api/stream?threadId=thr-none") as ws:
            ready = await recv_json(ws)
            assert ready == {"type": "ready", "threadId": "thr-none", "seq": ready["seq"]}
            assert isinstance(ready["seq"], int)
            await send(ws, {"type": "ping"})
            assert await recv_json(ws) == {"type": "pong"}
            for command, detail in INVALID:
                await send(ws, command)
                error, _ = await recv_until(ws, is_type("error"), message=f"error for {command!r}")
                assert error["message"] == "invalid websocket command"
                assert detail in error["detail"], (command, error)
            await send(ws, b'{"type":"ping"}')  # binary frames are read as UTF-8 too
            await recv_until(ws, is_type("pong"), message="pong after invalid commands")
            # A failed subscribe kept the previous filter.
            answer = await subscribe(ws, since=0)
            assert answer["threadIds"] == ["thr-none"]

        async with host.websocket("/api/stream?since=soon") as ws:
            ready = await recv_json(ws)
            assert ready["type"] == "ready"
            error = await recv_json(ws)
            assert error["type"] == "error"
            assert "invalid query: since must be a non-negative integer" in error["detail"]
            await send(ws, {"type": "ping"})
            await recv_until(ws, is_type("pong"), message="pong after an invalid query")

        metrics = (await host.http.get("/api/metrics")).text
        assert "codex_manager_websocket_connections_total 2" in metrics
        state = host_state(host)
        assert state.metrics.websocket_connections == 2
    assert state.metrics.websocket_open == 0


# ---------------------------------------------------------------------- filters


async def test_many_threads_type_filters_and_unsubscribe(tmp_path: Path) -> None:
    script = [Reply("alpha", chunks=2), Reply("beta", chunks=2), Reply("gamma", chunks=2)]
    async with running_host(tmp_path, script) as host:
        a, b, c = [await create_session(host) for _ in range(3)]

        async def sentinel(name: str) -> None:
            """A thread-less event after everything before it (frames come in seq order)."""
            response = await host.http.post("/api/projects", json={"name": name})
            assert response.status_code == 200, response.text

        def is_sentinel(name: str) -> Callable[[Frame], bool]:
            return lambda f: (
                f["type"] == "project_upserted" and (f["payload"]["project"]["name"] == name)
            )

        async with (
            host.websocket() as two_threads,
            host.websocket("/api/stream?types=app_server.turn.,project_") as turns_only,
            host.websocket(f"/api/stream?threadId={c}") as later_everything,
        ):
            for ws in (two_threads, turns_only, later_everything):
                assert (await recv_json(ws))["type"] == "ready"
            answer = await subscribe(two_threads, threadIds=[a, b])
            assert answer["threadIds"] == [a, b]

            turn_a = await post_message(host, a, "one")
            _, frames = await recv_until(two_threads, ends_turn(turn_a), message="turn A")
            await sentinel("after-a")
            _, before = await recv_until(later_everything, is_sentinel("after-a"))
            assert {f["threadId"] for f in events_of(before)} == {None}, "A leaked to C's socket"

            answer = await subscribe(later_everything, threadIds=None)  # like unsubscribe
            assert answer["threadIds"] is None
            await send(later_everything, {"type": "unsubscribe"})
            answer, _ = await recv_until(later_everything, is_type("subscribed"))
            assert (answer["threadIds"], answer["types"], answer["since"]) == (None, None, None)

            turn_b = await post_message(host, b, "two")
            _, more = await recv_until(two_threads, ends_turn(turn_b), message="turn B")
            frames += more
            turn_c = await post_message(host, c, "three")
            _, after = await recv_until(later_everything, ends_turn(turn_c), message="turn C")
            assert {b, c} <= {f["threadId"] for f in after}, "unsubscribed: every thread"
            await sentinel("end")

            _, more = await recv_until(two_threads, is_sentinel("end"))
            frames += more
            _, filtered = await recv_until(turns_only, is_sentinel("end"))

        # Two threads on one socket: both turns, nothing of C, thread-less events too.
        two = events_of(frames)
        assert {f["threadId"] for f in two} == {a, b, None}
        completed = [f for f in two if f["type"] == "app_server.turn.completed"]
        assert [f["threadId"] for f in completed] == [a, b]
        assert_well_formed(frames)

        # Type prefixes select events; each selected notification keeps its raw frame.
        kinds = Counter(f["type"] for f in events_of(filtered))
        assert kinds["app_server.turn.completed"] == 3
        assert kinds["app_server.turn.started"] == 3
        assert kinds["project_upserted"] == 2
        for frame in events_of(filtered):
            if frame["type"] == "notification":
                assert frame["payload"]["method"].startswith("turn/")
            elif frame["type"] not in ("turn_plan_updated", "turn_diff_updated"):
                assert frame["type"].startswith(("app_server.turn.", "project_")), frame["type"]
        assert_well_formed(filtered)


# ---------------------------------------------------------------------- replay


@pytest.mark.parametrize("resume", ["query", "command"])
async def test_a_client_that_reconnects_with_since_misses_nothing(
    tmp_path: Path, resume: str
) -> None:
    script = [Reply(text_of(3000), chunks=60, delay=0.01)]
    async with running_host(tmp_path, script) as host:
        session_id = await create_session(host)
        path = f"/api/stream?threadId={session_id}"
        async with host.websocket(path) as steady:
            start = (await recv_json(steady))["seq"]
            # From the same point as `steady`: the runtime may still be announcing things
            # (config warnings, status) between the two connects.
            async with host.websocket(f"{path}&since={start}") as flaky:
                first = await recv_json(flaky)
                assert first["type"] == "ready"
                turn_id = await post_message(host, session_id, "stream please")
                # Reads until some deltas arrived, then goes away mid-turn (after a raw
                # delta frame: the last frame of its event, so seq says what it has).
                seen: list[Frame] = []
                with anyio.fail_after(WAIT):
                    while sum(ends_delta(frame) for frame in seen) < 10:
                        seen.append(await recv_json(flaky))
            cursor = seen[-1]["seq"]
            assert not any(ends_turn(turn_id)(frame) for frame in seen), "turn ended too soon"

            resumed_path = f"{path}&since={cursor}" if resume == "query" else "/api/stream"
            async with host.websocket(resumed_path) as again:
                ready = await recv_json(again)
                assert ready["type"] == "ready"
                if resume == "command":
                    answer = await subscribe(again, threadIds=[session_id], since=cursor)
                    assert answer["since"] == cursor
                _, rest = await recv_until(again, ends_turn(turn_id), timeout=WAIT)
            _, everything = await recv_until(steady, ends_turn(turn_id), timeout=WAIT)

        assert events_of(rest)[0]["seq"] > cursor, "replayed what it had seen"
        union = identities(seen) + identities(rest)
        assert len(union) == len(set(union)), "a frame came twice"
        assert union == identities(everything), "frames missing or out of order"
        # The replayed frames (from the store) equal the live ones.
        assert events_of(seen) + events_of(rest) == events_of(everything)
        assert all(frame["seq"] > start for frame in events_of(everything))
        assert_well_formed(everything)


def ends_delta(frame: Frame) -> bool:
    return frame["type"] == "notification" and (
        frame["payload"]["method"] == "item/agentMessage/delta"
    )


# ---------------------------------------------------------------------- slow clients


async def test_a_client_that_does_not_read_gets_lagged_and_catches_up(tmp_path: Path) -> None:
    script = [Reply(text_of(60_000), chunks=400, delay=0.002)]
    settings = {"ws_buffer": 32, "ws_send_timeout": 120.0}
    async with running_host(tmp_path, script, settings=settings) as host:
        small_socket_buffers(host)
        session_id = await create_session(host)
        # Both from the same point: the runtime may still be announcing the new thread
        # (thread/started) between the two connects.
        start = host.manager.bus.last_seq
        path = f"/api/stream?threadId={session_id}&since={start}"
        async with host.websocket(path) as normal, non_reading_client(host, path) as slow:
            assert (await recv_json(normal))["type"] == "ready"
            turn_id = await post_message(host, session_id, "stream a lot")
            last, everything = await recv_until(normal, ends_turn_or_lags(turn_id), timeout=WAIT)
            assert last["type"] != "lagged", "the normal client fell behind"
            # Meanwhile the slow client read nothing; now it reads what was sent to it.
            _, before = await recv_until(slow, is_type("lagged"), timeout=WAIT, message="lagged")
            lagged = before[-1]
            assert before[0]["type"] == "ready"
            assert lagged["seq"] < everything[-1]["seq"]
            assert host_state(host).metrics.websocket_lagged == 1
            # Nothing more comes until it subscribes again; with since it catches up.
            answer = await subscribe(slow, since=lagged["seq"])
            assert answer["threadIds"] == [session_id]
            _, rest = await recv_until(slow, ends_turn(turn_id), timeout=WAIT)

        assert_well_formed(everything)
        assert all(frame["seq"] > start for frame in events_of(everything))
        union = identities(before) + identities(rest)
        assert len(union) == len(set(union)), "a frame came twice"
        assert union == identities(everything)


async def test_a_client_stuck_longer_than_the_send_timeout_is_disconnected(
    tmp_path: Path,
) -> None:
    script = [Reply(text_of(60_000), chunks=400, delay=0.002)]
    settings = {"ws_buffer": 10_000, "ws_send_timeout": 1.5}
    async with running_host(tmp_path, script, settings=settings) as host:
        small_socket_buffers(host)
        state = host_state(host)
        subscribers = host.manager.bus.subscriber_count
        session_id = await create_session(host)
        path = f"/api/stream?threadId={session_id}"
        async with host.websocket(path) as normal, non_reading_client(host, path) as slow:
            await recv_json(normal)
            turn_id = await post_message(host, session_id, "stream a lot")
            last, everything = await recv_until(normal, ends_turn_or_lags(turn_id), timeout=WAIT)
            assert last["type"] != "lagged", "the normal client fell behind"
            # The stuck client is cut off (the send to it blocked longer than the timeout):
            # what was buffered for it, then the end.
            await wait_until(
                lambda: state.metrics.websocket_disconnected_slow == 1,
                "the server to disconnect the client that does not read",
            )
            with anyio.fail_after(WAIT):
                received = await read_until_closed(slow)
            assert 0 < received < len(everything)
            assert state.metrics.websocket_disconnected_slow == 1
            await send(normal, {"type": "ping"})
            await recv_until(normal, is_type("pong"), message="pong after the slow one left")
            assert host.manager.bus.subscriber_count == subscribers + 1
        metrics = (await host.http.get("/api/metrics")).text
        assert "codex_manager_websocket_disconnected_slow_total 1" in metrics


# ---------------------------------------------------------------------- shutdown


async def read_until_closed(ws: ClientConnection) -> int:
    """Frames received until the server closed the connection."""
    received = 0
    try:
        while True:
            await ws.recv()
            received += 1
    except ConnectionClosed:
        return received


async def test_server_shutdown_ends_the_connections_promptly(tmp_path: Path) -> None:
    async with running_host(tmp_path) as host:
        state = host_state(host)
        bus = host.manager.bus
        subscribers = bus.subscriber_count
        async with host.websocket() as one, host.websocket("/api/stream?threadId=t1") as two:
            for ws in (one, two):
                assert (await recv_json(ws))["type"] == "ready"
            assert bus.subscriber_count == subscribers + 2
            assert state.metrics.websocket_open == 2
            host.server.server.should_exit = True
            with anyio.fail_after(5):
                for ws in (one, two):
                    await read_until_closed(ws)
                    assert ws.close_code == 1012  # uvicorn: service restart
        started = anyio.current_time()
    # running_host returned: uvicorn stopped, after waiting for every handler (it would
    # wait its 10 s graceful timeout for one that did not end).
    assert anyio.current_time() - started < 5.0
    assert state.metrics.websocket_open == 0
    # The WebSockets' subscriptions are gone; the Manager's own subscriber (the extension
    # dispatcher) ended with the Manager.
    assert bus.subscriber_count == 0 <= subscribers
