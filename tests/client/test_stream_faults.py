"""`EventStream` against a misbehaving server (a few lines of wsproto on an anyio listener,
no codex needed), on asyncio and trio: a server that accepts, says `ready` and drops the
connection at once must not be reconnected to in a hot loop forever: the stream backs off
and gives up with `TransportError` after `max_reconnects`; a server that answers 401 is an
`AuthError` at once."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import pytest
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, RejectConnection, Request, TextMessage

from codex_manager_client.errors import AuthError, TransportError
from codex_manager_client.stream import EventStream
from codex_manager_client.target import Target

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def fake_server(
    handle: Callable[[WSConnection], list[bytes]],
) -> AsyncIterator[tuple[str, list[int]]]:
    """Serves each WebSocket handshake with what `handle` returns, then closes the socket.
    Yields (its URL, a list that counts the connections)."""
    connections: list[int] = []

    async def serve(stream: anyio.abc.SocketStream) -> None:
        connections.append(1)
        async with stream:
            ws = WSConnection(ConnectionType.SERVER)
            while True:
                try:
                    ws.receive_data(await stream.receive())
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    return
                for event in ws.events():
                    if isinstance(event, Request):
                        for data in handle(ws):
                            await stream.send(data)
                        return

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(listener.serve, serve)
        try:
            yield f"http://127.0.0.1:{port}", connections
        finally:
            tasks.cancel_scope.cancel()


def ready_then_close(ws: WSConnection) -> list[bytes]:
    return [
        ws.send(AcceptConnection()),
        ws.send(TextMessage(json.dumps({"type": "ready", "threadId": None, "seq": 5}))),
        ws.send(CloseConnection(code=1011, reason="going away")),
    ]


def unauthorized(ws: WSConnection) -> list[bytes]:
    return [ws.send(RejectConnection(status_code=401, headers=[], has_body=False))]


async def test_a_server_that_drops_every_connection_is_given_up_on() -> None:
    async with fake_server(ready_then_close) as (url, connections):
        with anyio.fail_after(30):
            async with EventStream(Target(url), max_reconnects=3) as stream:
                assert stream.head == 5
                with pytest.raises(TransportError, match="after 4 attempts in a row"):
                    await stream.__anext__()
    assert len(connections) == 4
    assert stream.reconnects == 3


async def test_a_401_handshake_is_an_auth_error_at_once() -> None:
    async with fake_server(unauthorized) as (url, connections):
        with anyio.fail_after(30), pytest.raises(AuthError):
            async with EventStream(Target(url)):
                pass
    assert len(connections) == 1
