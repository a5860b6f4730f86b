"""RuntimeClient against an in-memory runtime process whose answers the test scripts."""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import anyio.abc
import pytest

from codex_manager_core import rpc
from codex_manager_core.errors import CallTimeout, RpcError, RuntimeExited, TransportClosed
from codex_manager_core.ports import ExitStatus, RuntimeProcess
from codex_manager_core.runtime.client import (
    DEFERRED,
    ClientInfo,
    RetryPolicy,
    RuntimeClient,
    ServerRequestError,
    parse_codex_version,
)

WAIT = 5.0  # bound for anything that should take milliseconds


@contextlib.contextmanager
def deadline(what: str, seconds: float = WAIT) -> Iterator[None]:
    """fail_after with a message that says what we were waiting for."""
    try:
        with anyio.fail_after(seconds):
            yield
    except TimeoutError:
        raise AssertionError(f"timed out after {seconds:g} s waiting for {what}") from None


class MemoryProcess:
    """A `RuntimeProcess` whose far end is the test: it reads what the client wrote
    (`next_message`) and writes what "the runtime" says (`say`), then ends it (`exit`)."""

    def __init__(self, pid: int = 4242) -> None:
        self._pid = pid
        self._out_send, self._out_recv = anyio.create_memory_object_stream[bytes](1000)
        self._in_send, self._in_recv = anyio.create_memory_object_stream[bytes](1000)
        self._buffer = b""
        self._status: ExitStatus | None = None
        self._exited = anyio.Event()
        self.stopped = False

    # ---------------------------------------------------------- the RuntimeProcess port

    @property
    def pid(self) -> int | None:
        return self._pid

    async def send(self, data: bytes) -> None:
        if self._status is not None:
            raise TransportClosed("the memory runtime has exited")
        await self._in_send.send(data)

    async def receive(self) -> bytes:
        try:
            return await self._out_recv.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            return b""

    async def wait(self) -> ExitStatus:
        await self._exited.wait()
        assert self._status is not None
        return self._status

    async def stop(self) -> ExitStatus:
        self.stopped = True
        self.exit(ExitStatus(0))
        return await self.wait()

    # ---------------------------------------------------------- the runtime's side

    async def say(self, message: dict[str, Any] | bytes) -> None:
        data = message if isinstance(message, bytes) else json.dumps(message).encode() + b"\n"
        await self._out_send.send(data)

    async def answer(self, request_id: rpc.RequestId, result: Any) -> None:
        await self.say({"id": request_id, "result": result})

    async def answer_error(
        self, request_id: rpc.RequestId, code: int, message: str, data: Any = None
    ) -> None:
        error: dict[str, Any] = {"code": code, "message": message}
        if data is not None:
            error["data"] = data
        await self.say({"id": request_id, "error": error})

    async def next_message(self) -> dict[str, Any]:
        """The next line the client wrote, decoded."""
        with deadline("the client to write a message"):
            while b"\n" not in self._buffer:
                self._buffer += await self._in_recv.receive()
        line, self._buffer = self._buffer.split(b"\n", 1)
        message = json.loads(line)
        assert isinstance(message, dict), message
        return message

    async def next_request(self, method: str | None = None) -> dict[str, Any]:
        message = await self.next_message()
        assert "id" in message, f"expected a request, got {message}"
        if method is not None:
            assert message["method"] == method, message
        return message

    def nothing_written(self) -> bool:
        return b"\n" not in self._buffer and self._in_recv.statistics().current_buffer_used == 0

    def exit(self, status: ExitStatus) -> None:
        """The runtime dies: stdout reaches EOF and `wait()` returns `status`."""
        if self._status is None:
            self._status = status
            self._out_send.close()
            self._exited.set()


def test_memory_process_is_a_runtime_process() -> None:
    assert isinstance(MemoryProcess(), RuntimeProcess)


