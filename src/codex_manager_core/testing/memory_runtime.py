"""`MemoryRuntime`: an in-process `codex app-server` for tests, in the style of httpx's
`MockTransport`.

A test that only needs canned answers from the runtime should not start a subprocess. A
`MemoryRuntime` is a `RuntimeTransport`: each `open()` is one "process" living in memory. A
handler answers the requests the manager sends; the test pushes notifications and server
requests, and ends the process to test restarts. Both directions are encoded and decoded by
`codex_manager_core.rpc`, one JSON object per line as the real binary writes them, so the
client's framing and correlation run exactly as in production.

    def handler(method: str, params: Any) -> Any:        # or `async def`
        if method == "thread/start":
            return {"thread": {"id": "thr_1", "status": {"type": "idle"}, "turns": []}}
        raise MemoryRuntime.unknown_method(method)       # what codex answers

    runtime = MemoryRuntime(handler)
    async with Manager.open(store=MemoryStore(), transport=runtime) as manager:
        session = await manager.sessions.create()
        await runtime.notify("thread/status/changed", {"threadId": "thr_1", ...})
        answer = await runtime.server_request("item/tool/call", {...})  # the manager's reply
        runtime.crash()                                  # the supervisor restarts it
    assert [call.method for call in runtime.calls] == ["initialize", "thread/start", ...]

`handler` may also be a mapping of method -> result (or -> a function of the params).
`initialize` is answered by the runtime itself, like codex does (pass `initialize=` to
change that). A handler refuses a call by raising `MemoryRuntime.error(code, message)` (or
an `RpcError`); any other exception it raises is answered with -32603 and kept in
`runtime.handler_errors`, so a bug in a test handler is visible. Each request is handled in
a task of its own, so a slow (async) handler does not hold up the others, and answers can
come out of order, as with the real runtime.
"""

from __future__ import annotations

import inspect
import json
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, Final, TypeAlias

import anyio
import anyio.abc
import anyio.lowlevel
import attrs
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from codex_manager_core import rpc
from codex_manager_core.errors import RpcError, TransportClosed
from codex_manager_core.ports import Clock, ExitStatus, SystemClock

Handler: TypeAlias = Callable[[str, Any], Any]
"""`handler(method, params)` returns the result (or an awaitable of it)."""
Routes: TypeAlias = Mapping[str, Any]
"""method -> result, or -> a function of the params returning the result."""

#: The version in the default userAgent (`<client name>/<version> (...)`), as codex reports it.
DEFAULT_VERSION: Final = "0.0.0-memory"
DEFAULT_CODEX_HOME: Final = "/memory-runtime/codex-home"
#: How long test-side calls wait for a running process, or for the manager's answer.
DEFAULT_TIMEOUT: Final = 10.0
#: The most `receive()` returns at once (a pipe read returns what is buffered, up to this).
READ_CHUNK: Final = 256 * 1024


