"""`EventStream` after `lagged`: a client that stops reading (a proxy pauses) falls more than
`ws_buffer` events behind; the server says `lagged`, the stream resubscribes from its cursor
and yields every frame once, as an uninterrupted subscriber got them. asyncio and trio."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from codex_manager_client.stream import EventStream, StreamFrame
from codex_manager_core.testing.scripted_model import Reply
from tests.acceptance.test_http_stream import small_socket_buffers
from tests.client.live_fixtures import (
    ServerThread,
    collect,
    create_session,
    ends_turn,
    send_message,
    server_thread,
)
from tests.client.tcp_proxy import tcp_proxy

pytestmark = [pytest.mark.anyio, pytest.mark.real_runtime]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    settings = {"ws_buffer": 32, "ws_send_timeout": 120.0}
    with server_thread(tmp_path_factory.mktemp("lagged"), settings=settings) as running:
        running.call(small_socket_buffers, running.host)
        yield running


async def test_a_stream_that_lagged_resubscribes_and_loses_nothing(server: ServerThread) -> None:
    target = server.target
    session_id = await create_session(target)
    server.add_steps(Reply("z" * 100_000, chunks=600, delay=0.001))
    async with EventStream(target, thread_ids=[session_id]) as probe:
        since = probe.head
    port = int(target.server.rsplit(":", 1)[1])
    async with tcp_proxy(port) as proxy:
        slow_target = dataclasses.replace(target, server=f"http://127.0.0.1:{proxy.port}")
        async with (
            EventStream(target, thread_ids=[session_id], since=since) as steady,
            EventStream(slow_target, thread_ids=[session_id], since=since) as slow,
        ):
            proxy.pause()
            await send_message(target, session_id, "stream a lot")
            everything = await collect(steady, ends_turn(), what="the end of the turn")
            proxy.resume()
            got: list[StreamFrame] = await collect(slow, ends_turn(), what="the slow end")

    assert len(everything) > 1000
    assert slow.lags >= 1, "the server never said lagged: the test did not exercise it"
    assert got == everything