class Recorder:
    """Collects what the client hands to its callbacks."""

    def __init__(self) -> None:
        self.notifications: list[rpc.Notification] = []
        self.protocol_errors: list[rpc.ProtocolError] = []
        self._changed = anyio.Event()

    async def on_notification(self, event: rpc.Notification) -> None:
        self.notifications.append(event)
        self._poke()

    async def on_protocol_error(self, event: rpc.ProtocolError) -> None:
        self.protocol_errors.append(event)
        self._poke()

    def _poke(self) -> None:
        changed, self._changed = self._changed, anyio.Event()
        changed.set()

    async def wait_for(self, what: str, predicate: Any) -> None:
        with deadline(what):
            while not predicate():
                await self._changed.wait()


@contextlib.asynccontextmanager
async def running(
    process: MemoryProcess | None = None, **kwargs: Any
) -> AsyncIterator[tuple[RuntimeClient, MemoryProcess]]:
    """A RuntimeClient reading `process` in a background task; the process exits at the end."""
    process = process or MemoryProcess()
    client = RuntimeClient(process, **kwargs)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(client.run)
        try:
            yield client, process
        finally:
            process.exit(ExitStatus(0))
            with deadline("the client to finish after the runtime exited"):
                await client.wait_closed()


# ------------------------------------------------------------------------ calls


@pytest.mark.anyio
async def test_concurrent_calls_answered_out_of_order_reach_their_callers() -> None:
    results: dict[str, Any] = {}
    async with running() as (client, process), anyio.create_task_group() as callers:

        async def call(name: str) -> None:
            results[name] = await client.request("echo", {"name": name})

        for name in ("a", "b", "c", "d"):
            callers.start_soon(call, name)
        requests = [await process.next_request("echo") for _ in range(4)]
        assert len({r["id"] for r in requests}) == 4, "request ids must be unique"
        # Answer in reverse order, each with a result that names its own request.
        for request in reversed(requests):
            await process.answer(request["id"], {"echoed": request["params"]["name"]})
    assert results == {name: {"echoed": name} for name in ("a", "b", "c", "d")}


@pytest.mark.anyio
async def test_request_without_params_omits_them() -> None:
    async with running() as (client, process), anyio.create_task_group() as tasks:
        tasks.start_soon(client.request, "thread/list")
        request = await process.next_request("thread/list")
        assert "params" not in request
        await process.answer(request["id"], [])


@pytest.mark.anyio
async def test_error_answer_raises_rpc_error_with_code_message_and_data() -> None:
    async with running() as (client, process), anyio.create_task_group() as tasks:

        async def runtime() -> None:
            request = await process.next_request("thread/read")
            await process.answer_error(
                request["id"], -32600, "thread not found: thr_1", {"threadId": "thr_1"}
            )

        tasks.start_soon(runtime)
        with pytest.raises(RpcError) as caught:
            await client.request("thread/read", {"threadId": "thr_1"})
    error = caught.value
    assert (error.method, error.rpc_code, error.rpc_message) == (
        "thread/read",
        -32600,
        "thread not found: thr_1",
    )
    assert error.data == {"threadId": "thr_1"}
    assert "thread/read" in str(error)
    assert "thread not found: thr_1" in str(error)
    assert "-32600" in str(error)


@pytest.mark.anyio
async def test_timeout_raises_call_timeout_and_a_late_answer_is_a_protocol_error() -> None:
    recorder = Recorder()
    async with running(on_protocol_error=recorder.on_protocol_error) as (client, process):
        started = time.monotonic()
        with pytest.raises(CallTimeout) as caught:
            await client.request("turn/start", {"threadId": "t"}, timeout=0.05)
        assert time.monotonic() - started < 2.0
        assert caught.value.method == "turn/start"
        assert caught.value.timeout == 0.05
        assert "'turn/start'" in str(caught.value)
        assert "0.05 s" in str(caught.value)

        late = await process.next_request("turn/start")
        await process.answer(late["id"], {"late": True})
        await recorder.wait_for("the late answer's report", lambda: recorder.protocol_errors)
        (report,) = recorder.protocol_errors
        assert "abandoned" in report.reason
        assert repr(late["id"]) in report.reason
        assert b'"late"' in report.preview

        # The late answer was not kept for anyone: the next call gets its own answer.
        async with anyio.create_task_group() as tasks:

            async def runtime() -> None:
                request = await process.next_request("echo")
                assert request["id"] != late["id"]
                await process.answer(request["id"], "fresh")

            tasks.start_soon(runtime)
            assert await client.request("echo", timeout=WAIT) == "fresh"


