"""The tutorial's extension (examples/extensions/approval_webhook): an approval that waits
past the minute (on a FakeClock) gets the webhook called once with its details; one whose
item or turn completes in time gets nothing; a session can turn it off; its settings come
from the manifest and the environment."""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import pytest

from codex_manager_core import Manager
from codex_manager_core.extensions import ExtensionEvent, ExtensionRegistry, Toolbox
from codex_manager_core.testing import FakeClock, MemoryRuntime
from tests.unit.actions_fixtures import make_runtime
from tests.unit.extension_dispatch_fixtures import WAIT, Providers, open_manager

pytestmark = pytest.mark.anyio

EXAMPLE = Path(__file__).parents[2] / "examples" / "extensions" / "approval_webhook"


def import_example() -> ModuleType:
    """The example's module, imported from its file (the loader's `load_path` does this and
    more; until it is wired these tests register the extension by hand)."""
    spec = importlib.util.spec_from_file_location(
        "approval_webhook_example", EXAMPLE / "extension.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Hook:
    """A local webhook: keeps the JSON bodies POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []
        self.received = threading.Event()
        self.url = ""

    @contextmanager
    def serving(self) -> Iterator[Hook]:
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                hook.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()
                hook.received.set()

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join(WAIT)

    async def wait(self) -> None:
        got = await anyio.to_thread.run_sync(self.received.wait, WAIT)
        assert got, "the webhook was not called"


class Seen:
    """Subscribed after the example's handlers: set once they have handled an event."""

    def __init__(self) -> None:
        self.count = 0
        self._changed = anyio.Event()

    async def __call__(self, event: ExtensionEvent, tools: Toolbox) -> None:
        self.count += 1
        self._changed.set()

    async def wait(self, count: int) -> None:
        with anyio.fail_after(WAIT):
            while self.count < count:
                await self._changed.wait()
                self._changed = anyio.Event()


def install(manager: Manager, webhook: Any) -> Seen:
    registry = ExtensionRegistry("approval-webhook")
    webhook.register(registry)
    seen = Seen()
    for event_type in (
        "app_server.request.*",
        "approval.resolved",
        "app_server.item.completed",
        "app_server.turn.completed",
    ):
        registry.on(event_type, seen)
    Providers(registry).install(manager)
    return seen


async def ask(runtime: MemoryRuntime, params: dict[str, Any]) -> None:
    # The approval stays pending until decided (or the test ends).
    try:
        await runtime.server_request("item/commandExecution/requestApproval", params, timeout=WAIT)
    except Exception:
        return


async def test_an_approval_that_waits_calls_the_webhook_once(tmp_path: Path) -> None:
    module = import_example()
    clock = FakeClock()
    runtime = make_runtime()
    with Hook().serving() as hook:
        webhook = module.ApprovalWebhook(
            module.Settings(hook.url, 60.0), now=clock.monotonic, poll=0.01
        )
        try:
            async with open_manager(tmp_path, runtime, clock=clock) as manager:
                seen = install(manager, webhook)
                project = await manager.projects.create("P")
                session = (await manager.sessions.create(project_id=project.project_id)).session_id
                params = {"threadId": session, "turnId": "turn_1", "itemId": "i1", "command": "ls"}
                async with anyio.create_task_group() as tasks:
                    tasks.start_soon(ask, runtime, params)
                    await seen.wait(1)
                    [approval] = await manager.approvals.list(session)
                    assert webhook.pending() == [approval.request_id]
                    clock.advance(59)
                    assert not hook.received.is_set()
                    clock.advance(2)
                    await hook.wait()
                    tasks.cancel_scope.cancel()
        finally:
            webhook.close()  # joins the timer thread: any other POST would be in by now
    [body] = hook.bodies
    assert body["event"] == "approval.waiting"
    assert body["approvalId"] == approval.request_id
    assert body["method"] == "item/commandExecution/requestApproval"
    assert body["sessionId"] == session
    assert body["projectId"] == project.project_id
    assert body["turnId"] == "turn_1"
    assert body["itemId"] == "i1"
    assert body["params"]["command"] == "ls"
    assert body["waitedSeconds"] >= 60


async def test_an_approval_decided_in_time_calls_nothing(tmp_path: Path) -> None:
    module = import_example()
    clock = FakeClock()
    runtime = make_runtime()
    answers: list[Any] = []
    with Hook().serving() as hook:
        webhook = module.ApprovalWebhook(
            module.Settings(hook.url, 60.0), now=clock.monotonic, poll=0.01
        )
        try:
            async with open_manager(tmp_path, runtime, clock=clock) as manager:
                seen = install(manager, webhook)
                session = (await manager.sessions.create()).session_id
                params = {"threadId": session, "turnId": "turn_1", "itemId": "i1", "command": "ls"}

                async def ask_and_keep() -> None:
                    answers.append(
                        await runtime.server_request(
                            "item/commandExecution/requestApproval", params, timeout=WAIT
                        )
                    )

                async with anyio.create_task_group() as tasks:
                    tasks.start_soon(ask_and_keep)
                    await seen.wait(1)
                    [approval] = await manager.approvals.list(session)
                    clock.advance(30)
                    await manager.approvals.decide(approval.request_id, "accept")
                # The decision alone ends the wait (`approval.resolved`), before codex
                # completes the item.
                await seen.wait(2)
                assert webhook.pending() == []
                clock.advance(120)
        finally:
            webhook.close()
    assert answers == [{"decision": "accept"}]
    assert hook.bodies == []


async def test_an_approval_whose_turn_ends_calls_nothing(tmp_path: Path) -> None:
    module = import_example()
    clock = FakeClock()
    posted: list[Any] = []
    webhook = module.ApprovalWebhook(
        module.Settings("http://127.0.0.1:9/never", 60.0),
        now=clock.monotonic,
        post=lambda url, body: posted.append(body),
        poll=0.01,
    )
    runtime = make_runtime()
    try:
        async with open_manager(tmp_path, runtime, clock=clock) as manager:
            seen = install(manager, webhook)
            session = (await manager.sessions.create()).session_id
            params = {"threadId": session, "turnId": "turn_1", "itemId": "i1", "command": "ls"}
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(ask, runtime, params)
                await seen.wait(1)
                assert len(webhook.pending()) == 1
                turn = {"id": "turn_1", "status": "interrupted", "items": []}
                await runtime.notify("turn/completed", {"threadId": session, "turn": turn})
                await seen.wait(2)
                assert webhook.pending() == []
                clock.advance(120)
                tasks.cancel_scope.cancel()
    finally:
        webhook.close()
    assert posted == []


async def test_a_session_can_turn_it_off(tmp_path: Path) -> None:
    module = import_example()
    posted: list[Any] = []
    webhook = module.ApprovalWebhook(
        module.Settings("http://127.0.0.1:9/never", 60.0),
        post=lambda url, body: posted.append(body),
    )
    runtime = make_runtime()
    try:
        async with open_manager(tmp_path, runtime) as manager:
            seen = install(manager, webhook)
            session = (await manager.sessions.create()).session_id
            await manager.settings.set(session, "approvalWebhook", False)
            params = {"threadId": session, "turnId": "turn_1", "itemId": "i1", "command": "ls"}
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(ask, runtime, params)
                await seen.wait(1)
                tasks.cancel_scope.cancel()
            [summary] = [
                s
                for s in manager.extension_dispatcher.recent()
                if s.event_type.startswith("app_server.request.")
            ]
    finally:
        webhook.close()
    assert webhook.pending() == []
    assert summary.envelopes[0].details == {"skipped": "turned off for this session"}
    assert posted == []


def test_settings_from_the_manifest_and_the_environment(tmp_path: Path) -> None:
    module = import_example()
    shipped = module.Settings.load()
    assert shipped.url is None
    assert shipped.wait_seconds == 60.0
    env = {"APPROVAL_WEBHOOK_URL": "http://hook", "APPROVAL_WEBHOOK_WAIT_SECONDS": "5"}
    assert module.Settings.load(env=env) == module.Settings("http://hook", 5.0)
    manifest = tmp_path / "extension.toml"
    manifest.write_text('[settings]\nwebhookUrl = "http://m"\nwaitSeconds = -1\n')
    with pytest.raises(ValueError, match="waitSeconds must be positive"):
        module.Settings.load(manifest, env={})
    registry = ExtensionRegistry("approval-webhook")
    module.register(registry)
    assert [s.event_type for s in registry.subscriptions] == [
        "app_server.request.*",
        "approval.resolved",
        "app_server.item.completed",
        "app_server.turn.completed",
    ]
