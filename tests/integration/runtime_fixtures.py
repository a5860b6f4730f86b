"""A real `codex app-server` under our `Supervisor`, offline against a `ScriptedModel`.

`real_runtime(tmp_path, script)` is an async context manager that gives a test everything
it needs to drive the real runtime through the code under test:

- a `ScriptedModel` serving `script`, and a fresh CODEX_HOME (plus a fresh HOME and a work
  dir) under `tmp_path`, with the offline `config.toml` pointing codex at the model;
- a running `Supervisor` over `codex_app_server_transport(..., strict_config=True)`, ready;
- a `NotificationRecorder` that every notification goes to (`await rt.notifications.
  wait_for(predicate, timeout=...)`, event-driven and bounded, failing with the last
  notifications seen and the runtime's stderr tail);
- the server requests of the runtime, in a stream (`await rt.next_server_request(method)`);
  the supervisor's handler returns `DEFERRED`, so the test answers with
  `await rt.supervisor.reply(epoch, request.id, result)`.

Nothing here sleeps to wait for a condition and every wait has a timeout.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final

import anyio
import attrs
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from codex_manager_core import rpc
from codex_manager_core.runtime import (
    DEFERRED,
    ClientInfo,
    InitializeResult,
    LogSettings,
    RestartPolicy,
    Supervisor,
    codex_app_server_transport,
)
from codex_manager_core.testing import ScriptedModel, ScriptFunction, Step
from codex_manager_core.testing.offline_config import offline_env, write_offline_config

__all__ = [
    "DEFAULT_TIMEOUT",
    "NotificationRecorder",
    "ReadyLog",
    "RealRuntime",
    "Recorded",
    "is_notification",
    "real_runtime",
]

#: Generous for one offline turn (about 70 ms on a 2-core machine), short enough to fail fast.
DEFAULT_TIMEOUT: Final = 20.0
_SHOWN_NOTIFICATIONS: Final = 15
_STDERR_LINES: Final = 20


@attrs.frozen
class Recorded:
    """One notification, with the runtime epoch that sent it."""

    epoch: int
    notification: rpc.Notification

    @property
    def method(self) -> str:
        return self.notification.method

    @property
    def params(self) -> Any:
        return self.notification.params


def is_notification(method: str, **params: Any) -> Callable[[Recorded], bool]:
    """A predicate matching the notification `method` whose params have these top-level
    values, e.g. `is_notification("error", turnId=turn_id)`. For nested values (the `turn`
    of `turn/completed`) write a lambda."""

    def predicate(recorded: Recorded) -> bool:
        if recorded.method != method:
            return False
        got = recorded.params if isinstance(recorded.params, dict) else {}
        return all(got.get(key) == value for key, value in params.items())

    return predicate


def _describe(recorded: Recorded) -> str:
    params = json.dumps(recorded.params, default=str)
    if len(params) > 200:
        params = params[:200] + "..."
    return f"[epoch {recorded.epoch}] {recorded.method} {params}"


class NotificationRecorder:
    """Keeps every notification, in arrival order, and wakes waiters on each new one."""

    def __init__(self, diagnostics: Callable[[], str] | None = None) -> None:
        self.seen: list[Recorded] = []
        self._changed = anyio.Event()
        self._diagnostics = diagnostics

    async def record(self, epoch: int, notification: rpc.Notification) -> None:
        """The Supervisor's `on_notification` callback."""
        self.seen.append(Recorded(epoch, notification))
        changed, self._changed = self._changed, anyio.Event()
        changed.set()

    def mark(self) -> int:
        """A position to pass as `since=`: only notifications recorded after now count."""
        return len(self.seen)

    def matching(self, predicate: Callable[[Recorded], bool], *, since: int = 0) -> list[Recorded]:
        return [recorded for recorded in self.seen[since:] if predicate(recorded)]

    def methods(self, *, since: int = 0) -> list[str]:
        return [recorded.method for recorded in self.seen[since:]]

    async def wait_for(
        self,
        predicate: Callable[[Recorded], bool],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        since: int = 0,
        what: str = "the expected notification",
    ) -> Recorded:
        """The first notification (from position `since`) matching `predicate`, including
        ones that arrived before the call. AssertionError after `timeout` seconds."""
        position = since
        with anyio.move_on_after(timeout):
            while True:
                changed = self._changed
                for index in range(position, len(self.seen)):
                    if predicate(self.seen[index]):
                        return self.seen[index]
                position = max(position, len(self.seen))
                await changed.wait()
        raise AssertionError(self.failure_message(f"no {what} within {timeout:g} s", since))

    def failure_message(self, headline: str, since: int = 0) -> str:
        recent = self.seen[since:][-_SHOWN_NOTIFICATIONS:]
        lines = [
            headline,
            f"last {len(recent)} of {len(self.seen) - since} notification(s) seen:",
            *(f"  {_describe(recorded)}" for recorded in recent),
        ]
        if self._diagnostics is not None:
            lines.append(self._diagnostics())
        return "\n".join(lines)


