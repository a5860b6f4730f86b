"""The three runtimes the runtime contract suite holds to one behaviour, behind one harness.

Each adapter runs under a real `Supervisor` (what production uses) with the same callbacks,
and plays the same small part of codex: `thread/start`, `turn/start` whose agent answers
with the user's text (streamed in deltas), an approval request, a tagged call whose result
names the tag, and dying of SIGKILL.

- `memory`: `testing.MemoryRuntime` with `CodexPart`, a handler written for this suite;
- `fake`: `testing.FakeAppServer` as a subprocess (its `echo`, `fake/serverRequest`);
- `real`: the codex binary offline, its model a `ScriptedModel` that echoes the user's text
  and asks to run a command when told to (see `echo_or_command`).

What differs between them (how a server request is provoked, how the runtime's view of our
answer is observed) lives in a `Driver`; the tests in test_runtime_contract.py only use the
`Harness`. Every wait is bounded and fails with the notifications seen so far.
"""

from __future__ import annotations

import math
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final, Protocol

import anyio
import anyio.abc
import attrs
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from codex_manager_core import rpc
from codex_manager_core.ports import RuntimeTransport
from codex_manager_core.runtime import (
    DEFERRED,
    ClientInfo,
    ExitRecord,
    LogSettings,
    RestartPolicy,
    StdioTransport,
    StopTimeouts,
    Supervisor,
)
from codex_manager_core.testing import (
    FakeAppServer,
    MemoryRuntime,
    RecordedRequest,
    Reply,
    Step,
    exec_command,
)
from tests.integration.runtime_fixtures import (
    DEFAULT_TIMEOUT,
    NotificationRecorder,
    ReadyLog,
    Recorded,
    real_runtime,
)

ADAPTERS: Final = ("memory", "fake", "real")
CLIENT: Final = ClientInfo(name="cm_tests", title="codex-manager tests", version="0")
FAKE_VERSION: Final = "9.9.9-fake"
#: The user text that makes the real runtime's model ask to run a command.
APPROVAL_PROMPT: Final = "run the contract command"
APPROVAL_METHOD: Final = "item/commandExecution/requestApproval"
FAST_RESTART: Final = RestartPolicy(initial_backoff=0.01, max_backoff=0.05)


class ExitLog:
    """The supervisor's `on_exit` reports, with a way to wait for the next one."""

    def __init__(self) -> None:
        self.records: list[ExitRecord] = []
        self._changed = anyio.Event()

    async def record(self, record: ExitRecord) -> None:
        self.records.append(record)
        changed, self._changed = self._changed, anyio.Event()
        changed.set()

    async def wait(self, count: int, timeout: float = DEFAULT_TIMEOUT) -> ExitRecord:
        with anyio.move_on_after(timeout):
            while len(self.records) < count:
                await self._changed.wait()
            return self.records[count - 1]
        raise AssertionError(f"no exit report #{count} within {timeout:g} s: {self.records}")


class Driver(Protocol):
    """What each adapter does its own way."""

    async def tagged_call(self, harness: Harness, tag: str) -> str:
        """A call whose result names `tag` (which request an answer belongs to)."""
        ...

    def answer_out_of_order(self, count: int) -> None:
        """Where the adapter can: hold the next `count` tagged calls, answer them last
        first."""
        ...

    async def ask_approval(self, harness: Harness) -> None:
        """Make the runtime send an `item/commandExecution/requestApproval`."""
        ...

    async def confirm_decision(
        self, harness: Harness, request: rpc.ServerRequest, decision: str
    ) -> None:
        """Assert that the runtime received `{"decision": decision}` for `request`."""
        ...

    def kill(self, harness: Harness) -> None:
        """End the running process with SIGKILL."""
        ...


