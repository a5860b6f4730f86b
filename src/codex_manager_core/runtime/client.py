"""The JSON-RPC client of one runtime process: the anyio driver of `rpc.JsonRpcConnection`.

`RuntimeClient.run()` reads the process's stdout and dispatches what arrives: answers wake
the caller waiting for them, notifications go to `on_notification` (awaited in order, so a
consumer sees them in the order the runtime sent them), server requests each get a task of
their own that asks `on_server_request` for the reply. When the stream ends every call still
waiting fails with `RuntimeExited`.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import random
import re
from collections.abc import Awaitable, Callable
from typing import Any, Final

import anyio
import anyio.abc
import anyio.lowlevel
import attrs

from codex_manager_core import rpc
from codex_manager_core.errors import (
    CallTimeout,
    RpcError,
    RuntimeExited,
    TransportClosed,
)
from codex_manager_core.ports import ExitStatus, RuntimeProcess
from codex_manager_core.ports.clock import Clock, SystemClock

logger = logging.getLogger(__name__)

DEFAULT_CALL_TIMEOUT: Final = 120.0


class _Deferred(enum.Enum):
    DEFERRED = "deferred"


#: Returned by a server-request handler that will answer later with `RuntimeClient.reply`.
DEFERRED: Final = _Deferred.DEFERRED

NotificationHandler = Callable[[rpc.Notification], Awaitable[None]]
ServerRequestHandler = Callable[[rpc.ServerRequest], Awaitable[Any]]
ProtocolErrorHandler = Callable[[rpc.ProtocolError], Awaitable[None]]


class ServerRequestError(Exception):
    """Raised by a server-request handler to answer with a JSON-RPC error of its choosing."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


@attrs.frozen
class ClientInfo:
    """How we introduce ourselves in `initialize`."""

    name: str = "codex_manager"
    title: str = "codex-manager"
    version: str = "0.1.0"


@attrs.frozen
class InitializeResult:
    """What `initialize` told us about the runtime."""

    user_agent: str
    codex_version: str | None
    codex_home: str | None
    platform_family: str | None
    platform_os: str | None
    experimental_api: bool
    raw: Any = attrs.field(eq=False, repr=False)