class ReadyLog:
    """The handshakes the supervisor completed (its `on_ready`), one per runtime epoch."""

    def __init__(self) -> None:
        self.epochs: dict[int, InitializeResult] = {}
        self._changed = anyio.Event()

    async def record(self, epoch: int, init: InitializeResult) -> None:
        self.epochs[epoch] = init
        changed, self._changed = self._changed, anyio.Event()
        changed.set()

    async def wait(self, epoch: int, timeout: float) -> InitializeResult | None:
        """The handshake of `epoch`, or None if it does not happen within `timeout`."""
        with anyio.move_on_after(timeout):
            while epoch not in self.epochs:
                await self._changed.wait()
        return self.epochs.get(epoch)


@attrs.define
class RealRuntime:
    """A running supervised runtime and the tools to drive and observe it."""

    supervisor: Supervisor
    model: ScriptedModel
    notifications: NotificationRecorder
    tmp_path: Path
    codex_home: Path
    home: Path
    workdir: Path
    stderr_path: Path
    ready_log: ReadyLog
    _server_requests: MemoryObjectReceiveStream[tuple[int, rpc.ServerRequest]]

    # ------------------------------------------------------------ diagnostics

    def stderr_tail(self, lines: int = _STDERR_LINES) -> str:
        try:
            text = self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no runtime stderr log)"
        return "\n".join(text.splitlines()[-lines:])

    def diagnostics(self) -> str:
        health = self.supervisor.health
        return (
            f"runtime: state={health.state} epoch={health.epoch} pid={health.pid} "
            f"last_exit={health.last_exit} last_error={health.last_error}\n"
            f"scripted model: {len(self.model.requests)} request(s), "
            f"errors={self.model.errors}\n"
            f"runtime stderr tail ({self.stderr_path}):\n{self.stderr_tail()}"
        )

    # ------------------------------------------------------------ server requests

    async def next_server_request(
        self, method: str | None = None, *, timeout: float = DEFAULT_TIMEOUT
    ) -> tuple[int, rpc.ServerRequest]:
        """The next server request (epoch, request); with `method`, it must be that one."""
        with anyio.move_on_after(timeout):
            epoch, request = await self._server_requests.receive()
            if method is not None and request.method != method:
                raise AssertionError(
                    self.notifications.failure_message(
                        f"expected the server request {method!r}, got {request.method!r} "
                        f"{json.dumps(request.params, default=str)[:300]}"
                    )
                )
            return epoch, request
        wanted = f"server request {method!r}" if method else "server request"
        raise AssertionError(
            self.notifications.failure_message(f"no {wanted} within {timeout:g} s")
        )

    # ------------------------------------------------------------ readiness

    async def wait_ready_epoch(
        self, epoch: int, *, timeout: float = DEFAULT_TIMEOUT
    ) -> InitializeResult:
        """Wait until runtime `epoch` has completed its handshake (the supervisor's
        `on_ready`) and the supervisor reports ready."""
        with anyio.move_on_after(timeout):
            init = await self.ready_log.wait(epoch, timeout)
            if init is not None:
                await self.supervisor.wait_ready(timeout=timeout)
                return init
        raise AssertionError(
            f"runtime epoch {epoch} did not get ready within {timeout:g} s "
            f"(ready epochs: {sorted(self.ready_log.epochs)})\n" + self.diagnostics()
        )

    # ------------------------------------------------------------ conveniences

    async def request(self, method: str, params: Any, *, timeout: float = DEFAULT_TIMEOUT) -> Any:
        return await self.supervisor.request(method, params, timeout=timeout)

    async def start_thread(self, **params: Any) -> dict[str, Any]:
        """`thread/start` with cwd = the work dir; returns the result's `thread`."""
        result = await self.request("thread/start", {"cwd": str(self.workdir), **params})
        thread: dict[str, Any] = result["thread"]
        return thread

    async def start_turn(self, thread_id: str, text: str, **params: Any) -> str:
        """`turn/start` with one text input; returns the turn id."""
        result = await self.request(
            "turn/start",
            {"threadId": thread_id, "input": [{"type": "text", "text": text}], **params},
        )
        return str(result["turn"]["id"])

    async def wait_turn_completed(
        self, turn_id: str, *, timeout: float = DEFAULT_TIMEOUT
    ) -> dict[str, Any]:
        """The `turn` of the `turn/completed` notification of `turn_id`."""
        recorded = await self.notifications.wait_for(
            lambda r: r.method == "turn/completed" and r.params["turn"]["id"] == turn_id,
            timeout=timeout,
            what=f"turn/completed for turn {turn_id}",
        )
        turn: dict[str, Any] = recorded.params["turn"]
        return turn

    def turn_notifications(self, turn_id: str, method: str | None = None) -> list[Recorded]:
        """The notifications whose params carry `turnId == turn_id` (or a `turn` with that id)."""

        def belongs(recorded: Recorded) -> bool:
            params = recorded.params if isinstance(recorded.params, dict) else {}
            turn = params.get("turn")
            in_turn = params.get("turnId") == turn_id or (
                isinstance(turn, dict) and turn.get("id") == turn_id
            )
            return in_turn and (method is None or recorded.method == method)

        return self.notifications.matching(belongs)

    def completed_items(self, turn_id: str, item_type: str) -> list[dict[str, Any]]:
        """The `item` of every `item/completed` of `turn_id` with that item type."""
        return [
            recorded.params["item"]
            for recorded in self.turn_notifications(turn_id, "item/completed")
            if recorded.params["item"].get("type") == item_type
        ]


