"""The tutorial's extension at work: a webhook is called when an approval waits too long.

    python examples/approval_webhook_demo.py              # offline: real codex, scripted model
    python examples/approval_webhook_demo.py --wait 2     # the wait, in seconds (default 1)

It starts a local HTTP server (the webhook), loads examples/extensions/approval_webhook with
its URL and a short wait, and runs two turns on the real codex offline, each asking to run a
command (an approval, `approvalPolicy: on-request`):

1. nobody answers in time: the webhook is called once, with the approval's details; the
   demo then accepts it and the turn finishes;
2. the approval is accepted at once: the webhook is not called.

No account is needed; everything lives in a temporary folder removed on exit. See
docs/extensions.md, "Tutorial: notify a webhook when an approval waits".
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio

from codex_manager_core import Manager, ManagerConfig
from codex_manager_core.events.bus import EventFilter
from codex_manager_core.models import Event
from codex_manager_core.testing import (
    RecordedRequest,
    Reply,
    ScriptedModel,
    Step,
    offline_env,
    write_offline_config,
)
from codex_manager_core.testing.scripted_model import exec_command

EXTENSION = Path(__file__).resolve().parent / "extensions" / "approval_webhook"
WAIT = 60.0


class Webhook:
    """A local HTTP server that prints and keeps what is POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []
        self.received = threading.Event()
        self.url = ""

    @contextmanager
    def serving(self) -> Iterator[Webhook]:
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                webhook.bodies.append(body)
                print(f"webhook: {body['event']} {body['method']} after {body['waitedSeconds']} s")
                self.send_response(204)
                self.end_headers()
                webhook.received.set()

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{server.server_address[1]}/approval-waiting"
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join()


def script(request: RecordedRequest) -> Step:
    """Ask to run a command (an approval); once it ran (its output is the last input
    item), say so."""
    if request.input and request.input[-1].get("type") == "function_call_output":
        return Reply("done")
    return exec_command("echo approved", call_id=f"call_{len(request.input)}")


async def next_approval(manager: Manager, session_id: str) -> Event:
    subscription = manager.bus.subscribe(EventFilter.of([session_id], ["approval"]))
    try:
        async for item in subscription:
            if isinstance(item, Event) and item.type == "approval":
                return item
    finally:
        subscription.close()
    raise RuntimeError("the event stream ended")


async def turn_with_approval(manager: Manager, session_id: str, webhook: Webhook | None) -> str:
    """One turn whose command waits for an approval; accepted once `webhook` was called
    (None: at once)."""
    async with anyio.create_task_group() as tasks:
        approvals: list[Event] = []

        async def watch() -> None:
            approvals.append(await next_approval(manager, session_id))

        tasks.start_soon(watch)
        await anyio.lowlevel.checkpoint()
        handle = await manager.turns.send(session_id, "Run echo, please.")
    approval_id = approvals[0].payload["approvalId"]
    print(f"approval {approval_id} is waiting")
    if webhook is not None:
        called = await anyio.to_thread.run_sync(webhook.received.wait, WAIT)
        if not called:
            raise RuntimeError("the webhook was not called")
    await manager.approvals.decide(approval_id, "accept")
    print(f"approval {approval_id} accepted")
    result = await manager.turns.wait(session_id, handle.turn_id, timeout=WAIT)
    return str(result.final_text)


async def main(wait: float) -> int:
    with (
        tempfile.TemporaryDirectory(prefix="codex-manager-webhook-") as tmp,
        Webhook().serving() as webhook,
    ):
        root = Path(tmp)
        workdir = root / "work"
        workdir.mkdir()
        # The extension's settings: from the environment (over its manifest's [settings]).
        os.environ["APPROVAL_WEBHOOK_URL"] = webhook.url
        os.environ["APPROVAL_WEBHOOK_WAIT_SECONDS"] = str(wait)
        async with ScriptedModel(script) as model:
            codex_home = root / "codex-home"
            write_offline_config(codex_home, base_url=model.base_url)
            env = offline_env(codex_home)
            env["HOME"] = str(root)
            config = ManagerConfig(
                codex_home=codex_home, runtime_env=env, import_user_auth=False, default_cwd=workdir
            )
            async with Manager.open(root / "data", config=config) as manager:
                await manager.runtime.wait_ready(WAIT)
                # Checked as any extension: its manifest, its trust, its subscriptions.
                await manager.extensions.load_path(EXTENSION)
                session = await manager.sessions.create(
                    approval_policy="on-request", filesystem_sandbox="read-only"
                )
                print(f"1. an approval nobody answers for {wait:g} s")
                print(f"turn: {await turn_with_approval(manager, session.session_id, webhook)}")
                print("2. an approval answered at once")
                print(f"turn: {await turn_with_approval(manager, session.session_id, None)}")
                # Give a late webhook call the time to show itself (it must not come).
                await anyio.sleep(wait * 2)
        print(f"webhook calls: {len(webhook.bodies)}")
        return 0 if len(webhook.bodies) == 1 else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wait", type=float, default=1.0)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    args = parser.parse_args()
    sys.exit(anyio.run(main, args.wait, backend=args.backend))