@pytest.mark.anyio
async def test_default_call_timeout_applies() -> None:
    async with running(call_timeout=0.05) as (client, _process):
        with pytest.raises(CallTimeout, match=r"'slow' within 0\.05 s"):
            await client.request("slow")


def test_retry_policy_delay_is_jittered_exponential_within_its_cap() -> None:
    policy = RetryPolicy(attempts=10, base_delay=0.1, max_delay=1.0)
    rng = random.Random(1)
    for attempt in range(10):
        cap = min(1.0, 0.1 * 2**attempt)
        for _ in range(20):
            assert cap / 2 <= policy.delay(attempt, rng) <= cap


@pytest.mark.anyio
async def test_overload_is_retried_with_backoff_then_succeeds() -> None:
    policy = RetryPolicy(attempts=5, base_delay=0.02, max_delay=0.1)
    expected_rng = random.Random(1234)
    expected_delays = [policy.delay(attempt, expected_rng) for attempt in range(3)]
    arrivals: list[float] = []
    async with (
        running(retry=policy, rng=random.Random(1234)) as (client, process),
        anyio.create_task_group() as tasks,
    ):

        async def runtime() -> None:
            for _ in range(3):
                request = await process.next_request("thread/start")
                arrivals.append(time.monotonic())
                await process.answer_error(request["id"], rpc.SERVER_OVERLOADED, "overloaded")
            request = await process.next_request("thread/start")
            arrivals.append(time.monotonic())
            await process.answer(request["id"], {"thread": {"id": "thr_1"}})

        tasks.start_soon(runtime)
        result = await client.request("thread/start", {}, timeout=WAIT)
        assert result == {"thread": {"id": "thr_1"}}
        assert process.nothing_written(), "no attempt beyond the successful one"
    assert len(arrivals) == 4, "three overloaded attempts, then the one that succeeded"
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    for gap, delay in zip(gaps, expected_delays, strict=True):
        # The client sleeps the seeded jittered delay before each retry (a little slack for
        # the clock's resolution; sleeping longer is fine).
        assert gap >= delay - 0.005, (gaps, expected_delays)


@pytest.mark.anyio
async def test_overload_retries_exhausted_raise_rpc_error_32001() -> None:
    policy = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.002)
    attempts = 0
    async with (
        running(retry=policy, rng=random.Random(0)) as (client, process),
        anyio.create_task_group() as tasks,
    ):

        async def runtime() -> None:
            nonlocal attempts
            while True:
                request = await process.next_request("thread/start")
                attempts += 1
                await process.answer_error(request["id"], rpc.SERVER_OVERLOADED, "busy")

        tasks.start_soon(runtime)
        with pytest.raises(RpcError) as caught:
            await client.request("thread/start", timeout=WAIT)
        tasks.cancel_scope.cancel()
    assert caught.value.rpc_code == rpc.SERVER_OVERLOADED
    assert caught.value.rpc_message == "busy"
    assert attempts == 3


@pytest.mark.anyio
async def test_retry_overload_false_fails_on_the_first_overload() -> None:
    async with running(retry=RetryPolicy(attempts=5, base_delay=0.001)) as (client, process):
        async with anyio.create_task_group() as tasks:

            async def runtime() -> None:
                request = await process.next_request("thread/start")
                await process.answer_error(request["id"], rpc.SERVER_OVERLOADED, "busy")

            tasks.start_soon(runtime)
            with pytest.raises(RpcError) as caught:
                await client.request("thread/start", retry_overload=False, timeout=WAIT)
        assert caught.value.rpc_code == rpc.SERVER_OVERLOADED
        assert process.nothing_written(), "retry_overload=False must not retry"


