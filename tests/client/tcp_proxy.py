"""A TCP proxy a test can cut or stall, on asyncio and trio: `cut()` breaks every connection
through it at once, as a network failure would; `pause()` stops forwarding what the server
sends (a client that stopped reading), `resume()` goes on.

    async with tcp_proxy(port) as proxy:       # proxy.port forwards to 127.0.0.1:port
        ...; proxy.cut(); ...
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.abc


class TcpProxy:
    def __init__(self, upstream_port: int, tasks: anyio.abc.TaskGroup) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.cuts = 0
        self._tasks = tasks
        self._connections: set[anyio.CancelScope] = set()
        self._flowing = anyio.Event()
        self._flowing.set()

    def pause(self) -> None:
        """Stop forwarding what the server sends (the client looks like it stopped
        reading): the server's socket buffers fill up."""
        self._flowing = anyio.Event()

    def resume(self) -> None:
        self._flowing.set()

    def cut(self) -> None:
        """Break every open connection."""
        self.cuts += 1
        for scope in list(self._connections):
            scope.cancel()

    async def handle(self, inbound: anyio.abc.SocketStream) -> None:
        with anyio.CancelScope() as scope:
            self._connections.add(scope)
            try:
                outbound = await anyio.connect_tcp("127.0.0.1", self.upstream_port)
                async with inbound, outbound, anyio.create_task_group() as pumps:
                    pumps.start_soon(_pump, inbound, outbound, pumps.cancel_scope, None)
                    pumps.start_soon(_pump, outbound, inbound, pumps.cancel_scope, self)
            finally:
                self._connections.discard(scope)
        if scope.cancelled_caught:
            # Reset, not a graceful FIN: the peers see a broken connection.
            with anyio.CancelScope(shield=True):
                await inbound.aclose()


async def _pump(
    source: anyio.abc.ByteReceiveStream,
    sink: anyio.abc.ByteSendStream,
    done: anyio.CancelScope,
    gate: TcpProxy | None,
) -> None:
    try:
        while True:
            if gate is not None:
                await gate._flowing.wait()
            try:
                chunk = await source.receive()
            except anyio.EndOfStream:
                break
            await sink.send(chunk)
    except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
        pass
    done.cancel()


@asynccontextmanager
async def tcp_proxy(upstream_port: int) -> AsyncIterator[TcpProxy]:
    async with anyio.create_task_group() as tasks:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        proxy = TcpProxy(upstream_port, tasks)
        proxy.port = int(listener.extra(anyio.abc.SocketAttribute.local_port))
        tasks.start_soon(listener.serve, proxy.handle)
        try:
            yield proxy
        finally:
            # `serve` closes the listener when it is cancelled.
            tasks.cancel_scope.cancel()
