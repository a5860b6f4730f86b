"""A real server for the client's live tests, on asyncio AND trio.

The acceptance harness (`tests.acceptance.http_fixtures.running_host`: uvicorn, the real
codex binary offline, ScriptedModel) runs on asyncio only, so it runs here in a thread of
its own (an anyio blocking portal) and the test, on either backend, talks to it over real
sockets like any remote client. One server per test module: real-runtime tests are costly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import attrs
import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal

from codex_manager_client.stream import StreamFrame
from codex_manager_client.target import Target
from codex_manager_core.testing.scripted_model import Step
from tests.acceptance.http_fixtures import Host, running_host

TOKEN = "live-test-token"
WAIT = 60.0


@attrs.frozen
class ServerThread:
    """The running host, its portal (to call into its event loop) and a Target for it."""

    host: Host
    portal: BlockingPortal

    @property
    def target(self) -> Target:
        return Target(self.host.url, token=self.host.token, timeout=30.0)

    def add_steps(self, *steps: Step) -> None:
        """Append model steps (in the server's event loop, where the model lives)."""
        self.portal.call(lambda: self.host.model.add(*steps))

    def call(self, function: Callable[..., Any], *args: Any) -> Any:
        return self.portal.call(function, *args)


@contextmanager
def server_thread(
    root: Path, *, token: str | None = TOKEN, **config: Any
) -> Iterator[ServerThread]:
    with (
        start_blocking_portal("asyncio") as portal,
        portal.wrap_async_context_manager(running_host(root, (), token=token, **config)) as host,
    ):
        yield ServerThread(host, portal)


def http_client(target: Target) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=target.server, headers=target.request_headers(), timeout=30.0)


async def create_session(target: Target, **body: Any) -> str:
    async with http_client(target) as http:
        response = await http.post("/api/sessions", json=body)
        assert response.status_code == 200, response.text
        session_id: str = response.json()["session"]["sessionId"]
        return session_id


async def send_message(target: Target, session_id: str, text: str, **body: Any) -> str:
    async with http_client(target) as http:
        response = await http.post(
            f"/api/sessions/{session_id}/messages", json={"text": text, **body}
        )
        assert response.status_code in (200, 202), response.text
        turn_id: str = response.json()["turnId"]
        return turn_id


def ends_turn(turn_id: str | None = None) -> Callable[[StreamFrame], bool]:
    """The last frame of a turn for a subscriber of its thread: the raw `turn/completed`."""

    def matches(frame: StreamFrame) -> bool:
        payload = frame.payload
        if frame.type != "notification" or not isinstance(payload, dict):
            return False
        if payload.get("method") != "turn/completed":
            return False
        turn = (payload.get("params") or {}).get("turn") or {}
        return turn_id is None or turn.get("id") == turn_id

    return matches


async def collect(
    frames: Any, until: Callable[[StreamFrame], bool], *, timeout: float = WAIT, what: str = ""
) -> list[StreamFrame]:
    """Frames of an async iterator up to and including the first matching `until`."""
    got: list[StreamFrame] = []
    with anyio.move_on_after(timeout) as scope:
        async for frame in frames:
            got.append(frame)
            if until(frame):
                return got
    if scope.cancelled_caught:
        raise AssertionError(
            f"no {what or 'final frame'} within {timeout:g} s; got {[f.type for f in got][-20:]}"
        )
    raise AssertionError(f"the stream ended before {what or 'the final frame'}")