class MemoryRuntimeError(Exception):
    """Raised by a handler to answer with a JSON-RPC error: `MemoryRuntime.error(...)`."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{message} (code {code})")
        self.code = code
        self.message = message
        self.data = data


@attrs.frozen
class MemoryCall:
    """One request the manager sent, in arrival order: `epoch` is the process (1, 2, ...)."""

    epoch: int
    id: rpc.RequestId
    method: str
    params: Any


class _Waiter:
    """A server request the test side is waiting on."""

    def __init__(self, method: str) -> None:
        self.method = method
        self.done = anyio.Event()
        self.outcome: rpc.Response | rpc.ErrorResponse | BaseException | None = None

    def settle(self, outcome: rpc.Response | rpc.ErrorResponse | BaseException) -> None:
        if self.outcome is None:
            self.outcome = outcome
            self.done.set()


class MemoryProcess:
    """One in-memory runtime process, implementing the `RuntimeProcess` port."""

    def __init__(self, runtime: MemoryRuntime, epoch: int, tasks: anyio.abc.TaskGroup) -> None:
        self.epoch = epoch
        self._runtime = runtime
        self._tasks = tasks
        self._connection = rpc.JsonRpcConnection()
        self._out: MemoryObjectSendStream[bytes]
        self._in: MemoryObjectReceiveStream[bytes]
        self._out, self._in = anyio.create_memory_object_stream[bytes](float("inf"))
        self._unread = b""
        self._scopes: set[anyio.CancelScope] = set()
        self._waiters: dict[rpc.RequestId, _Waiter] = {}
        self._ended = anyio.Event()
        self.status: ExitStatus | None = None
        """How it ended; None while it runs."""
        self.answered_initialize = False
        self.initialized = False
        """True once the client answered `initialize` with the `initialized` notification."""

    # ------------------------------------------------------------ RuntimeProcess

    @property
    def pid(self) -> int | None:
        return None  # no operating-system process

    async def send(self, data: bytes) -> None:
        """What the client writes to our stdin: parsed at once, requests answered in tasks."""
        await anyio.lowlevel.checkpoint()
        if self.status is not None:
            raise TransportClosed(f"cannot write to the runtime: it exited ({self.describe()})")
        for event in self._connection.receive_data(data):
            self._on_event(event)

    async def receive(self) -> bytes:
        """The next bytes of our stdout, b"" once the process has ended and all was read."""
        if not self._unread:
            try:
                self._unread = await self._in.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                return b""
            while len(self._unread) < READ_CHUNK:
                try:
                    self._unread += self._in.receive_nowait()
                except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                    break
        limit = self._runtime.chunk_size or READ_CHUNK
        chunk, self._unread = self._unread[:limit], self._unread[limit:]
        return chunk

    async def wait(self) -> ExitStatus:
        await self._ended.wait()
        assert self.status is not None
        return self.status

    async def stop(self) -> ExitStatus:
        """Close stdin: codex exits with code 0 (unless it already ended)."""
        self.end(ExitStatus(0))
        await anyio.lowlevel.checkpoint()
        assert self.status is not None
        return self.status

    # ------------------------------------------------------------ life

    def describe(self) -> str:
        return "running" if self.status is None else self.status.describe()

    def end(self, status: ExitStatus) -> None:
        """The process is gone: stdout closes after what was written, handlers stop."""
        if self.status is not None:
            return
        self.status = status
        self._out.close()
        for scope in self._scopes:
            scope.cancel()
        gone = TransportClosed(f"the runtime process exited ({status.describe()})")
        for waiter in self._waiters.values():
            waiter.settle(gone)
        self._waiters.clear()
        self._ended.set()
        self._runtime._changed()

    def start_soon(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Run `fn(*args)` as part of this process: it is cancelled when the process ends."""

        async def guarded() -> None:
            if self.status is not None:
                return
            with anyio.CancelScope() as scope:
                self._scopes.add(scope)
                try:
                    await fn(*args)
                finally:
                    self._scopes.discard(scope)

        self._tasks.start_soon(guarded)

    def write(self, data: bytes) -> None:
        """Write to stdout (nothing once the process has ended, like a dead process)."""
        if self.status is None:
            self._out.send_nowait(data)

    # ------------------------------------------------------------ incoming

    def _on_event(self, event: rpc.Event) -> None:
        runtime = self._runtime
        if isinstance(event, rpc.ServerRequest):  # a request of the client, to us
            runtime.calls.append(MemoryCall(self.epoch, event.id, event.method, event.params))
            self.start_soon(self._answer, event)
        elif isinstance(event, rpc.Notification):
            runtime.client_notifications.append(event)
            if event.method == "initialized":
                self.initialized = True
                runtime._changed()
        elif isinstance(event, rpc.Response | rpc.ErrorResponse):
            waiter = self._waiters.pop(event.id, None)
            if waiter is not None:
                waiter.settle(event)
        else:
            runtime.protocol_errors.append(event)

    async def _answer(self, request: rpc.ServerRequest) -> None:
        connection = self._connection
        try:
            result = await self._runtime._result(self, request)
        except MemoryRuntimeError as exc:
            data = connection.send_error(request.id, exc.code, exc.message, exc.data)
        except RpcError as exc:
            data = connection.send_error(request.id, exc.rpc_code, exc.rpc_message, exc.data)
        except Exception as exc:
            self._runtime.handler_errors.append(exc)
            data = connection.send_error(
                request.id, rpc.INTERNAL_ERROR, f"the MemoryRuntime handler failed: {exc!r}"
            )
        else:
            data = connection.send_result(request.id, result)
        self.write(data)

    # ------------------------------------------------------------ outgoing

    async def server_request(self, method: str, params: Any, timeout: float) -> Any:
        request_id, data = self._connection.send_request(method, params)
        waiter = _Waiter(method)
        self._waiters[request_id] = waiter
        self.write(data)
        with anyio.move_on_after(timeout):
            await waiter.done.wait()
        outcome = waiter.outcome
        if outcome is None:
            self._waiters.pop(request_id, None)
            self._connection.forget(request_id)
            raise TimeoutError(
                f"the manager did not answer the server request {method!r} (id {request_id}) "
                f"within {timeout:g} s"
            )
        if isinstance(outcome, BaseException):
            raise outcome
        if isinstance(outcome, rpc.ErrorResponse):
            raise RpcError(method, outcome.code, outcome.message, outcome.data)
        return outcome.result


