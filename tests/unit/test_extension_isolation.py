"""Process isolation: the conformance fixture behaves the same in-process and in a child
process, and the child's faults (timeouts, crashes, garbage, a silent handshake) are
contained. Every test starts real child processes (a Python interpreter each)."""

from __future__ import annotations

import importlib.util
import inspect
import json
import logging
import os
import re
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest

from codex_manager_core.extensions import (
    ActionRequest,
    EnqueueResult,
    EnqueueStatus,
    EventContext,
    ExtensionEvent,
    ExtensionRegistry,
    HandlerResult,
    Subscription,
)
from codex_manager_core.extensions.isolation import (
    IsolatedCallError,
    IsolatedCallTimeout,
    IsolatedExtension,
    IsolationError,
    load_isolated,
    wire,
)
from codex_manager_core.extensions.model import Isolation, LoadErrorCode, Manifest
from codex_manager_core.models import JsonObject, JsonValue
from codex_manager_core.runtime.process_tree import read_process
from codex_manager_core.testing import FakeClock

pytestmark = pytest.mark.anyio

FIXTURE = Path(__file__).parent.parent / "extension_fixtures" / "conformance"
MANIFEST = Manifest(
    name="conformance", version="1.0.0", agent_id="conformance",
    display_name="Conformance fixture", isolation=Isolation.PROCESS,
)  # fmt: skip
#: Every wait of a test is bounded by this (real seconds).
BOUND = 60


class FakeTools:
    def __init__(self) -> None:
        self.enqueued: list[tuple[str, JsonObject, str | None]] = []
        self._logger = logging.getLogger("tests.isolation.tools")

    async def enqueue_job(
        self, type: str, payload: JsonObject, *, priority: str | None = None
    ) -> EnqueueResult:
        self.enqueued.append((type, dict(payload), priority))
        return EnqueueResult(EnqueueStatus.ENQUEUED, f"job-{len(self.enqueued)}", type)

    async def session_settings(self) -> JsonObject:
        return {"mode": "auto", "limits": {"n": 3}}

    async def session_setting(self, key: str) -> JsonValue:
        return {"mode": "auto"}.get(key)

    @property
    def logger(self) -> logging.Logger:
        return self._logger


class Seen(logging.Handler):
    """Waits (bounded) until a record containing `text` is logged on `logger_name`."""

    def __init__(self, logger_name: str, text: str) -> None:
        super().__init__()
        self.text = text
        self.event = threading.Event()
        self.logger = logging.getLogger(logger_name)

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.event.set()

    def __enter__(self) -> Seen:
        self.logger.addHandler(self)
        self.logger.setLevel(logging.DEBUG)
        return self

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self)

    async def wait(self) -> None:
        assert await anyio.to_thread.run_sync(self.event.wait, BOUND), self.text


def event(type: str, **payload: Any) -> ExtensionEvent:
    return ExtensionEvent(
        type, payload, EventContext("p-1", "s-1", "t-1"),
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "42",
    )  # fmt: skip


