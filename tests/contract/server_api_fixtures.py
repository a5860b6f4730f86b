"""One server, two ways in: the embedded Manager the server runs, and a RemoteManager
talking to that server, over the SAME state.

The server (`tests.acceptance.http_fixtures.running_host`: real uvicorn, the real codex
binary, a ScriptedModel) runs on asyncio in a thread of its own (uvicorn needs asyncio), so
the tests themselves run on asyncio AND trio. The embedded Manager is reached through that
thread's portal (`Embedded`): `await embedded.sessions.get(id)` runs the Manager's call in
the server's loop and returns its result.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio.to_thread
import attrs
from anyio.from_thread import BlockingPortal, start_blocking_portal

from codex_manager_core import Manager
from codex_manager_core.testing.scripted_model import (
    CallTool,
    RecordedRequest,
    Reply,
    Step,
    exec_command,
)
from tests.acceptance.http_fixtures import Host, running_host
from tests.user_input import QUESTIONS

APPROVE = "PLEASE-APPROVE"
"""A message with this text makes the model run a command that needs an approval."""
ASK = "PLEASE-ASK"
"""... makes the model ask a question (request_user_input: send it in plan mode)."""
CALL = "PLEASE-CALL"
"""... makes the model call the dynamic tool `ask_operator` (declare it on the session)."""
OPERATOR_TOOL = {
    "name": "ask_operator",
    "description": "Ask the operator.",
    "inputSchema": {"type": "object", "properties": {"topic": {"type": "string"}}},
}


def script(request: RecordedRequest) -> Step:
    """`APPROVE` in the user's message: an escalated command (an approval under
    on-request); `ASK`: a question; `CALL`: a call of `ask_operator`; then, once the
    output came back, a reply. Anything else: a reply."""
    text = request.last_user_text or ""
    answered = False
    for item in reversed(request.input):  # an output after the user's last message
        if item.get("type") == "function_call_output":
            answered = True
        if item.get("type", "message") == "message" and item.get("role") == "user":
            break
    if APPROVE in text and not answered:
        return exec_command("true", call_id="call_contract")
    if ASK in text and not answered:
        return CallTool("request_user_input", QUESTIONS, call_id="call_ask")
    if CALL in text and not answered:
        return CallTool("ask_operator", {"topic": "deploy"}, call_id="call_op")
    return Reply(f"reply to: {text}")


@attrs.frozen
class Server:
    portal: BlockingPortal
    host: Host

    @property
    def url(self) -> str:
        return self.host.url

    @property
    def manager(self) -> Manager:
        return self.host.manager


def start_server(root: Path) -> Iterator[Server]:
    """The server in its own thread and asyncio loop, until the generator is closed."""
    with (
        start_blocking_portal("asyncio") as portal,
        portal.wrap_async_context_manager(running_host(root, script)) as host,
    ):
        yield Server(portal, host)


class _Group:
    def __init__(self, portal: BlockingPortal, target: Any) -> None:
        self._portal = portal
        self._target = target

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if not callable(value):
            return _Group(self._portal, value) if hasattr(value, "__dict__") else value
        portal = self._portal

        async def call(*args: Any, **kwargs: Any) -> Any:
            async def run() -> Any:
                result = value(*args, **kwargs)
                return await result if inspect.isawaitable(result) else result

            return await anyio.to_thread.run_sync(portal.call, run)

        return call


class Embedded(_Group):
    """The server's own Manager, its async calls run in the server's loop."""

    def __init__(self, server: Server) -> None:
        super().__init__(server.portal, server.manager)
