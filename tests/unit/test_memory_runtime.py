"""`testing.MemoryRuntime` on its own: what the runtime contract suite does not cover (its
handler forms and errors, the test side's calls and their failures, framing in pieces).

The RuntimeClient under test is the production one, reading the runtime's bytes through
`rpc.JsonRpcConnection` exactly as it reads codex's stdout.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from codex_manager_core import rpc
from codex_manager_core.errors import RpcError, TransportClosed
from codex_manager_core.ports import ExitStatus, RuntimeTransport
from codex_manager_core.runtime import DEFERRED, RuntimeClient, ServerRequestError, Supervisor
from codex_manager_core.testing import FakeClock, MemoryRuntime

pytestmark = pytest.mark.anyio

WAIT = 5.0


@asynccontextmanager
async def client_of(
    runtime: MemoryRuntime, *, initialize: bool = True, **options: Any
) -> AsyncIterator[RuntimeClient]:
    """A RuntimeClient reading one process of `runtime` (after the handshake)."""
    with anyio.fail_after(WAIT):
        async with runtime.open() as process, anyio.create_task_group() as tasks:
            client = RuntimeClient(process, call_timeout=WAIT, **options)
            tasks.start_soon(client.run)
            if initialize:
                await client.initialize()
            yield client
            tasks.cancel_scope.cancel()


def test_a_memory_runtime_is_a_runtime_transport() -> None:
    assert isinstance(MemoryRuntime(), RuntimeTransport)


async def test_lines_cut_into_pieces_are_reassembled_and_everything_is_recorded() -> None:
    clock = FakeClock()
    runtime = MemoryRuntime({"echo": lambda params: params}, chunk_size=3, clock=clock)
    received: list[rpc.Notification] = []
    arrived = anyio.Event()

    async def on_notification(notification: rpc.Notification) -> None:
        received.append(notification)
        arrived.set()

    async with client_of(runtime, on_notification=on_notification) as client:
        assert client.initialize_result is not None
        assert client.initialize_result.codex_version == "0.0.0-memory"
        assert await client.request("echo", {"text": "ünïcode, in pieces"}) == {
            "text": "ünïcode, in pieces"
        }
        await runtime.notify("thread/started", {"thread": {"id": "thr_1"}})
        with anyio.fail_after(WAIT):
            await arrived.wait()
    [notification] = received
    assert notification.params == {"thread": {"id": "thr_1"}}
    assert notification.message["emittedAtMs"] == int(clock.now() * 1000)
    assert [(c.epoch, c.method) for c in runtime.calls] == [(1, "initialize"), (1, "echo")]
    assert [n.method for n in runtime.client_notifications] == ["initialized"]
    assert runtime.protocol_errors == []


async def test_a_request_before_initialize_is_refused_as_codex_does() -> None:
    async with client_of(MemoryRuntime({"echo": {}}), initialize=False) as client:
        with pytest.raises(RpcError) as caught:
            await client.request("echo", {})
    assert (caught.value.rpc_code, caught.value.rpc_message) == (-32600, "Not initialized")


async def test_handler_errors_become_json_rpc_errors() -> None:
    class Bug(Exception):
        pass

    def handler(method: str, params: Any) -> Any:
        if method == "refuse":
            raise MemoryRuntime.error(-32602, "missing field `threadId`", {"field": "threadId"})
        if method == "reraise":
            raise RpcError(method, -32001, "Server overloaded; retry later.")
        if method == "not-json":
            return {"when": object()}
        raise Bug("a bug in the test's handler")

    runtime = MemoryRuntime(handler)
    async with client_of(runtime) as client:
        with pytest.raises(RpcError) as refused:
            await client.request("refuse", {})
        with pytest.raises(RpcError) as overloaded:
            await client.request("reraise", {}, retry_overload=False)
        with pytest.raises(RpcError) as failed:
            await client.request("bug", {})
        with pytest.raises(RpcError) as not_json:
            await client.request("not-json", {})
    assert (refused.value.rpc_code, refused.value.data) == (-32602, {"field": "threadId"})
    assert refused.value.rpc_message == "missing field `threadId`"
    assert overloaded.value.rpc_code == -32001
    assert failed.value.rpc_code == not_json.value.rpc_code == rpc.INTERNAL_ERROR
    assert "a bug in the test's handler" in failed.value.rpc_message
    bug, type_error = runtime.handler_errors
    assert isinstance(bug, Bug)
    assert isinstance(type_error, TypeError)


async def test_a_mapping_handler_answers_values_and_functions_of_the_params() -> None:
    runtime = MemoryRuntime({"model/list": {"data": []}, "double": lambda p: p["n"] * 2})
    async with client_of(runtime) as client:
        assert await client.request("model/list", {}) == {"data": []}
        assert await client.request("double", {"n": 21}) == 42
        with pytest.raises(RpcError) as unknown:
            await client.request("thread/start", {})
    assert unknown.value.rpc_code == -32600
    assert "unknown variant `thread/start`" in unknown.value.rpc_message


async def test_a_custom_initialize_can_refuse_the_experimental_api() -> None:
    def initialize(params: Any) -> Any:
        if params["capabilities"]["experimentalApi"]:
            raise MemoryRuntime.error(-32600, "experimentalApi is not supported")
        return {"userAgent": "old/0.1.0 (no experiments)", "codexHome": "/h"}

    async with client_of(MemoryRuntime(initialize=initialize)) as client:
        result = client.initialize_result
    assert result is not None
    assert (result.experimental_api, result.codex_version) == (False, "0.1.0")


async def test_a_handler_task_starts_after_the_answer_is_written() -> None:
    runtime = MemoryRuntime()

    async def stream() -> None:
        await runtime.notify("turn/started", {})

    def handler(method: str, params: Any) -> Any:
        runtime.start_soon(stream)
        return {"turn": {"id": "t"}}

    runtime = MemoryRuntime(handler)
    client = rpc.JsonRpcConnection()
    events: list[rpc.Event] = []
    with anyio.fail_after(WAIT):
        async with runtime.open() as process:
            for method in ("initialize", "turn/start"):
                await process.send(client.send_request(method, {})[1])
                if method == "initialize":
                    await process.send(client.send_notification("initialized"))
            while len(events) < 3:
                events.extend(client.receive_data(await process.receive()))
    assert [type(e).__name__ for e in events] == ["Response", "Response", "Notification"]


async def test_server_request_answers_errors_and_exits() -> None:
    async def on_server_request(epoch: int, request: rpc.ServerRequest) -> Any:
        if request.method == "hold":
            return DEFERRED  # never answered
        if request.params == {"n": 2}:
            raise ServerRequestError(-32000, "declined here")
        return {"decision": "accept", "id": request.id}

    runtime = MemoryRuntime()
    async with Supervisor(runtime, on_server_request=on_server_request, ready_timeout=WAIT):
        # Ids count from 0 in each process, as codex numbers its requests.
        assert await runtime.server_request("ask", {"n": 1}) == {"decision": "accept", "id": 0}
        with pytest.raises(RpcError) as refused:
            await runtime.server_request("ask", {"n": 2})
        assert (refused.value.rpc_code, refused.value.rpc_message) == (-32000, "declined here")
        with pytest.raises(TimeoutError, match="did not answer the server request 'hold'"):
            await runtime.server_request("hold", timeout=0.05)

        async def exit_soon() -> None:
            await runtime.wait_ready()
            runtime.exit(7)

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(exit_soon)
            with pytest.raises(TransportClosed, match="exit code 7"):
                await runtime.server_request("hold")


async def test_exit_and_crash_end_the_process_with_their_status() -> None:
    runtime = MemoryRuntime()
    with pytest.raises(RuntimeError, match="no MemoryRuntime process is running"):
        runtime.exit(1)
    async with runtime.open() as process:
        with pytest.raises(ValueError, match=r"0\.\.255"):
            runtime.exit(300)
        runtime.exit(3)
        assert await process.wait() == ExitStatus(3)
        assert await process.receive() == b""
        with pytest.raises(TransportClosed):
            await process.send(b'{"id":0,"method":"initialize"}\n')
        assert await process.stop() == ExitStatus(3)  # the first end wins
    async with runtime.open() as process:
        runtime.crash()
        assert await process.wait() == ExitStatus(-9, 9)
    async with runtime.open() as process:
        pass
    assert await process.wait() == ExitStatus(0)  # leaving open() closes stdin: exit 0
    assert runtime.epoch == 3


async def test_the_test_side_waits_for_a_ready_process_and_says_why_not() -> None:
    with pytest.raises(TimeoutError, match="no process"):
        await MemoryRuntime().notify("x", timeout=0.01)
    runtime = MemoryRuntime()
    async with runtime.open():
        with pytest.raises(TimeoutError, match="process 1 not initialized"):
            await runtime.server_request("x", timeout=0.01)