def in_process() -> list[Subscription]:
    spec = importlib.util.spec_from_file_location(
        "conformance_in_process", FIXTURE / "extension.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    registry = ExtensionRegistry("conformance")
    module.register(registry)
    return registry.subscriptions


async def call(subs: list[Subscription] | tuple[Subscription, ...], ev: ExtensionEvent,
               tools: FakeTools | None = None) -> Any:  # fmt: skip
    sub = next(s for s in subs if s.event_type == ev.type)
    with anyio.fail_after(BOUND):
        value = sub.handler(ev, tools or FakeTools())
        return await value if inspect.isawaitable(value) else value


@pytest.fixture
async def isolated() -> AsyncIterator[IsolatedExtension]:
    with anyio.fail_after(BOUND):
        extension = await load_isolated(MANIFEST, FIXTURE, "conformance", cancel_grace=1.0)
    try:
        yield extension
    finally:
        await extension.close()


def gone(pid: int) -> bool:
    """Not running (a zombie waiting for its reaper counts as gone)."""
    info = read_process(pid)
    return info is None or info.state in ("Z", "X")


def write_extension(root: Path, source: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "extension.py").write_text(source)
    return root


@pytest.fixture
def secrets() -> Iterator[None]:
    names = ("OPENAI_API_KEY", "CODEX_HOME", "CODEX_MANAGER_TOKEN", "GITHUB_TOKEN")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update({name: "secret" for name in names})
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


# ---------------------------------------------------------------- conformance


async def test_the_same_subscriptions_in_process_and_isolated(
    isolated: IsolatedExtension,
) -> None:
    def shape(subs: Any) -> list[tuple[str, int, float, int]]:
        return [(s.event_type, s.priority, s.timeout, s.index) for s in subs]

    assert shape(isolated.subscriptions) == shape(in_process())
    assert len(isolated.subscriptions) == 14
    assert all(inspect.iscoroutinefunction(s.handler) for s in isolated.subscriptions)


@pytest.mark.parametrize(
    "ev",
    [
        event("test.echo", nested={"a": [1, 2.5, None, True]}, text="é"),
        event("test.action", approvalId="ap-1"),
        event("test.none"),
        event("test.sync"),
        ExtensionEvent("test.echo", {}),
    ],
    ids=["echo", "action", "none", "sync", "bare-event"],
)
async def test_the_same_results_in_process_and_isolated(
    isolated: IsolatedExtension, ev: ExtensionEvent
) -> None:
    expected = await call(in_process(), ev)
    assert await call(isolated.subscriptions, ev) == expected
    if ev.type == "test.action":
        assert expected == ActionRequest(
            "approval.decide", {"approvalId": "ap-1", "decision": "accept"}, "r-1", "decide:42"
        )


async def test_an_enqueue_round_trips_through_the_parents_toolbox(
    isolated: IsolatedExtension,
) -> None:
    ev = event("test.enqueue", jobType="review", jobPayload={"file": "a.py"})
    local, remote = FakeTools(), FakeTools()
    expected = await call(in_process(), ev, local)
    assert await call(isolated.subscriptions, ev, remote) == expected
    assert expected == EnqueueResult(EnqueueStatus.ENQUEUED, "job-1", "review")
    assert remote.enqueued == local.enqueued == [("review", {"file": "a.py"}, "interactive")]


async def test_settings_are_read_through_the_parents_toolbox(isolated: IsolatedExtension) -> None:
    ev = event("test.settings")
    expected = HandlerResult({"all": {"mode": "auto", "limits": {"n": 3}}, "mode": "auto"})
    assert await call(in_process(), ev) == expected
    assert await call(isolated.subscriptions, ev) == expected


async def test_a_failing_handler_fails_the_call_and_the_child_goes_on(
    isolated: IsolatedExtension,
) -> None:
    with pytest.raises(ValueError, match="boom"):
        await call(in_process(), event("test.fail"))
    with pytest.raises(IsolatedCallError, match="ValueError: boom"):
        await call(isolated.subscriptions, event("test.fail"))
    assert await call(isolated.subscriptions, event("test.sync")) == HandlerResult("sync")
    assert isolated.restarts == 0


# ---------------------------------------------------------------- the environment


async def test_the_child_environment_is_minimal(tmp_path: Path, secrets: None) -> None:
    with anyio.fail_after(BOUND):
        extension = await load_isolated(MANIFEST, FIXTURE, "conformance")
    try:
        result = await call(extension.subscriptions, event("test.environ"))
    finally:
        await extension.close()
    assert isinstance(result, HandlerResult)
    assert isinstance(result.details, dict)
    keys = result.details["keys"]
    assert not [k for k in keys if k.startswith(("CODEX", "OPENAI")) or "TOKEN" in k]
    assert {"PATH", "HOME", "PYTHONPATH"} <= set(keys)
    assert result.details["home"] != os.environ.get("HOME")
    assert not await anyio.Path(
        result.details["home"]
    ).exists()  # the temporary HOME is removed on close
    assert Path(result.details["cwd"]) == FIXTURE.resolve()
    assert result.details["pid"] != os.getpid()


# ---------------------------------------------------------------- faults


async def test_a_handler_past_its_timeout_is_cancelled_and_the_next_call_works() -> None:
    clock = FakeClock()
    with anyio.fail_after(BOUND):
        extension = await load_isolated(MANIFEST, FIXTURE, "conformance", clock=clock)
        try:
            pid = extension.pid

            async def expire() -> None:
                await started.wait()  # the handler runs: cancelled in the middle
                await clock.wait_for_sleepers(1)
                clock.advance(2)

            with Seen("tests.isolation.tools", "sleeping") as started:
                async with anyio.create_task_group() as tasks:
                    tasks.start_soon(expire)
                    with pytest.raises(IsolatedCallTimeout, match=r"within 2\.0 s"):
                        await call(extension.subscriptions, event("test.sleep"))
            # The child answered `$/cancel`: it was not killed.
            assert extension.pid == pid
            assert extension.restarts == 0
            assert await call(extension.subscriptions, event("test.sync")) == HandlerResult("sync")
        finally:
            await extension.close()


async def test_a_child_that_ignores_the_cancel_is_killed_and_restarted() -> None:
    clock = FakeClock()
    with anyio.fail_after(BOUND):
        extension = await load_isolated(
            MANIFEST, FIXTURE, "conformance", clock=clock, cancel_grace=0.5
        )
        try:
            pid = extension.pid
            assert pid is not None

            async def expire() -> None:
                await started.wait()  # the child's event loop is blocked now
                await clock.wait_for_sleepers(1)
                clock.advance(2)

            with Seen("tests.isolation.tools", "blocking") as started:
                async with anyio.create_task_group() as tasks:
                    tasks.start_soon(expire)
                    with pytest.raises(IsolatedCallTimeout):
                        await call(extension.subscriptions, event("test.block"))
            assert extension.pid is None
            assert gone(pid)
            assert await call(extension.subscriptions, event("test.sync")) == HandlerResult("sync")
            assert extension.restarts == 1
            assert extension.pid not in (None, pid)
        finally:
            await extension.close()


async def test_a_caller_cancelling_the_call_cancels_it_in_the_child(
    isolated: IsolatedExtension,
) -> None:
    with Seen("tests.isolation.tools", "sleeping") as started:
        async with anyio.create_task_group() as tasks:

            async def cancel_once_started() -> None:
                await started.wait()
                tasks.cancel_scope.cancel()  # the dispatcher's own timeout, say

            tasks.start_soon(cancel_once_started)
            await call(isolated.subscriptions, event("test.sleep"))
    assert tasks.cancel_scope.cancelled_caught
    assert await call(isolated.subscriptions, event("test.sync")) == HandlerResult("sync")
    assert isolated.restarts == 0


@pytest.mark.parametrize("kind", ["crash", "garbage"])
async def test_a_child_that_crashes_or_writes_garbage_is_restarted(
    isolated: IsolatedExtension, tmp_path: Path, kind: str
) -> None:
    pid = isolated.pid
    ev = event(f"test.{kind}", marker=str(tmp_path / "marker"))
    assert await call(isolated.subscriptions, ev) == HandlerResult("recovered")
    assert isolated.restarts == 1
    assert isolated.pid != pid


@pytest.mark.parametrize("kind", ["crash", "garbage"])
async def test_a_child_failing_twice_fails_the_call_clearly(
    isolated: IsolatedExtension, kind: str
) -> None:
    reason = "exited with code 3" if kind == "crash" else "not the protocol"
    with pytest.raises(IsolatedCallError, match=f"failed twice on this call: .*{reason}"):
        await call(isolated.subscriptions, event(f"test.{kind}", always=True))
    assert await call(isolated.subscriptions, event("test.sync")) == HandlerResult("sync")


async def test_a_huge_result_is_refused(isolated: IsolatedExtension) -> None:
    with pytest.raises(IsolatedCallError, match="exceeds the limit"):
        await call(isolated.subscriptions, event("test.huge"))


async def test_a_result_of_the_wrong_shape_is_refused(tmp_path: Path) -> None:
    root = write_extension(tmp_path / "bad", (
        "def register(registry):\n"
        "    registry.on('x', handler)\n"
        "async def handler(event, tools):\n"
        "    return {'kind': 'action_request', 'actionType': 7, 'payload': {}}\n"
    ))  # fmt: skip
    with anyio.fail_after(BOUND):
        extension = await load_isolated(MANIFEST, root, "bad")
        try:
            with pytest.raises(IsolatedCallError, match=r"actionType must be a string"):
                await call(extension.subscriptions, ExtensionEvent("x", {}))
        finally:
            await extension.close()


async def test_a_child_that_never_answers_the_handshake_fails_the_load(tmp_path: Path) -> None:
    root = write_extension(tmp_path / "silent", (
        "import sys, time\n"
        "print('about to hang', file=sys.stderr, flush=True)\n"
        "def register(registry):\n"
        "    time.sleep(3600)\n"
    ))  # fmt: skip
    clock = FakeClock()

    async def expire() -> None:
        await printed.wait()  # so that its stderr tail is in the error
        await clock.wait_for_sleepers(1)
        clock.advance(5)

    stderr_logger = "codex_manager_core.extensions.isolation.client.silent"
    with anyio.fail_after(BOUND), Seen(stderr_logger, "about to hang") as printed:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(expire)
            with pytest.raises(IsolationError) as info:
                await load_isolated(MANIFEST, root, "silent", clock=clock, ready_timeout=5)
    assert info.value.code == LoadErrorCode.IMPORT_FAILED
    assert "did not answer the handshake within 5" in str(info.value)
    assert "about to hang" in str(info.value)


@pytest.mark.parametrize(
    ("source", "code", "message"),
    [
        ("raise ImportError('no such dependency')\n", LoadErrorCode.IMPORT_FAILED, "no such"),
        ("x = 1\n", LoadErrorCode.MISSING_REGISTER, "no callable register"),
        (
            "def register(r):\n    r.on('', print)\n",
            LoadErrorCode.REGISTRATION_FAILED,
            "event_type must be a non-empty string",
        ),
        ("import os\nos._exit(9)\n", LoadErrorCode.IMPORT_FAILED, "exited with code 9"),
    ],
    ids=["import", "register", "registration", "exit"],
)
async def test_a_child_that_does_not_load_reports_why(
    tmp_path: Path, source: str, code: LoadErrorCode, message: str
) -> None:
    root = write_extension(tmp_path / "broken", source)
    with anyio.fail_after(BOUND), pytest.raises(IsolationError) as info:
        await load_isolated(MANIFEST, root, "broken")
    assert info.value.code == code
    assert message in str(info.value)


async def test_close_leaves_no_process() -> None:
    with anyio.fail_after(BOUND):
        extension = await load_isolated(MANIFEST, FIXTURE, "conformance")
        pid = extension.pid
        assert pid is not None
        assert not gone(pid)
        await extension.close()
    assert gone(pid)
    with pytest.raises(IsolatedCallError, match="closed"):
        await call(extension.subscriptions, event("test.sync"))


async def test_close_ends_what_the_child_started(tmp_path: Path) -> None:
    root = write_extension(tmp_path / "spawner", (
        "import subprocess, sys\n"
        "from codex_manager_core.extensions import HandlerResult\n"
        "def register(registry):\n"
        "    registry.on('x', handler)\n"
        "async def handler(event, tools):\n"
        "    sleeper = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(3600)'])\n"
        "    return HandlerResult(sleeper.pid)\n"
    ))  # fmt: skip
    with anyio.fail_after(BOUND):
        extension = await load_isolated(MANIFEST, root, "spawner")
        try:
            result = await call(extension.subscriptions, ExtensionEvent("x", {}))
        finally:
            await extension.close()
    assert isinstance(result, HandlerResult)
    assert isinstance(result.details, int)
    assert gone(result.details)


async def test_a_missing_root_fails_the_load(tmp_path: Path) -> None:
    with anyio.fail_after(BOUND), pytest.raises(IsolationError, match="cannot start") as info:
        await load_isolated(MANIFEST, tmp_path / "nowhere", "nowhere")
    assert info.value.code == LoadErrorCode.IMPORT_FAILED


def test_the_host_refuses_bad_arguments() -> None:
    from codex_manager_core.extensions.isolation import host

    assert host.main([]) == 2


# ---------------------------------------------------------------- the wire


def test_an_event_round_trips_through_json() -> None:
    ev = event("test.echo", nested={"a": [1, None]})
    assert wire.event_from_json(json.loads(json.dumps(wire.event_to_json(ev)))) == ev
    bare = ExtensionEvent("x", {})
    assert wire.event_from_json(wire.event_to_json(bare)) == bare


@pytest.mark.parametrize(
    "value",
    [
        None,
        EnqueueResult(EnqueueStatus.ALREADY_QUEUED, "j-1", "review"),
        HandlerResult({"a": [1, "b"]}),
        ActionRequest("session.rename", {"title": "t"}),
        ActionRequest("approval.decide", {"approvalId": "a"}, "r", "k"),
    ],
)
def test_results_round_trip_through_json(value: Any) -> None:
    assert wire.result_from_json(json.loads(json.dumps(wire.result_to_json(value)))) == value


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "handler result must be a JSON object, got list"),
        ({}, "handler result.kind must be none"),
        ({"kind": "spawn"}, "got 'spawn'"),
        ({"kind": "enqueue_result", "status": "maybe"}, "status must be one of"),
        ({"kind": "enqueue_result", "status": "enqueued", "jobId": 1}, "jobId must be a string"),
        ({"kind": "action_request", "actionType": "x", "payload": []}, "payload must be a JSON"),
        ({"kind": "action_request", "actionType": "x", "payload": {}, "requestId": 3},
         "requestId must be a string"),
    ],
)  # fmt: skip
def test_a_result_of_a_wrong_shape_is_named(value: object, message: str) -> None:
    with pytest.raises(wire.WireError, match=re.escape(message)):
        wire.result_from_json(value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"subscriptions": {}}, "must be a list"),
        ({"subscriptions": [{"eventType": "x", "priority": "1", "timeout": 1, "index": 0}]},
         "priority must be an integer"),
        ({"subscriptions": [{"eventType": "x", "priority": 1, "timeout": 0, "index": 0}]},
         "timeout must be a positive number"),
        ({"subscriptions": [{"eventType": "x", "priority": 1, "timeout": 1, "index": 4}]},
         "index must be 0"),
        ({"subscriptions": [{"eventType": "", "priority": 1, "timeout": 1, "index": 0}]},
         "eventType must not be empty"),
    ],
)  # fmt: skip
def test_a_handshake_of_a_wrong_shape_is_named(value: object, message: str) -> None:
    with pytest.raises(wire.WireError, match=re.escape(message)):
        wire.subscriptions_from_json(value)