@attrs.frozen
class RetryPolicy:
    """Retry of -32001 "server overloaded": jittered exponential backoff."""

    attempts: int = attrs.field(default=6, validator=attrs.validators.ge(1))
    base_delay: float = 0.05
    max_delay: float = 2.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Delay before retry number `attempt` (0-based): full jitter over an exponential cap."""
        cap: float = min(self.max_delay, self.base_delay * (2**attempt))
        return cap / 2 + rng.random() * cap / 2


_VERSION = re.compile(r"^[^/]*/(\S+)")


def parse_codex_version(user_agent: str) -> str | None:
    """The version that follows the first `/` of app-server's userAgent, e.g.
    `codex_manager/0.163.0 (Debian 12; x86_64) ...` -> `0.163.0`."""
    match = _VERSION.match(user_agent)
    return match.group(1) if match else None


class _Call:
    __slots__ = ("done", "method", "outcome")

    def __init__(self, method: str) -> None:
        self.method = method
        self.done = anyio.Event()
        self.outcome: rpc.Response | rpc.ErrorResponse | BaseException | None = None

    def settle(self, outcome: rpc.Response | rpc.ErrorResponse | BaseException) -> None:
        if self.outcome is None:
            self.outcome = outcome
            self.done.set()


async def _no_notification_handler(notification: rpc.Notification) -> None:
    return None


async def _log_protocol_error(error: rpc.ProtocolError) -> None:
    logger.warning("skipped a line from the runtime: %s (%r)", error.reason, error.preview)


class RuntimeClient:
    """Talks JSON-RPC to one runtime process. Run `run()` in a task; call the rest from any."""

    def __init__(
        self,
        process: RuntimeProcess,
        *,
        on_notification: NotificationHandler | None = None,
        on_server_request: ServerRequestHandler | None = None,
        on_protocol_error: ProtocolErrorHandler | None = None,
        call_timeout: float = DEFAULT_CALL_TIMEOUT,
        retry: RetryPolicy | None = None,
        max_line_bytes: int = rpc.DEFAULT_MAX_LINE_BYTES,
        rng: random.Random | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._clock: Clock = clock or SystemClock()
        self._process = process
        self._connection = rpc.JsonRpcConnection(max_line_bytes=max_line_bytes)
        self._on_notification = on_notification or _no_notification_handler
        self._on_server_request = on_server_request
        self._on_protocol_error = on_protocol_error or _log_protocol_error
        self.call_timeout = call_timeout
        self.retry = retry or RetryPolicy()
        self._rng = rng or random.Random()
        self._calls: dict[rpc.RequestId, _Call] = {}
        self._deferred: set[rpc.RequestId] = set()
        self._closed: ExitStatus | None = None
        self._closed_event = anyio.Event()
        self.initialize_result: InitializeResult | None = None

    @property
    def closed(self) -> bool:
        return self._closed is not None

    @property
    def exit_status(self) -> ExitStatus | None:
        return self._closed

    @property
    def awaiting_reply(self) -> frozenset[rpc.RequestId]:
        """Server requests whose handler deferred the answer and that are still unanswered."""
        return frozenset(self._deferred)

    # ------------------------------------------------------------------ reading

    async def run(self) -> ExitStatus:
        """Read and dispatch until the runtime's stdout closes; return how it ended."""
        try:
            async with anyio.create_task_group() as requests:
                while True:
                    data = await self._process.receive()
                    if not data:
                        break
                    for event in self._connection.receive_data(data):
                        await self._dispatch(event, requests)
                    # A read returns at once while output is buffered; let the rest of the
                    # program (the ledger's commits, subscribers, HTTP) run between chunks.
                    await anyio.lowlevel.checkpoint()
                for event in self._connection.receive_eof():
                    await self._dispatch(event, requests)
                # The runtime is gone; handlers still answering it have nobody to answer.
                requests.cancel_scope.cancel()
            # stdout closed: the process is exiting; its status is a moment away (a process
            # that closed stdout but lives on is reported with an unknown status).
            with anyio.move_on_after(0.5):
                self._close(await self._process.wait())
        finally:
            self._close(ExitStatus(None))
        assert self._closed is not None
        return self._closed

    async def wait_closed(self) -> ExitStatus:
        await self._closed_event.wait()
        assert self._closed is not None
        return self._closed

    def _close(self, status: ExitStatus) -> None:
        if self._closed is not None:
            return
        self._closed = status
        for call in self._calls.values():
            call.settle(RuntimeExited(call.method, status))
        self._calls.clear()
        self._deferred.clear()
        self._closed_event.set()

    async def _dispatch(self, event: rpc.Event, requests: anyio.abc.TaskGroup) -> None:
        if isinstance(event, rpc.Notification):
            try:
                await self._on_notification(event)
            except Exception:
                # A consumer's bug must not cut the runtime off from everyone else.
                logger.exception("notification handler failed for %s", event.method)
        elif isinstance(event, rpc.Response | rpc.ErrorResponse):
            call = self._calls.pop(event.id, None)
            if call is not None:
                call.settle(event)
        elif isinstance(event, rpc.ServerRequest):
            requests.start_soon(self._answer, event)
        else:
            try:
                await self._on_protocol_error(event)
            except Exception:
                logger.exception("protocol error handler failed (%s)", event.reason)

    async def _answer(self, request: rpc.ServerRequest) -> None:
        if self._on_server_request is None:
            await self._send_error(
                request.id,
                rpc.METHOD_NOT_FOUND,
                f"codex-manager does not handle the server request {request.method!r}",
            )
            return
        self._deferred.add(request.id)
        try:
            result = await self._on_server_request(request)
        except ServerRequestError as exc:
            await self._send_error(request.id, exc.code, exc.message, exc.data)
        except Exception as exc:
            logger.exception("server request handler failed for %s", request.method)
            await self._send_error(
                request.id,
                rpc.INTERNAL_ERROR,
                f"codex-manager failed to handle {request.method!r}: {exc}",
            )
        else:
            if result is not DEFERRED:
                try:
                    data = self._connection.send_result(request.id, result)
                except (TypeError, ValueError) as exc:  # not JSON-serialisable
                    logger.exception("the answer to %s is not JSON", request.method)
                    await self._send_error(
                        request.id,
                        rpc.INTERNAL_ERROR,
                        f"codex-manager failed to handle {request.method!r}: its answer "
                        f"is not JSON: {exc}",
                    )
                    return
                self._deferred.discard(request.id)
                with contextlib.suppress(TransportClosed):
                    await self._write(data)

    # ------------------------------------------------------------------ writing

    async def reply(self, request_id: rpc.RequestId, result: Any) -> None:
        """Answer a server request (once). Raises TransportClosed if the runtime is gone."""
        self._deferred.discard(request_id)
        await self._write(self._connection.send_result(request_id, result))

    async def reply_error(
        self, request_id: rpc.RequestId, code: int, message: str, data: Any = None
    ) -> None:
        self._deferred.discard(request_id)
        await self._write(self._connection.send_error(request_id, code, message, data))

    async def _send_error(
        self, request_id: rpc.RequestId, code: int, message: str, data: Any = None
    ) -> None:
        with contextlib.suppress(TransportClosed):
            await self.reply_error(request_id, code, message, data)

    async def notify(self, method: str, params: Any = None) -> None:
        await self._write(self._connection.send_notification(method, params))

    async def _write(self, data: bytes) -> None:
        if self._closed is not None:
            raise TransportClosed("the runtime has exited")
        await self._process.send(data)

    async def request(
        self,
        method: str,
        params: Any = None,
        *,
        timeout: float | None = None,
        retry_overload: bool = True,
    ) -> Any:
        """Call `method` and return its result.

        Raises `RpcError` for an error answer, `CallTimeout` when no answer comes within
        `timeout` (default `call_timeout`; it bounds all retries together) and
        `RuntimeExited` when the runtime dies first. Overload (-32001) is retried with
        jittered exponential backoff.
        """
        timeout = self.call_timeout if timeout is None else timeout
        attempts = self.retry.attempts if retry_overload else 1
        with self._clock.move_on_after(timeout) as scope:
            for attempt in range(attempts):
                outcome = await self._call_once(method, params)
                if isinstance(outcome, rpc.Response):
                    return outcome.result
                if outcome.code != rpc.SERVER_OVERLOADED or attempt == attempts - 1:
                    raise RpcError(method, outcome.code, outcome.message, outcome.data)
                logger.info("runtime overloaded on %s, retry %d", method, attempt + 1)
                await self._clock.sleep(self.retry.delay(attempt, self._rng))
        assert scope.cancelled_caught
        raise CallTimeout(method, timeout)

    async def _call_once(self, method: str, params: Any) -> rpc.Response | rpc.ErrorResponse:
        if self._closed is not None:
            raise RuntimeExited(method, self._closed, " before the call was sent")
        request_id, data = self._connection.send_request(method, params)
        call = _Call(method)
        self._calls[request_id] = call
        try:
            try:
                await self._process.send(data)
            except TransportClosed:
                status = self._closed or ExitStatus(None)
                raise RuntimeExited(method, status, " before the call was sent") from None
            await call.done.wait()
        finally:
            if call.outcome is None:
                # Cancelled or timed out: a late answer must not find a waiter.
                self._calls.pop(request_id, None)
                self._connection.forget(request_id)
        outcome = call.outcome
        if isinstance(outcome, BaseException):
            raise outcome
        assert outcome is not None
        return outcome

    # ------------------------------------------------------------------ handshake

    async def initialize(
        self,
        client_info: ClientInfo | None = None,
        *,
        experimental_api: bool = True,
        timeout: float | None = None,
    ) -> InitializeResult:
        """`initialize` then `initialized`. If the runtime refuses `experimentalApi: true`,
        retry once without it (dynamic tools and collaboration modes are then unavailable)."""
        info = client_info or ClientInfo()
        try:
            raw = await self._initialize(info, experimental_api, timeout)
        except RpcError:
            if not experimental_api:
                raise
            logger.warning("runtime refused experimentalApi; continuing without it")
            experimental_api = False
            raw = await self._initialize(info, experimental_api, timeout)
        await self.notify("initialized")
        user_agent = str(raw.get("userAgent", "")) if isinstance(raw, dict) else ""
        result = InitializeResult(
            user_agent=user_agent,
            codex_version=parse_codex_version(user_agent),
            codex_home=_str_or_none(raw, "codexHome"),
            platform_family=_str_or_none(raw, "platformFamily"),
            platform_os=_str_or_none(raw, "platformOs"),
            experimental_api=experimental_api,
            raw=raw,
        )
        self.initialize_result = result
        return result

    async def _initialize(
        self, info: ClientInfo, experimental_api: bool, timeout: float | None
    ) -> Any:
        params = {
            "clientInfo": {"name": info.name, "title": info.title, "version": info.version},
            "capabilities": {"experimentalApi": experimental_api},
        }
        return await self.request("initialize", params, timeout=timeout)


def _str_or_none(raw: Any, key: str) -> str | None:
    if isinstance(raw, dict):
        value = raw.get(key)
        if isinstance(value, str):
            return value
    return None
