"""The Supervisor owns the runtime's whole life: start, handshake, restart, stop.

It starts the runtime through a `RuntimeTransport`, runs the `initialize` handshake, and
when the process exits unexpectedly starts it again after an exponential backoff, at most
`RestartPolicy.max_restarts` times per `window` seconds; past that it reports `failed`.
`failed` is not forever: `restart()` starts a new round at once, and every
`RestartPolicy.failed_retry_interval` seconds the supervisor tries once more by itself (a
cause that went away, e.g. a full disk or a missing binary, then heals without anyone).
Each start is a new *epoch*: server requests are identified by (epoch, JSON-RPC id),
because ids restart from 0 in every process. All waiting goes through the `Clock`, so
tests drive backoffs and retries with a fake one.

Calls made while the runtime is (re)starting wait for it to be ready (bounded); calls in
flight when it dies fail at once with `RuntimeExited`.
"""

from __future__ import annotations

import collections
import enum
import logging
import random
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any, Self

import anyio
import anyio.abc
import attrs

from codex_manager_core import rpc
from codex_manager_core.errors import (
    BinaryNotFound,
    CodexManagerError,
    RuntimeExited,
    RuntimeUnavailable,
    StartupFailed,
)
from codex_manager_core.ports import (
    Clock,
    ExitStatus,
    RuntimeProcess,
    RuntimeTransport,
    SystemClock,
)
from codex_manager_core.runtime.client import (
    DEFAULT_CALL_TIMEOUT,
    ClientInfo,
    InitializeResult,
    RetryPolicy,
    RuntimeClient,
)

logger = logging.getLogger(__name__)


class RuntimeState(enum.StrEnum):
    STARTING = "starting"
    READY = "ready"
    RESTARTING = "restarting"
    FAILED = "failed"
    STOPPED = "stopped"


@attrs.frozen
class ExitRecord:
    """How one runtime process ended."""

    epoch: int
    returncode: int | None
    signal: int | None
    at: float
    """Wall-clock time (epoch seconds)."""
    expected: bool
    """True when we stopped it (stop or restart), False when it died on its own."""


@attrs.frozen
class RuntimeHealth:
    """A snapshot of the runtime's state, for health endpoints and dashboards."""

    state: RuntimeState
    epoch: int
    pid: int | None
    codex_version: str | None
    user_agent: str | None
    experimental_api: bool | None
    restart_count: int
    last_exit: ExitRecord | None
    last_error: str | None
    ready_since: float | None
    next_retry_at: float | None = None
    """While `failed`: when (wall-clock, epoch seconds) the supervisor tries again by
    itself; None when it will not (no automatic retry configured, or not failed)."""


@attrs.frozen
class RestartPolicy:
    """When to restart a runtime that exited on its own."""

    initial_backoff: float = 0.25
    max_backoff: float = 30.0
    max_restarts: int = 5
    """Restarts allowed within `window` seconds before the supervisor reports `failed`
    (counting only runtimes that died before they ran `healthy_after` seconds)."""
    window: float = 60.0
    healthy_after: float = 10.0
    """A runtime that ran this long before it exited resets the backoff to `initial_backoff`
    and is not counted towards `max_restarts` (it was killed, it did not crash-loop)."""
    failed_retry_interval: float | None = 300.0
    """While `failed`, try one start again after this many seconds (and again, and again);
    None: only `restart()` leaves `failed`."""

    def backoff(self, consecutive_failures: int, rng: random.Random) -> float:
        delay: float = min(self.max_backoff, self.initial_backoff * (2**consecutive_failures))
        return delay * (0.8 + 0.4 * rng.random())


NotificationCallback = Callable[[int, rpc.Notification], Awaitable[None]]
ServerRequestCallback = Callable[[int, rpc.ServerRequest], Awaitable[Any]]
ProtocolErrorCallback = Callable[[int, rpc.ProtocolError], Awaitable[None]]
ReadyCallback = Callable[[int, InitializeResult], Awaitable[None]]
ExitCallback = Callable[[ExitRecord], Awaitable[None]]
HealthCallback = Callable[[RuntimeHealth], None]


