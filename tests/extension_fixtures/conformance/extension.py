"""The conformance fixture: each `test.<name>` event exercises one behaviour.

Handlers that must give the same result in-process and isolated: echo, enqueue, settings,
action, none, sync, fail, environ (only its shape), sleep (cancelled past its timeout).
Isolated only: crash (exits the process), garbage (writes a non-protocol line), block
(blocks the child's event loop, so it cannot answer `$/cancel`), huge (a 2 MB result).
`crash` and `garbage` misbehave once per `marker` file (payload), unless `always` is set.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import anyio

from codex_manager_core.extensions import (
    ActionRequest,
    EnqueueResult,
    ExtensionEvent,
    ExtensionRegistry,
    HandlerResult,
    Toolbox,
)


def register(registry: ExtensionRegistry) -> None:
    registry.on("test.echo", echo, priority=10)
    registry.on("test.enqueue", enqueue)
    registry.on("test.settings", settings)
    registry.on("test.action", action, priority=50, timeout=5)
    registry.on("test.none", none)
    registry.on("test.sync", sync)
    registry.on("test.fail", fail)
    registry.on("test.environ", environ)
    registry.on("test.sleep", sleep, timeout=2)
    registry.on("test.crash", crash)
    registry.on("test.garbage", garbage)
    registry.on("test.block", block, timeout=2)
    registry.on("test.huge", huge)
    registry.on("app_server.item.*", echo, priority=5)


async def echo(event: ExtensionEvent, tools: Toolbox) -> HandlerResult:
    return HandlerResult(
        {
            "type": event.type,
            "payload": dict(event.payload),
            "context": [event.context.project_id, event.context.session_id, event.context.turn_id],
            "emittedAt": None if event.emitted_at is None else event.emitted_at.isoformat(),
            "correlationId": event.correlation_id,
        }
    )


async def enqueue(event: ExtensionEvent, tools: Toolbox) -> EnqueueResult:
    return await tools.enqueue_job(
        event.payload["jobType"], event.payload["jobPayload"], priority="interactive"
    )


async def settings(event: ExtensionEvent, tools: Toolbox) -> HandlerResult:
    return HandlerResult(
        {"all": dict(await tools.session_settings()), "mode": await tools.session_setting("mode")}
    )


async def action(event: ExtensionEvent, tools: Toolbox) -> ActionRequest:
    return ActionRequest(
        "approval.decide",
        {"approvalId": event.payload["approvalId"], "decision": "accept"},
        request_id="r-1",
        idempotency_key=f"decide:{event.correlation_id}",
    )


async def none(event: ExtensionEvent, tools: Toolbox) -> None:
    tools.logger.info("none handled %s", event.type)
    print("a print must not corrupt anything")


def sync(event: ExtensionEvent, tools: Toolbox) -> HandlerResult:
    return HandlerResult("sync")


async def fail(event: ExtensionEvent, tools: Toolbox) -> None:
    raise ValueError("boom")


async def environ(event: ExtensionEvent, tools: Toolbox) -> HandlerResult:
    return HandlerResult(
        {
            "keys": sorted(os.environ),
            "home": os.environ.get("HOME"),
            "cwd": os.getcwd(),
            "pid": os.getpid(),
        }
    )


async def sleep(event: ExtensionEvent, tools: Toolbox) -> HandlerResult:
    tools.logger.info("sleeping")
    await anyio.sleep(event.payload.get("seconds", 3600))
    return HandlerResult("slept")


def _misbehave_now(payload: Any) -> bool:
    if payload.get("always"):
        return True
    marker = Path(payload["marker"])
    if marker.exists():
        return False
    marker.write_text("done")
    return True


async def crash(event: ExtensionEvent, tools: Toolbox) -> HandlerResult:
    if _misbehave_now(event.payload):
        os._exit(3)
    return HandlerResult("recovered")


async def garbage(event: ExtensionEvent, tools: Toolbox) -> HandlerResult:
    if _misbehave_now(event.payload):
        from codex_manager_core.extensions.isolation import host

        assert host.PROTOCOL_FD is not None
        os.write(host.PROTOCOL_FD, b"this is not JSON\n")
    return HandlerResult("recovered")


async def block(event: ExtensionEvent, tools: Toolbox) -> None:
    tools.logger.info("blocking")
    time.sleep(3600)  # noqa: ASYNC251 blocks the event loop: it cannot even be cancelled


async def huge(event: ExtensionEvent, tools: Toolbox) -> HandlerResult:
    return HandlerResult("x" * (2 * 1024 * 1024))