@pytest.mark.anyio
async def test_other_errors_are_not_retried() -> None:
    async with running(retry=RetryPolicy(attempts=5, base_delay=0.001)) as (client, process):
        async with anyio.create_task_group() as tasks:

            async def runtime() -> None:
                request = await process.next_request("x")
                await process.answer_error(request["id"], rpc.INTERNAL_ERROR, "boom")

            tasks.start_soon(runtime)
            with pytest.raises(RpcError, match="boom"):
                await client.request("x", timeout=WAIT)
        assert process.nothing_written()


# ------------------------------------------------------------------------ notifications


@pytest.mark.anyio
async def test_notifications_arrive_in_order_and_a_failing_handler_does_not_stop_the_client(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[int] = []
    all_seen = anyio.Event()

    async def on_notification(event: rpc.Notification) -> None:
        seen.append(event.params["n"])
        if len(seen) == 50:
            all_seen.set()
        if event.params["n"] % 7 == 3:
            raise ValueError(f"consumer bug on {event.params['n']}")

    caplog.set_level(logging.ERROR, logger="codex_manager_core.runtime.client")
    async with running(on_notification=on_notification) as (client, process):
        # One chunk with many lines, and lines split across chunks.
        batch = b"".join(
            json.dumps({"method": "fake/tick", "params": {"n": n}, "emittedAtMs": 1}).encode()
            + b"\n"
            for n in range(25)
        )
        await process.say(batch[:1000])
        await process.say(batch[1000:])
        for n in range(25, 50):
            await process.say({"method": "fake/tick", "params": {"n": n}})
        with deadline("50 notifications"):
            await all_seen.wait()
        assert seen == list(range(50))

        # The client still works.
        async with anyio.create_task_group() as tasks:

            async def runtime() -> None:
                request = await process.next_request("echo")
                await process.answer(request["id"], "still here")

            tasks.start_soon(runtime)
            assert await client.request("echo", timeout=WAIT) == "still here"
    assert "notification handler failed for fake/tick" in caplog.text


@pytest.mark.anyio
async def test_notification_keeps_the_whole_message() -> None:
    recorder = Recorder()
    async with running(on_notification=recorder.on_notification) as (_client, process):
        await process.say({"method": "turn/started", "params": {"a": 1}, "emittedAtMs": 99})
        await recorder.wait_for("the notification", lambda: recorder.notifications)
    (event,) = recorder.notifications
    assert (event.method, event.params) == ("turn/started", {"a": 1})
    assert event.message["emittedAtMs"] == 99


@pytest.mark.anyio
async def test_a_failing_protocol_error_handler_does_not_stop_the_client() -> None:
    reports: list[rpc.ProtocolError] = []

    async def on_protocol_error(event: rpc.ProtocolError) -> None:
        reports.append(event)
        raise RuntimeError("consumer bug")

    async with running(on_protocol_error=on_protocol_error) as (client, process):
        await process.say(b"not json\n[1]\n")
        async with anyio.create_task_group() as tasks:

            async def runtime() -> None:
                request = await process.next_request("echo")
                await process.answer(request["id"], "ok")

            tasks.start_soon(runtime)
            assert await client.request("echo", timeout=WAIT) == "ok"
        assert not client.closed
    assert [r.preview for r in reports] == [b"not json", b"[1]"]


# ------------------------------------------------------------------------ server requests


@pytest.mark.anyio
async def test_server_request_goes_to_the_handler_and_its_result_is_the_reply() -> None:
    received: list[rpc.ServerRequest] = []

    async def handler(request: rpc.ServerRequest) -> Any:
        received.append(request)
        return {"decision": "accept"}

    async with running(on_server_request=handler) as (_client, process):
        await process.say(
            {"id": 0, "method": "item/commandExecution/requestApproval", "params": {"x": 1}}
        )
        reply = await process.next_message()
    assert reply == {"id": 0, "result": {"decision": "accept"}}
    assert received == [rpc.ServerRequest(0, "item/commandExecution/requestApproval", {"x": 1})]


@pytest.mark.anyio
async def test_server_requests_are_answered_concurrently() -> None:
    """A handler waiting for a person must not hold up another request (or the reading)."""
    release_first = anyio.Event()

    async def handler(request: rpc.ServerRequest) -> Any:
        if request.id == "first":
            await release_first.wait()
        return request.id

    async with running(on_server_request=handler) as (_client, process):
        await process.say({"id": "first", "method": "m"})
        await process.say({"id": "second", "method": "m"})
        assert await process.next_message() == {"id": "second", "result": "second"}
        release_first.set()
        assert await process.next_message() == {"id": "first", "result": "first"}


@pytest.mark.anyio
async def test_server_request_error_from_the_handler_becomes_that_error() -> None:
    async def handler(request: rpc.ServerRequest) -> Any:
        raise ServerRequestError(-32602, "bad answers", {"field": "answers"})

    async with running(on_server_request=handler) as (_client, process):
        await process.say({"id": 5, "method": "item/tool/requestUserInput"})
        reply = await process.next_message()
    assert reply == {
        "id": 5,
        "error": {"code": -32602, "message": "bad answers", "data": {"field": "answers"}},
    }


@pytest.mark.anyio
async def test_a_failing_handler_answers_internal_error_and_the_client_goes_on() -> None:
    calls = 0

    async def handler(request: rpc.ServerRequest) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise KeyError("missing-thing")
        return "fine"

    async with running(on_server_request=handler) as (_client, process):
        await process.say({"id": 1, "method": "item/tool/call"})
        reply = await process.next_message()
        assert reply["id"] == 1
        assert reply["error"]["code"] == rpc.INTERNAL_ERROR
        message = reply["error"]["message"]
        assert "'item/tool/call'" in message
        assert "missing-thing" in message
        await process.say({"id": 2, "method": "item/tool/call"})
        assert await process.next_message() == {"id": 2, "result": "fine"}


@pytest.mark.anyio
async def test_a_handler_result_that_is_not_json_answers_internal_error() -> None:
    async def handler(request: rpc.ServerRequest) -> Any:
        return {"not json": object()} if request.id == 1 else "fine"

    async with running(on_server_request=handler) as (client, process):
        await process.say({"id": 1, "method": "item/tool/call"})
        reply = await process.next_message()
        assert reply["id"] == 1
        assert reply["error"]["code"] == rpc.INTERNAL_ERROR
        assert "'item/tool/call'" in reply["error"]["message"]
        await process.say({"id": 2, "method": "item/tool/call"})
        assert await process.next_message() == {"id": 2, "result": "fine"}
        assert not client.closed


@pytest.mark.anyio
async def test_without_a_handler_server_requests_get_method_not_found() -> None:
    async with running() as (_client, process):
        await process.say({"id": 3, "method": "item/fileChange/requestApproval"})
        reply = await process.next_message()
    assert reply["id"] == 3
    assert reply["error"]["code"] == rpc.METHOD_NOT_FOUND
    assert "'item/fileChange/requestApproval'" in reply["error"]["message"]
    assert "does not handle" in reply["error"]["message"]


@pytest.mark.anyio
async def test_deferred_server_request_is_answered_later_with_reply() -> None:
    handed: list[rpc.ServerRequest] = []
    handled = anyio.Event()

    async def handler(request: rpc.ServerRequest) -> Any:
        handed.append(request)
        if len(handed) == 2:
            handled.set()
        return DEFERRED

    async with running(on_server_request=handler) as (client, process):
        await process.say({"id": 7, "method": "item/commandExecution/requestApproval"})
        await process.say({"id": 8, "method": "item/commandExecution/requestApproval"})
        with deadline("the handler to see both requests"):
            await handled.wait()
        assert client.awaiting_reply == frozenset({7, 8})
        assert process.nothing_written(), "a deferred request is not answered by itself"

        await client.reply(8, {"decision": "decline"})
        assert await process.next_message() == {"id": 8, "result": {"decision": "decline"}}
        await client.reply_error(7, -32000, "cancelled by the operator")
        assert await process.next_message() == {
            "id": 7,
            "error": {"code": -32000, "message": "cancelled by the operator"},
        }
        assert client.awaiting_reply == frozenset()


# ------------------------------------------------------------------------ the end


@pytest.mark.anyio
async def test_stdout_eof_fails_every_call_in_flight_quickly_with_the_returncode() -> None:
    process = MemoryProcess()
    client = RuntimeClient(process, call_timeout=60.0)
    failures: list[BaseException] = []
    async with anyio.create_task_group() as tasks:
        run_status: list[ExitStatus] = []

        async def run() -> None:
            run_status.append(await client.run())

        tasks.start_soon(run)

        async def call(n: int) -> None:
            try:
                await client.request("turn/start", {"n": n})
            except RuntimeExited as exc:
                failures.append(exc)

        for n in range(3):
            tasks.start_soon(call, n)
        for _ in range(3):
            await process.next_request("turn/start")
        started = time.monotonic()
        with deadline("the calls in flight to fail", 2.0):
            process.exit(ExitStatus(3))
            await client.wait_closed()
    elapsed = time.monotonic() - started
    assert elapsed < 1.0, f"calls failed only after {elapsed:.2f} s"
    assert len(failures) == 3
    for failure in failures:
        assert isinstance(failure, RuntimeExited)
        assert failure.method == "turn/start"
        assert failure.returncode == 3
        assert "exit code 3" in str(failure)
    assert run_status == [ExitStatus(3)]
    assert client.closed
    assert client.exit_status == ExitStatus(3)


@pytest.mark.anyio
async def test_death_by_signal_is_reported() -> None:
    async with running() as (client, process):
        async with anyio.create_task_group() as tasks:

            async def runtime() -> None:
                await process.next_request("x")
                process.exit(ExitStatus.from_returncode(-9))

            tasks.start_soon(runtime)
            with pytest.raises(RuntimeExited, match="killed by signal 9") as caught:
                await client.request("x", timeout=WAIT)
        assert caught.value.returncode == -9


@pytest.mark.anyio
async def test_calls_after_close_raise_runtime_exited() -> None:
    async with running() as (client, process):
        process.exit(ExitStatus(0))
        with deadline("the client to close"):
            await client.wait_closed()
        with pytest.raises(RuntimeExited, match="before the call was sent") as caught:
            await client.request("echo")
        assert caught.value.method == "echo"
        assert caught.value.returncode == 0
        with pytest.raises(TransportClosed):
            await client.notify("initialized")
        with pytest.raises(TransportClosed):
            await client.reply(1, {})


@pytest.mark.anyio
async def test_a_failed_send_is_runtime_exited() -> None:
    """The runtime died between our check and the write: the caller sees RuntimeExited."""

    class BrokenPipe(MemoryProcess):
        async def send(self, data: bytes) -> None:
            raise TransportClosed("broken pipe")

    async with running(BrokenPipe()) as (client, _process):
        with pytest.raises(RuntimeExited, match="before the call was sent"):
            await client.request("echo", timeout=WAIT)


@pytest.mark.anyio
async def test_cancelled_call_leaves_no_waiter_behind() -> None:
    recorder = Recorder()
    async with running(on_protocol_error=recorder.on_protocol_error) as (client, process):
        with anyio.move_on_after(0.05):
            await client.request("slow", timeout=WAIT)
        request = await process.next_request("slow")
        await process.answer(request["id"], "too late")
        await recorder.wait_for("the abandoned answer's report", lambda: recorder.protocol_errors)
        assert "abandoned" in recorder.protocol_errors[0].reason


# ------------------------------------------------------------------------ handshake


INIT_RESULT = {
    "userAgent": "codex_manager/0.163.0 (Debian 12.0.0; x86_64) xterm (codex_manager; 0.1.0)",
    "codexHome": "/tmp/home",
    "platformFamily": "unix",
    "platformOs": "linux",
}


@pytest.mark.anyio
async def test_initialize_sends_client_info_and_experimental_api_then_initialized() -> None:
    info = ClientInfo(name="cm_test", title="CM test", version="9.8.7")
    async with running() as (client, process), anyio.create_task_group() as tasks:

        async def runtime() -> None:
            request = await process.next_request("initialize")
            assert request["params"] == {
                "clientInfo": {"name": "cm_test", "title": "CM test", "version": "9.8.7"},
                "capabilities": {"experimentalApi": True},
            }
            assert process.nothing_written(), "`initialized` must wait for the answer"
            await process.answer(request["id"], INIT_RESULT)
            assert await process.next_message() == {"method": "initialized"}

        tasks.start_soon(runtime)
        result = await client.initialize(info, timeout=WAIT)
    assert result.codex_version == "0.163.0"
    assert result.user_agent == INIT_RESULT["userAgent"]
    assert (result.codex_home, result.platform_family, result.platform_os) == (
        "/tmp/home",
        "unix",
        "linux",
    )
    assert result.experimental_api is True
    assert result.raw == INIT_RESULT
    assert client.initialize_result == result


@pytest.mark.anyio
async def test_initialize_falls_back_without_experimental_api_when_refused() -> None:
    async with running() as (client, process), anyio.create_task_group() as tasks:

        async def runtime() -> None:
            first = await process.next_request("initialize")
            assert first["params"]["capabilities"] == {"experimentalApi": True}
            await process.answer_error(first["id"], -32600, "experimentalApi is not supported")
            second = await process.next_request("initialize")
            assert second["params"]["capabilities"] == {"experimentalApi": False}
            assert second["params"]["clientInfo"]["name"] == "codex_manager"
            await process.answer(second["id"], {"userAgent": "codex/0.150.1 (x)"})
            assert await process.next_message() == {"method": "initialized"}

        tasks.start_soon(runtime)
        result = await client.initialize(timeout=WAIT)
    assert result.experimental_api is False
    assert result.codex_version == "0.150.1"
    assert (result.codex_home, result.platform_family, result.platform_os) == (None, None, None)


@pytest.mark.anyio
async def test_initialize_without_experimental_api_does_not_retry() -> None:
    async with running() as (client, process), anyio.create_task_group() as tasks:

        async def runtime() -> None:
            request = await process.next_request("initialize")
            assert request["params"]["capabilities"] == {"experimentalApi": False}
            await process.answer_error(request["id"], -32600, "no")

        tasks.start_soon(runtime)
        with pytest.raises(RpcError, match="no"):
            await client.initialize(experimental_api=False, timeout=WAIT)
        assert process.nothing_written()


@pytest.mark.parametrize(
    ("user_agent", "version"),
    [
        (
            "codex_manager/0.163.0 (Debian 12.0.0; x86_64) xterm (codex_manager; 0.1.0)",
            "0.163.0",
        ),
        ("codex_cli_rs/0.163.0 (Mac OS 15.1.0; arm64) iTerm.app/3.5.10", "0.163.0"),
        (
            "codex_vscode/0.47.0-alpha.3 (Windows 10.0.26100; x86_64) vscode/1.104.1",
            "0.47.0-alpha.3",
        ),
        ("my manager/1.2.3", "1.2.3"),
        ("fake/9.9.9 (x)", "9.9.9"),
        ("fake/9.9.9", "9.9.9"),
        ("no version here", None),
        ("codex_manager/ (Debian)", None),
        ("", None),
    ],
)
def test_parse_codex_version(user_agent: str, version: str | None) -> None:
    assert parse_codex_version(user_agent) == version