@asynccontextmanager
async def real_runtime(
    tmp_path: Path,
    script: Iterable[Step] | ScriptFunction,
    *,
    ready_timeout: float = DEFAULT_TIMEOUT,
    call_timeout: float = DEFAULT_TIMEOUT,
    restart: RestartPolicy | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> AsyncIterator[RealRuntime]:
    """Start a ScriptedModel serving `script` and a supervised, ready, offline codex runtime
    using a fresh CODEX_HOME, HOME and work dir under `tmp_path`."""
    codex_home = tmp_path / "codex-home"
    home = tmp_path / "home"
    workdir = tmp_path / "work"
    for directory in (home, workdir):
        directory.mkdir(parents=True, exist_ok=True)
    stderr_path = tmp_path / "stderr.log"

    send: MemoryObjectSendStream[tuple[int, rpc.ServerRequest]]
    receive: MemoryObjectReceiveStream[tuple[int, rpc.ServerRequest]]
    send, receive = anyio.create_memory_object_stream(math.inf)
    ready_log = ReadyLog()

    async def on_server_request(epoch: int, request: rpc.ServerRequest) -> Any:
        send.send_nowait((epoch, request))
        return DEFERRED

    async with ScriptedModel(script) as model:
        write_offline_config(codex_home, base_url=model.base_url)
        env = offline_env(codex_home)
        env["HOME"] = str(home)  # nothing of the real user's home may be read or written
        env.update(extra_env or {})
        transport = codex_app_server_transport(
            codex_home=codex_home,
            env=env,
            cwd=workdir,
            strict_config=True,
            log=LogSettings(path=stderr_path),
        )
        runtime: RealRuntime | None = None
        recorder = NotificationRecorder(lambda: runtime.diagnostics() if runtime else "")
        supervisor = Supervisor(
            transport,
            client_info=ClientInfo(name="cm_tests", title="codex-manager tests", version="0"),
            call_timeout=call_timeout,
            initialize_timeout=ready_timeout,
            ready_timeout=ready_timeout,
            restart=restart or RestartPolicy(initial_backoff=0.05, max_backoff=0.5),
            on_notification=recorder.record,
            on_server_request=on_server_request,
            on_ready=ready_log.record,
        )
        with send, receive:
            async with supervisor:
                runtime = RealRuntime(
                    supervisor=supervisor,
                    model=model,
                    notifications=recorder,
                    tmp_path=tmp_path,
                    codex_home=codex_home,
                    home=home,
                    workdir=workdir,
                    stderr_path=stderr_path,
                    ready_log=ready_log,
                    server_requests=receive,
                )
                await runtime.wait_ready_epoch(1, timeout=ready_timeout)
                yield runtime