@attrs.define
class Harness:
    """A supervised runtime of one adapter, and the tools to drive and observe it."""

    name: str
    supervisor: Supervisor
    notifications: NotificationRecorder
    ready_log: ReadyLog
    exits: ExitLog
    driver: Driver
    codex_home: str
    version: str
    """The codex version its initialize reports."""
    workdir: Path
    tasks: anyio.abc.TaskGroup
    next_server_request: Callable[[str], Awaitable[tuple[int, rpc.ServerRequest]]]
    """`await next_server_request(method)`: the next server request (epoch, request), which
    must be `method`; bounded."""

    async def start_thread(self, **params: Any) -> str:
        result = await self.supervisor.request(
            "thread/start", {"cwd": str(self.workdir), **params}, timeout=DEFAULT_TIMEOUT
        )
        return str(result["thread"]["id"])

    async def start_turn(self, thread_id: str, text: str) -> str:
        params = {"threadId": thread_id, "input": [{"type": "text", "text": text}]}
        result = await self.supervisor.request("turn/start", params, timeout=DEFAULT_TIMEOUT)
        return str(result["turn"]["id"])

    async def wait_turn_completed(self, turn_id: str) -> dict[str, Any]:
        recorded = await self.notifications.wait_for(
            lambda r: r.method == "turn/completed" and r.params["turn"]["id"] == turn_id,
            what=f"turn/completed of {turn_id}",
        )
        turn: dict[str, Any] = recorded.params["turn"]
        return turn

    def turn_notifications(self, turn_id: str) -> list[Recorded]:
        def belongs(recorded: Recorded) -> bool:
            params = recorded.params if isinstance(recorded.params, dict) else {}
            turn = params.get("turn")
            return params.get("turnId") == turn_id or (
                isinstance(turn, dict) and turn.get("id") == turn_id
            )

        return self.notifications.matching(belongs)


# ------------------------------------------------------------------------ memory


class CodexPart:
    """The MemoryRuntime handler: the few methods of codex the suite uses."""

    def __init__(self, runtime: Callable[[], MemoryRuntime]) -> None:
        self._runtime = runtime
        self._threads: set[str] = set()
        self._counter = 0
        self._hold = 0
        self._held: list[anyio.Event] = []

    def _next(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}_{self._counter}"

    async def __call__(self, method: str, params: Any) -> Any:
        if method == "thread/start":
            thread_id = self._next("thr")
            self._threads.add(thread_id)
            thread = {"id": thread_id, "cwd": params.get("cwd"), "status": {"type": "idle"}}
            return {"thread": {**thread, "turns": []}, "model": "memory-model"}
        if method == "turn/start":
            return self._turn_start(params)
        if method == "contract/echo":
            return await self._echo(params)
        raise MemoryRuntime.unknown_method(method)

    def _turn_start(self, params: Mapping[str, Any]) -> Any:
        thread_id = params.get("threadId")
        if thread_id not in self._threads:
            raise MemoryRuntime.error(rpc.INVALID_REQUEST, f"thread not found: {thread_id}")
        text = "".join(part["text"] for part in params["input"] if part["type"] == "text")
        turn_id, item_id = self._next("turn"), self._next("item")
        self._runtime().start_soon(self._stream_turn, thread_id, turn_id, item_id, text)
        return {"turn": {"id": turn_id, "status": "inProgress", "items": []}}

    async def _stream_turn(self, thread_id: str, turn_id: str, item_id: str, text: str) -> None:
        runtime = self._runtime()
        where = {"threadId": thread_id, "turnId": turn_id}
        item = {"type": "agentMessage", "id": item_id, "text": text}
        await runtime.notify(
            "turn/started", {"threadId": thread_id, "turn": {"id": turn_id, "items": []}}
        )
        await runtime.notify("item/started", {**where, "item": {**item, "text": ""}})
        third = len(text) // 3
        for delta in (text[:third], text[third : 2 * third], text[2 * third :]):
            await runtime.notify(
                "item/agentMessage/delta", {**where, "itemId": item_id, "delta": delta}
            )
        await runtime.notify("item/completed", {**where, "item": item})
        done = {"id": turn_id, "status": "completed", "items": [item]}
        await runtime.notify("turn/completed", {"threadId": thread_id, "turn": done})

    def hold(self, count: int) -> None:
        """Hold the next `count` `contract/echo` calls; answer them last first."""
        self._hold = count

    async def _echo(self, params: Any) -> Any:
        if self._hold == 0:
            return params
        if len(self._held) + 1 < self._hold:
            gate = anyio.Event()
            self._held.append(gate)
            await gate.wait()
            return params
        # The last to arrive is answered first, then the others from the latest back.
        held, self._held, self._hold = self._held, [], 0
        for gate in held:
            gate.set()  # they answer after this one, which is written first
        return params