class MemoryRuntime:
    """An in-process runtime (a `RuntimeTransport`); see the module docstring."""

    def __init__(
        self,
        handler: Handler | Routes | None = None,
        *,
        initialize: Callable[[Any], Any] | None = None,
        version: str = DEFAULT_VERSION,
        codex_home: str = DEFAULT_CODEX_HOME,
        chunk_size: int | None = None,
        clock: Clock | None = None,
    ) -> None:
        """`initialize(params) -> result` replaces the default answer to `initialize`.
        `clock` stamps notifications (`emittedAtMs`), e.g. a `FakeClock`.
        `chunk_size`: the most bytes one read returns, e.g. 7 to cut lines into pieces
        (the client must reassemble them); None returns what is buffered."""
        if chunk_size is not None and chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
        self._handler = handler
        self._initialize = initialize
        self.version = version
        self.codex_home = codex_home
        self.chunk_size = chunk_size
        self._clock = clock or SystemClock()
        self.calls: list[MemoryCall] = []
        """Every request the manager sent, `initialize` included, over every process."""
        self.client_notifications: list[rpc.Notification] = []
        """Notifications the manager sent (`initialized`, ...)."""
        self.handler_errors: list[Exception] = []
        """Exceptions the handler raised other than a JSON-RPC error (answered -32603)."""
        self.protocol_errors: list[rpc.ProtocolError] = []
        """Lines from the manager that were not valid JSON-RPC (always a bug)."""
        self.epoch = 0
        """How many processes were opened; the current one's number."""
        self.process: MemoryProcess | None = None
        """The latest process (ended or not)."""
        self._change = anyio.Event()

    # ------------------------------------------------------------ errors for handlers

    @staticmethod
    def error(code: int, message: str, data: Any = None) -> MemoryRuntimeError:
        """`raise MemoryRuntime.error(-32602, "missing field `threadId`")`."""
        return MemoryRuntimeError(code, message, data)

    @staticmethod
    def unknown_method(method: str) -> MemoryRuntimeError:
        """The error codex answers to a method it does not know."""
        return MemoryRuntimeError(
            rpc.INVALID_REQUEST, f"Invalid request: unknown variant `{method}`"
        )

    # ------------------------------------------------------------ RuntimeTransport

    @asynccontextmanager
    async def open(self) -> AsyncIterator[MemoryProcess]:
        async with anyio.create_task_group() as tasks:
            self.epoch += 1
            process = MemoryProcess(self, self.epoch, tasks)
            self.process = process
            self._changed()
            try:
                yield process
            finally:
                process.end(ExitStatus(0))  # no-op when it already ended

    # ------------------------------------------------------------ the test side

    async def notify(
        self, method: str, params: Any = None, *, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        """Send a notification (with codex's `emittedAtMs`) once a process is ready."""
        process = await self.wait_ready(timeout=timeout)
        message: dict[str, Any] = {"method": method}
        if params is not None:
            message["params"] = params
        message["emittedAtMs"] = int(self._clock.now() * 1000)
        process.write(rpc.encode_message(message))

    async def server_request(
        self, method: str, params: Any = None, *, timeout: float = DEFAULT_TIMEOUT
    ) -> Any:
        """Send a server request (ids 0, 1, ... per process, as codex numbers them) and
        return the manager's result. Raises `RpcError` when it answers with an error,
        `TransportClosed` when the process ends first, `TimeoutError` after `timeout`."""
        process = await self.wait_ready(timeout=timeout)
        return await process.server_request(method, params, timeout)

    def start_soon(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Run `fn(*args)` in the current process (cancelled when it ends), e.g. from a
        handler that answers `turn/start` and then streams the turn's notifications: the
        task starts after the answer is written."""
        self._current("start a task").start_soon(fn, *args)

    def exit(self, code: int = 0) -> None:
        """The current process exits with `code` (its stdout closes after what was written)."""
        if not 0 <= code <= 255:
            raise ValueError(f"an exit code is in 0..255, got {code}")
        self._current("exit").end(ExitStatus(code))

    def crash(self, signum: int = signal.SIGKILL) -> None:
        """The current process dies of signal `signum` (default SIGKILL)."""
        self._current("crash").end(ExitStatus(-int(signum), int(signum)))

    async def wait_ready(
        self, epoch: int | None = None, *, timeout: float = DEFAULT_TIMEOUT
    ) -> MemoryProcess:
        """The running process once its client completed the handshake (with `epoch`, that
        process or a later one). TimeoutError after `timeout` seconds."""
        with anyio.move_on_after(timeout):
            while True:
                changed = self._change
                process = self.process
                if (
                    process is not None
                    and process.status is None
                    and process.initialized
                    and (epoch is None or process.epoch >= epoch)
                ):
                    return process
                await changed.wait()
        state = (
            "no process"
            if self.process is None
            else f"process {self.epoch} "
            + ("not initialized" if self.process.status is None else self.process.describe())
        )
        raise TimeoutError(
            f"no MemoryRuntime process was running and initialized within {timeout:g} s "
            f"({state}); is a Manager or Supervisor using this runtime?"
        )

    # ------------------------------------------------------------ internals

    def _current(self, what: str) -> MemoryProcess:
        process = self.process
        if process is None or process.status is not None:
            raise RuntimeError(f"cannot {what}: no MemoryRuntime process is running")
        return process

    def _changed(self) -> None:
        change, self._change = self._change, anyio.Event()
        change.set()

    async def _result(self, process: MemoryProcess, request: rpc.ServerRequest) -> Any:
        method, params = request.method, request.params
        if method == "initialize":
            if self._initialize is not None:
                result = self._initialize(params)
            else:
                result = self._default_initialize(params)
        elif not process.answered_initialize:
            raise MemoryRuntimeError(rpc.INVALID_REQUEST, "Not initialized")
        elif self._handler is None:
            raise self.unknown_method(method)
        elif isinstance(self._handler, Mapping):
            if method not in self._handler:
                raise self.unknown_method(method)
            result = self._handler[method]
            if callable(result):
                result = result(params)
        else:
            result = self._handler(method, params)
        if inspect.isawaitable(result):
            result = await result
        json.dumps(result, allow_nan=False)  # a result that is not JSON fails here, clearly
        if method == "initialize":
            process.answered_initialize = True
        return result

    def _default_initialize(self, params: Any) -> Any:
        info = params.get("clientInfo") if isinstance(params, dict) else None
        name = info.get("name") if isinstance(info, dict) else None
        return {
            "userAgent": f"{name or 'client'}/{self.version} (codex_manager_core MemoryRuntime)",
            "codexHome": self.codex_home,
            "platformFamily": "unix",
            "platformOs": "linux",
        }