def test_a_handler_result_that_is_not_a_result_is_refused_in_the_child() -> None:
    with pytest.raises(wire.WireError, match="not int"):
        wire.result_to_json(7)


async def test_hostile_toolbox_calls_are_refused_clearly(tmp_path: Path) -> None:
    root = write_extension(tmp_path / "hostile", (
        "def register(registry):\n"
        "    registry.on('x', handler)\n"
        "async def handler(event, tools):\n"
        "    host = tools._host\n"
        "    answers = []\n"
        "    for method, params in [\n"
        "        ('toolbox/enqueueJob', {'callId': tools._call_id, 'type': 'j', 'payload': []}),\n"
        "        ('toolbox/enqueueJob', {'callId': 'other', 'type': 'j', 'payload': {}}),\n"
        "        ('toolbox/shell', {'callId': tools._call_id}),\n"
        "    ]:\n"
        "        answers.append((await host.request(method, params)).message)\n"
        "    return {'kind': 'handler_result', 'details': answers}\n"
    ))  # fmt: skip
    tools = FakeTools()
    with anyio.fail_after(BOUND):
        extension = await load_isolated(MANIFEST, root, "hostile")
        try:
            result = await call(extension.subscriptions, ExtensionEvent("x", {}), tools)
        finally:
            await extension.close()
    assert result == HandlerResult([
        "payload must be an object",
        "toolbox/enqueueJob: no handler call of this id is running",
        "unknown toolbox method 'toolbox/shell'",
    ])  # fmt: skip
    assert tools.enqueued == []