@attrs.define
class MemoryDriver:
    runtime: MemoryRuntime
    codex: CodexPart
    answer: Any = None
    answered: anyio.Event = attrs.field(factory=anyio.Event)

    async def tagged_call(self, harness: Harness, tag: str) -> str:
        result = await harness.supervisor.request("contract/echo", {"tag": tag})
        return str(result["tag"])

    def answer_out_of_order(self, count: int) -> None:
        self.codex.hold(count)

    async def ask_approval(self, harness: Harness) -> None:
        async def ask() -> None:
            params = {"threadId": "thr_x", "turnId": "turn_x", "itemId": "item_x"}
            self.answer = await self.runtime.server_request(APPROVAL_METHOD, params)
            self.answered.set()

        harness.tasks.start_soon(ask)

    async def confirm_decision(
        self, harness: Harness, request: rpc.ServerRequest, decision: str
    ) -> None:
        with anyio.fail_after(DEFAULT_TIMEOUT):
            await self.answered.wait()
        assert self.answer == {"decision": decision}

    def kill(self, harness: Harness) -> None:
        self.runtime.crash(signal.SIGKILL)


# ------------------------------------------------------------------------ fake


class FakeDriver:
    async def tagged_call(self, harness: Harness, tag: str) -> str:
        result = await harness.supervisor.request("echo", {"tag": tag})
        return str(result["tag"])

    def answer_out_of_order(self, count: int) -> None:
        pass  # the fake answers in arrival order

    async def ask_approval(self, harness: Harness) -> None:
        params = {"threadId": "thr_x", "turnId": "turn_x", "itemId": "item_x"}
        await harness.supervisor.request(
            "fake/serverRequest", {"method": APPROVAL_METHOD, "params": params}
        )

    async def confirm_decision(
        self, harness: Harness, request: rpc.ServerRequest, decision: str
    ) -> None:
        answered = await harness.notifications.wait_for(
            lambda r: (
                r.method == "fake/serverRequestAnswered" and r.params["requestId"] == request.id
            ),
            what="the fake's report of our answer",
        )
        assert answered.params["result"] == {"decision": decision}

    def kill(self, harness: Harness) -> None:
        kill_pid(harness)


def kill_pid(harness: Harness) -> None:
    pid = harness.supervisor.health.pid
    assert pid is not None, "the runtime has no pid"
    os.kill(pid, signal.SIGKILL)


# ------------------------------------------------------------------------ real


def echo_or_command(request: RecordedRequest) -> Step:
    """The real runtime's model: asks to run a command for APPROVAL_PROMPT (then says
    "done"), otherwise repeats the user's text in four chunks, as the fakes do."""
    if request.function_call_outputs:
        return Reply("done")
    text = request.last_user_text or ""
    if text == APPROVAL_PROMPT:
        return exec_command("touch contract-marker", call_id="call_contract")
    return Reply(text, chunks=4)


@attrs.define
class RealDriver:
    turn_id: str | None = None

    async def tagged_call(self, harness: Harness, tag: str) -> str:
        cwd = harness.workdir / tag
        cwd.mkdir(exist_ok=True)
        result = await harness.supervisor.request(
            "thread/start", {"cwd": str(cwd)}, timeout=DEFAULT_TIMEOUT
        )
        return Path(result["cwd"]).name

    def answer_out_of_order(self, count: int) -> None:
        pass  # codex answers when it is done; the order is its own

    async def ask_approval(self, harness: Harness) -> None:
        thread_id = await harness.start_thread(
            approvalPolicy="on-request", sandbox="workspace-write"
        )
        self.turn_id = await harness.start_turn(thread_id, APPROVAL_PROMPT)

    async def confirm_decision(
        self, harness: Harness, request: rpc.ServerRequest, decision: str
    ) -> None:
        assert decision == "decline", "the real runtime is only asked to decline"
        assert self.turn_id is not None
        await harness.notifications.wait_for(
            lambda r: (
                r.method == "serverRequest/resolved" and r.params.get("requestId") == request.id
            ),
            what="serverRequest/resolved",
        )
        turn = await harness.wait_turn_completed(self.turn_id)
        assert turn["status"] == "completed", turn
        commands = [
            r.params["item"]
            for r in harness.turn_notifications(self.turn_id)
            if r.method == "item/completed" and r.params["item"]["type"] == "commandExecution"
        ]
        assert [item["id"] for item in commands] == [request.params["itemId"]], commands
        assert [item["status"] for item in commands] == ["declined"], commands
        assert not (harness.workdir / "contract-marker").exists()

    def kill(self, harness: Harness) -> None:
        kill_pid(harness)


