"""Issue 7.4: slow or idle connections cannot hold the server's sockets for ever.

`running_server` (what `serve` runs) with a short header timeout and a small connection
bound, serving a minimal app (these limits live in the HTTP server, below any route):

- a connection that sends nothing, or a partial request line or headers, gets 408 and is
  closed once the header timeout passes; so does the next request of a kept-alive one;
- with `max_connections` connections open, a new request gets 503 and so does a WebSocket
  upgrade; once the idle ones time out, requests are served again;
- complete requests are not affected.
"""

from __future__ import annotations

import time

import anyio
import pytest
from anyio.abc import SocketStream
from litestar import Litestar, get
from litestar.handlers import WebsocketListener

from codex_manager_http.serve import RunningServer, running_server

pytestmark = pytest.mark.anyio

HEADER_TIMEOUT = 0.5
BOUND = 10.0
"""Upper bound of every wait in these tests (seconds)."""
REQUEST = b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
UPGRADE = (
    b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


@pytest.fixture
def anyio_backend() -> str:
    """uvicorn runs on asyncio only."""
    return "asyncio"


@get("/ping", sync_to_thread=False)
def ping() -> dict[str, str]:
    return {"status": "ok"}


class Echo(WebsocketListener):
    path = "/ws"

    def on_receive(self, data: str) -> str:
        return data


def app() -> Litestar:
    return Litestar([ping, Echo], logging_config=None)


async def connect(server: RunningServer) -> SocketStream:
    with anyio.fail_after(BOUND):
        return await anyio.connect_tcp("127.0.0.1", server.port)


async def read_until_closed(stream: SocketStream) -> bytes:
    """Everything the server sends until it closes the connection (within BOUND)."""
    received = b""
    with anyio.fail_after(BOUND):
        try:
            while True:
                received += await stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError, ConnectionResetError):
            return received


async def read_response(stream: SocketStream) -> bytes:
    """One response to a request (headers and its small body)."""
    received = b""
    with anyio.fail_after(BOUND):
        while b"\r\n\r\n" not in received:
            received += await stream.receive()
        head, _, body = received.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        while len(body) < length:
            body += await stream.receive()
    return received


@pytest.mark.parametrize(
    "partial",
    [b"", b"GE", b"GET /ping HTTP/1.1\r\n", b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "],
    ids=["nothing", "half a request line", "a request line", "half the headers"],
)
async def test_slow_headers_are_cut_off(partial: bytes) -> None:
    async with running_server(app(), header_timeout=HEADER_TIMEOUT) as server:
        stream = await connect(server)
        started = time.monotonic()
        if partial:
            await stream.send(partial)
        answer = await read_until_closed(stream)
        waited = time.monotonic() - started
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        assert b'"code": "request_timeout"' in answer, answer
        assert HEADER_TIMEOUT * 0.8 <= waited < HEADER_TIMEOUT + 5, waited
        # A complete request is served as usual.
        fresh = await connect(server)
        await fresh.send(REQUEST)
        assert (await read_response(fresh)).startswith(b"HTTP/1.1 200 ")
        await fresh.aclose()


async def test_a_kept_alive_connection_gets_the_timeout_for_each_request() -> None:
    async with running_server(app(), header_timeout=HEADER_TIMEOUT) as server:
        stream = await connect(server)
        for _ in range(3):  # requests that arrive whole are never cut off
            await stream.send(REQUEST)
            assert (await read_response(stream)).startswith(b"HTTP/1.1 200 ")
        await stream.send(b"GET /ping HTTP/1.1\r\nHost: 1")
        assert (await read_until_closed(stream)).startswith(b"HTTP/1.1 408 ")


async def test_the_connection_bound_is_enforced() -> None:
    async with running_server(
        app(), header_timeout=HEADER_TIMEOUT * 4, max_connections=2
    ) as server:
        # Two connections the server has seen (each served one request), kept alive.
        held = [await connect(server), await connect(server)]
        for stream in held:
            await stream.send(REQUEST)
            assert (await read_response(stream)).startswith(b"HTTP/1.1 200 ")
        # A third gets 503, for a request and for a WebSocket.
        extra = await connect(server)
        await extra.send(REQUEST)
        refused = await read_until_closed(extra)
        assert refused.startswith(b"HTTP/1.1 503 "), refused
        assert b'"code": "too_many_connections"' in refused, refused
        assert b"CODEX_MANAGER_MAX_CONNECTIONS" in refused, refused
        extra = await connect(server)
        await extra.send(UPGRADE)
        refused = await read_until_closed(extra)
        assert refused.startswith(b"HTTP/1.1 503 "), refused
        assert b"too_many_connections" in refused, refused
        # One held connection closes (the server closes it after `Connection: close`, so it
        # has let go of it once we see the end): a new request is served.
        await held[0].send(b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        assert (await read_until_closed(held[0])).startswith(b"HTTP/1.1 200 ")
        fresh = await connect(server)
        await fresh.send(UPGRADE)
        with anyio.fail_after(BOUND):
            assert (await fresh.receive()).startswith(b"HTTP/1.1 101 ")
        await fresh.aclose()
        await held[1].aclose()


async def test_idle_connections_at_the_bound_time_out_and_free_their_places() -> None:
    async with running_server(app(), header_timeout=HEADER_TIMEOUT, max_connections=2) as server:
        idle = [await connect(server), await connect(server)]
        # They never send a byte, and hold the server's places (accepted in order, so before
        # the next one) ...
        extra = await connect(server)
        await extra.send(REQUEST)
        assert (await read_until_closed(extra)).startswith(b"HTTP/1.1 503 ")
        # ... until both are cut off: then requests are served again.
        for stream in idle:
            assert (await read_until_closed(stream)).startswith(b"HTTP/1.1 408 ")
        fresh = await connect(server)
        await fresh.send(REQUEST)
        assert (await read_response(fresh)).startswith(b"HTTP/1.1 200 ")
        await fresh.aclose()