class Supervisor:
    """Keeps one runtime process running. Use as `async with Supervisor(transport) as s:`."""

    def __init__(
        self,
        transport: RuntimeTransport,
        *,
        client_info: ClientInfo | None = None,
        experimental_api: bool = True,
        call_timeout: float = DEFAULT_CALL_TIMEOUT,
        initialize_timeout: float = 30.0,
        ready_timeout: float = 30.0,
        restart: RestartPolicy | None = None,
        retry: RetryPolicy | None = None,
        max_line_bytes: int = rpc.DEFAULT_MAX_LINE_BYTES,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        on_notification: NotificationCallback | None = None,
        on_server_request: ServerRequestCallback | None = None,
        on_protocol_error: ProtocolErrorCallback | None = None,
        on_ready: ReadyCallback | None = None,
        on_exit: ExitCallback | None = None,
        on_health: HealthCallback | None = None,
    ) -> None:
        self._transport = transport
        self.client_info = client_info or ClientInfo()
        self.experimental_api = experimental_api
        self.call_timeout = call_timeout
        self.initialize_timeout = initialize_timeout
        self.ready_timeout = ready_timeout
        self.restart_policy = restart or RestartPolicy()
        self.retry = retry or RetryPolicy()
        self.max_line_bytes = max_line_bytes
        self._clock = clock or SystemClock()
        self._rng = rng or random.Random()
        self.on_notification = on_notification
        self.on_server_request = on_server_request
        self.on_protocol_error = on_protocol_error
        self.on_ready = on_ready
        self.on_exit = on_exit
        self.on_health = on_health

        self._state = RuntimeState.STOPPED
        self._epoch = 0
        self._pid: int | None = None
        self._client: RuntimeClient | None = None
        self._init: InitializeResult | None = None
        self._restart_count = 0
        self._last_exit: ExitRecord | None = None
        self._last_error: str | None = None
        self._ready_since: float | None = None
        self._changed = anyio.Event()
        self._stack: AsyncExitStack | None = None
        self._tasks: anyio.abc.TaskGroup | None = None
        self._stopping = False
        self._restart_now = anyio.Event()
        self._intentional_restart = False
        self._run_scope: anyio.CancelScope | None = None
        self._process: RuntimeProcess | None = None
        self._next_retry_at: float | None = None
        self._probing = False

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Self:
        if self._stack is not None:
            raise RuntimeError("this Supervisor is already running")
        self._stopping = False
        self._set_state(RuntimeState.STARTING)
        stack = AsyncExitStack()
        self._tasks = await stack.enter_async_context(anyio.create_task_group())
        self._stack = stack
        self._tasks.start_soon(self._supervise)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        await self.stop()
        return None

    async def stop(self) -> None:
        """Stop the runtime (gracefully, then by force) and the supervision. Idempotent."""
        stack, self._stack = self._stack, None
        if stack is None:
            return
        self._stopping = True
        assert self._tasks is not None
        self._tasks.cancel_scope.cancel()
        try:
            # The task group waits for its tasks even if we are cancelled, and the process
            # stop inside the transport is shielded: nothing outlives this call.
            await stack.aclose()
        finally:
            self._tasks = None
            self._client = None
            self._pid = None
            self._set_state(RuntimeState.STOPPED)

    async def restart(self) -> None:
        """Restart now: stop the running process (not counted as a crash), or leave `failed`
        with a new round of attempts (the restart cap counts afresh)."""
        self._last_error = None
        if self._state is RuntimeState.FAILED:
            self._probing = False
            # Leave `failed` now, so that a call made right after this waits for the new
            # attempt instead of failing at once on the old state.
            self._set_state(RuntimeState.RESTARTING)
            self._restart_now.set()
            return
        if self._run_scope is not None:
            self._intentional_restart = True
            self._run_scope.cancel()

    # ------------------------------------------------------------------ state

    @property
    def state(self) -> RuntimeState:
        return self._state

    @property
    def epoch(self) -> int:
        return self._epoch

    @property
    def health(self) -> RuntimeHealth:
        init = self._init
        return RuntimeHealth(
            state=self._state,
            epoch=self._epoch,
            pid=self._pid,
            codex_version=init.codex_version if init else None,
            user_agent=init.user_agent if init else None,
            experimental_api=init.experimental_api if init else None,
            restart_count=self._restart_count,
            last_exit=self._last_exit,
            last_error=self._last_error,
            ready_since=self._ready_since,
            next_retry_at=self._next_retry_at if self._state is RuntimeState.FAILED else None,
        )

    @property
    def initialize_result(self) -> InitializeResult | None:
        return self._init

    def _set_state(self, state: RuntimeState) -> None:
        self._state = state
        changed, self._changed = self._changed, anyio.Event()
        changed.set()
        if self.on_health is not None:
            try:
                self.on_health(self.health)
            except Exception:
                logger.exception("on_health callback failed")

    async def wait_ready(self, timeout: float | None = None) -> RuntimeHealth:
        """Wait until the runtime is ready. Raises RuntimeUnavailable when it failed, was
        stopped, or did not get ready within `timeout` (default `ready_timeout`)."""
        await self._ready_client(timeout)
        return self.health

    async def wait_restarted(self, epoch: int, timeout: float | None = None) -> RuntimeHealth:
        """Wait until a process newer than `epoch` is ready (after `restart()`). Raises
        RuntimeUnavailable when that one fails too, or after `timeout` (default
        `ready_timeout`)."""
        timeout = self.ready_timeout if timeout is None else timeout
        with anyio.move_on_after(timeout):
            while True:
                newer = self._epoch > epoch
                if newer and self._state is RuntimeState.READY and self._client is not None:
                    return self.health
                if self._state is RuntimeState.STOPPED or (
                    newer and self._state is RuntimeState.FAILED
                ):
                    raise self._unavailable()
                await self._changed.wait()
        raise RuntimeUnavailable(
            f"codex app-server is still {self._state} {timeout:g} s after the restart"
            + (f"; last error: {self._last_error}" if self._last_error else "")
        )

    async def _ready_client(self, timeout: float | None = None) -> RuntimeClient:
        client = self._client
        if self._state is RuntimeState.READY and client is not None:
            return client  # the common case: no cancel scope, no waiting
        timeout = self.ready_timeout if timeout is None else timeout
        with anyio.move_on_after(timeout):
            while True:
                state = self._state
                if state is RuntimeState.READY and self._client is not None:
                    return self._client
                if state in (RuntimeState.FAILED, RuntimeState.STOPPED):
                    raise self._unavailable()
                await self._changed.wait()
        raise RuntimeUnavailable(
            f"codex app-server is still {self._state} after {timeout:g} s"
            + (f"; last error: {self._last_error}" if self._last_error else "")
        )

    def _unavailable(self) -> RuntimeUnavailable:
        """The error of a call while the runtime is stopped or failed."""
        if self._state is RuntimeState.STOPPED:
            return RuntimeUnavailable(
                "codex app-server is stopped (the manager is shut down)", retry_after=None
            )
        retry = ""
        seconds = None
        if self._next_retry_at is not None:
            seconds = max(1.0, self._next_retry_at - self._clock.now())
            retry = f"; it is tried again automatically in {seconds:.0f} s"
        return RuntimeUnavailable(
            f"codex app-server has failed: {self._last_error or 'it kept exiting'}; "
            f"fix the cause, then restart the runtime (restart_runtime(); over HTTP POST "
            f"/api/runtime/restart){retry}",
            retry_after=seconds,
        )

    # ------------------------------------------------------------------ calls

    async def request(
        self,
        method: str,
        params: Any = None,
        *,
        timeout: float | None = None,
        ready_timeout: float | None = None,
    ) -> Any:
        """Call a runtime method, waiting (bounded) for the runtime to be ready first."""
        client = await self._ready_client(ready_timeout)
        return await client.request(method, params, timeout=timeout)

    async def notify(self, method: str, params: Any = None) -> None:
        client = await self._ready_client()
        await client.notify(method, params)

    async def reply(self, epoch: int, request_id: rpc.RequestId, result: Any) -> None:
        """Answer a server request of runtime `epoch`; RuntimeExited if that runtime is gone."""
        await self._client_of(epoch).reply(request_id, result)

    async def reply_error(
        self, epoch: int, request_id: rpc.RequestId, code: int, message: str, data: Any = None
    ) -> None:
        await self._client_of(epoch).reply_error(request_id, code, message, data)

    def _client_of(self, epoch: int) -> RuntimeClient:
        client = self._client
        if client is None or epoch != self._epoch or client.closed:
            raise RuntimeExited(
                None, None, f": the request came from runtime epoch {epoch}, which is gone"
            )
        return client

    # ------------------------------------------------------------------ supervision

    async def _supervise(self) -> None:
        recent_restarts: collections.deque[float] = collections.deque()
        consecutive_failures = 0
        while True:
            self._epoch += 1
            epoch = self._epoch
            started = self._clock.monotonic()
            try:
                status, error, fatal = await self._run_once(epoch)
            except anyio.get_cancelled_exc_class():
                # Stopped: the process is being (or was) stopped; still record how it ended.
                with anyio.CancelScope(shield=True):
                    process, self._process = self._process, None
                    status = await process.stop() if process is not None else ExitStatus(None)
                    await self._record_exit(epoch, status, None)
                raise
            ran_for = self._clock.monotonic() - started
            intentional, self._intentional_restart = self._intentional_restart, False
            probing, self._probing = self._probing, False
            await self._record_exit(epoch, status, error, intentional=intentional)
            if self._stopping:
                return
            if intentional:
                self._restart_count += 1
                self._set_state(RuntimeState.RESTARTING)
                continue
            if fatal or (probing and ran_for < self.restart_policy.healthy_after):
                # A missing binary, or the automatic retry of a failed runtime that failed
                # again: back to `failed` (one attempt per interval, never a loop).
                await self._wait_while_failed(recent_restarts)
                consecutive_failures = 0
                continue
            if ran_for >= self.restart_policy.healthy_after:
                # It ran well before it died (killed, or out of memory): not a crash loop.
                # Start afresh, both the backoff and the count towards `failed`.
                consecutive_failures = 0
                recent_restarts.clear()
            now = self._clock.monotonic()
            while recent_restarts and now - recent_restarts[0] > self.restart_policy.window:
                recent_restarts.popleft()
            if len(recent_restarts) >= self.restart_policy.max_restarts:
                self._last_error = (
                    f"codex app-server exited {len(recent_restarts) + 1} times within "
                    f"{self.restart_policy.window:g} s; last: {self._last_error}"
                )
                logger.error("%s; giving up until restart() or the next retry", self._last_error)
                await self._wait_while_failed(recent_restarts)
                consecutive_failures = 0
                continue
            recent_restarts.append(now)
            self._restart_count += 1
            self._set_state(RuntimeState.RESTARTING)
            delay = self.restart_policy.backoff(consecutive_failures, self._rng)
            consecutive_failures += 1
            logger.warning("restarting codex app-server in %.2f s (%s)", delay, self._last_error)
            await self._clock.sleep(delay)

    async def _record_exit(
        self, epoch: int, status: ExitStatus, error: str | None, *, intentional: bool = False
    ) -> None:
        expected = self._stopping or intentional
        record = ExitRecord(epoch, status.returncode, status.signal, self._clock.now(), expected)
        self._last_exit = record
        self._client = None
        self._pid = None
        self._ready_since = None
        if error is not None:
            self._last_error = error
        elif not expected:
            self._last_error = f"codex app-server exited unexpectedly ({status.describe()})"
        if self.on_exit is not None:
            try:
                with anyio.CancelScope(shield=True):
                    await self.on_exit(record)
            except Exception:
                logger.exception("on_exit callback failed")

    async def _wait_while_failed(self, recent_restarts: collections.deque[float]) -> None:
        """Report `failed` until `restart()` is called or, every `failed_retry_interval`
        seconds, for one automatic attempt (`_probing`: if it fails, straight back here)."""
        self._restart_now = restart_now = anyio.Event()
        interval = self.restart_policy.failed_retry_interval
        self._next_retry_at = None if interval is None else self._clock.now() + interval
        self._set_state(RuntimeState.FAILED)
        try:
            async with anyio.create_task_group() as waiting:

                async def retry_later(interval: float) -> None:
                    await self._clock.sleep(interval)
                    logger.warning(
                        "codex app-server failed %.0f s ago; trying to start it again", interval
                    )
                    self._probing = True
                    self._set_state(RuntimeState.RESTARTING)
                    restart_now.set()

                if interval is not None:
                    waiting.start_soon(retry_later, interval)
                await restart_now.wait()
                waiting.cancel_scope.cancel()
        finally:
            self._next_retry_at = None
        recent_restarts.clear()

    async def _run_once(self, epoch: int) -> tuple[ExitStatus, str | None, bool]:
        """Run one runtime process to its end. Returns its exit status; when it never got
        ready, why; and whether that cause is one a restart cannot fix."""
        error: str | None = None
        fatal = False
        client: RuntimeClient | None = None
        process = None
        with anyio.CancelScope() as scope:
            self._run_scope = scope
            try:
                async with self._transport.open() as process:
                    self._process = process
                    self._pid = process.pid
                    client = self._new_client(process, epoch)
                    async with anyio.create_task_group() as tasks:
                        tasks.start_soon(client.run)
                        try:
                            init = await self._handshake(client)
                        except StartupFailed as exc:
                            error = str(exc)
                            tasks.cancel_scope.cancel()
                        else:
                            self._init = init
                            self._client = client
                            # Before READY is visible: what on_ready records (e.g. the
                            # manager's durable generation) precedes every caller's use.
                            await self._notify_ready(epoch, init)
                            self._ready_since = self._clock.now()
                            self._set_state(RuntimeState.READY)
                            await client.wait_closed()
            except BinaryNotFound as exc:
                error, fatal = str(exc), True
            finally:
                self._run_scope = None
        self._process = None
        if error is not None and not fatal:
            # Quoted only now: the transport has drained the runtime's last stderr lines.
            error += _stderr_hint(process)
        if process is not None:
            status = await process.stop()
        else:
            status = ExitStatus(None)
        client_status = client.exit_status if client is not None else None
        if error is None and client_status is not None and client_status.returncode is not None:
            status = client_status
        return status, error, fatal

    async def _notify_ready(self, epoch: int, init: InitializeResult) -> None:
        if self.on_ready is None:
            return
        try:
            await self.on_ready(epoch, init)
        except Exception:
            logger.exception("on_ready callback failed")

    def _new_client(self, process: RuntimeProcess, epoch: int) -> RuntimeClient:
        async def notification(event: rpc.Notification) -> None:
            if self.on_notification is not None:
                await self.on_notification(epoch, event)

        async def protocol_error(event: rpc.ProtocolError) -> None:
            logger.warning(
                "runtime epoch %d sent a line we skipped: %s (%r)",
                epoch,
                event.reason,
                event.preview[:80],
            )
            if self.on_protocol_error is not None:
                await self.on_protocol_error(epoch, event)

        server_request = None
        if self.on_server_request is not None:
            handler = self.on_server_request

            async def server_request(event: rpc.ServerRequest) -> Any:
                return await handler(epoch, event)

        return RuntimeClient(
            process,
            on_notification=notification,
            on_server_request=server_request,
            on_protocol_error=protocol_error,
            call_timeout=self.call_timeout,
            retry=self.retry,
            max_line_bytes=self.max_line_bytes,
            rng=self._rng,
            clock=self._clock,
        )

    async def _handshake(self, client: RuntimeClient) -> InitializeResult:
        try:
            return await client.initialize(
                self.client_info,
                experimental_api=self.experimental_api,
                timeout=self.initialize_timeout,
            )
        except CodexManagerError as exc:
            raise StartupFailed(f"codex app-server failed its initialize handshake: {exc}") from exc


def _stderr_hint(process: Any) -> str:
    tail = getattr(process, "stderr_tail", None)
    if not tail:
        return ""
    return "; its stderr ended with: " + " | ".join(tail[-5:])