# ------------------------------------------------------------------------ harness


@asynccontextmanager
async def open_harness(adapter: str, tmp_path: Path) -> AsyncIterator[Harness]:
    """A ready, supervised runtime of `adapter` ("memory", "fake" or "real")."""
    workdir = tmp_path / "work"
    workdir.mkdir(parents=True, exist_ok=True)
    codex_home = tmp_path / "codex-home"
    exits = ExitLog()
    if adapter == "real":
        # The task group outside the supervisor: a test may stop the supervisor, whose task
        # group must then be the innermost scope.
        async with anyio.create_task_group() as tasks:
            async with real_runtime(tmp_path, echo_or_command, restart=FAST_RESTART) as rt:
                rt.supervisor.on_exit = exits.record
                yield Harness(
                    name=adapter,
                    supervisor=rt.supervisor,
                    notifications=rt.notifications,
                    ready_log=rt.ready_log,
                    exits=exits,
                    driver=RealDriver(),
                    codex_home=str(rt.codex_home),
                    version="0.163.0",
                    workdir=rt.workdir,
                    tasks=tasks,
                    next_server_request=rt.next_server_request,
                )
            tasks.cancel_scope.cancel()
        return

    driver: Driver
    transport: RuntimeTransport
    if adapter == "memory":
        runtime: MemoryRuntime | None = None
        codex = CodexPart(lambda: runtime_of(runtime))
        runtime = MemoryRuntime(codex, codex_home=str(codex_home), chunk_size=37)
        transport, driver, version = runtime, MemoryDriver(runtime, codex), runtime.version
    elif adapter == "fake":
        fake = FakeAppServer(user_agent=f"{CLIENT.name}/{FAKE_VERSION} (contract fake)")
        transport = StdioTransport(
            fake.command(),
            env={**os.environ, "CODEX_HOME": str(codex_home)},
            log=LogSettings(path=tmp_path / "stderr.log"),
            stop_timeouts=StopTimeouts(stdin_close=2.0, terminate=2.0, kill=2.0),
        )
        driver, version = FakeDriver(), FAKE_VERSION
    else:
        raise ValueError(f"unknown adapter {adapter!r}; known: {ADAPTERS}")

    send: MemoryObjectSendStream[tuple[int, rpc.ServerRequest]]
    receive: MemoryObjectReceiveStream[tuple[int, rpc.ServerRequest]]
    send, receive = anyio.create_memory_object_stream(math.inf)

    async def on_server_request(epoch: int, request: rpc.ServerRequest) -> Any:
        send.send_nowait((epoch, request))
        return DEFERRED

    async def next_server_request(method: str) -> tuple[int, rpc.ServerRequest]:
        with anyio.move_on_after(DEFAULT_TIMEOUT):
            epoch, request = await receive.receive()
            assert request.method == method, f"expected {method!r}, got {request}"
            return epoch, request
        raise AssertionError(
            recorder.failure_message(f"no server request {method!r} in {DEFAULT_TIMEOUT:g} s")
        )

    recorder = NotificationRecorder()
    ready_log = ReadyLog()
    supervisor = Supervisor(
        transport,
        client_info=CLIENT,
        call_timeout=DEFAULT_TIMEOUT,
        initialize_timeout=DEFAULT_TIMEOUT,
        ready_timeout=DEFAULT_TIMEOUT,
        restart=FAST_RESTART,
        on_notification=recorder.record,
        on_server_request=on_server_request,
        on_ready=ready_log.record,
        on_exit=exits.record,
    )
    with send, receive:
        async with anyio.create_task_group() as tasks, supervisor:
            harness = Harness(
                name=adapter,
                supervisor=supervisor,
                notifications=recorder,
                ready_log=ready_log,
                exits=exits,
                driver=driver,
                codex_home=str(codex_home),
                version=version,
                workdir=workdir,
                tasks=tasks,
                next_server_request=next_server_request,
            )
            await supervisor.wait_ready(DEFAULT_TIMEOUT)
            yield harness
            await supervisor.stop()
            tasks.cancel_scope.cancel()


def runtime_of(runtime: MemoryRuntime | None) -> MemoryRuntime:
    assert runtime is not None
    return runtime
