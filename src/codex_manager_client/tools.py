"""Remote Python tools: functions on this machine that the model of a remote server calls.

The embedded Manager answers the calls of its registered Python tools itself
(`manager.tools`). A server on another machine cannot run our functions, so here the client
does: the session is created with the tools' specs as its `dynamicTools`, each call the
model makes becomes a pending tool call on the server (`tool_call_requested` on the stream),
and `RemoteTools.serve` answers it (`POST /api/tool-calls/{requestId}/response`) with what
the function returned.

Schemas, argument checks, sync-or-async running, failed results for exceptions and unknown
tools: all of that is the core's `ToolRegistry`, which the embedded manager uses too, so a
tool behaves the same embedded and remote. What is ours is the transport: following the
stream from before the first call, answering each request id once (a 404/409 on the answer
means someone else answered: fine), and the calls already pending when serving starts.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any, Final, TypeVar, overload

import anyio
import anyio.abc
import httpx

from codex_manager_client.errors import ApiError, TransportError
from codex_manager_client.http_call import call_api
from codex_manager_client.stream import EventStream
from codex_manager_client.target import Target, path_segment
from codex_manager_core.tools import ToolRegistry, ToolResult

logger = logging.getLogger("codex_manager_client.tools")

F = TypeVar("F", bound=Callable[..., Any])
REQUESTED: Final = "tool_call_requested"


class RemoteTools:
    """Python functions offered to a remote server's model as dynamic tools.

    tools = RemoteTools()

    @tools.tool
    def lookup_order(order_id: str) -> dict[str, str]:
        '''Look up an order by id.

        Args:
            order_id: The order number, e.g. "A-17".
        '''
        return {"id": order_id, "status": "shipped"}

    session_id = await tools.create_session(target, title="orders")
    async with tools.serve(target, session_id):
        ...  # send messages; the model's calls of lookup_order are answered here
    """

    def __init__(self, registry: ToolRegistry | None = None) -> None:
        self.registry = registry if registry is not None else ToolRegistry()

    @overload
    def tool(self, function: F, /) -> F: ...
    @overload
    def tool(
        self,
        function: None = None,
        /,
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float | None = None,
    ) -> Callable[[F], F]: ...

    def tool(
        self,
        function: F | None = None,
        /,
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float | None = None,
    ) -> F | Callable[[F], F]:
        """Register a function (as a decorator, with or without options); see
        `ToolRegistry.register` for the types a signature may use."""
        if function is not None:
            return self.registry.register(function)
        return self.registry.register(name=name, description=description, timeout=timeout)

    def specs(self, names: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """The `dynamicTools` list for POST /api/sessions: the named tools, or all."""
        return self.registry.specs(names)

    async def create_session(
        self,
        target: Target,
        *,
        names: Iterable[str] | None = None,
        client: httpx.AsyncClient | None = None,
        **body: Any,
    ) -> str:
        """POST /api/sessions with these tools as its `dynamicTools` (plus `body`, in the
        route's camelCase: `title`, `cwd`, `approvalPolicy`, ...); the new session's id."""
        body = {**body, "dynamicTools": self.specs(names)}
        answer = await call_api(target, "POST", "/sessions", body, client=client)
        session = answer.get("session") if isinstance(answer, Mapping) else None
        if not isinstance(session, Mapping) or not isinstance(session.get("sessionId"), str):
            raise TransportError(f"POST /sessions answered without a session: {str(answer)[:200]}")
        return str(session["sessionId"])

    @asynccontextmanager
    async def serve(
        self,
        target: Target,
        session_id: str,
        *,
        since: int | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> AsyncIterator[ToolServer]:
        """Answer the session's tool calls while the block runs: those already pending and
        every new one (from `since`, else from now). Exits cancel calls still running."""
        server = ToolServer(self.registry, target, session_id, client)
        async with (
            EventStream(
                target, thread_ids=[session_id], types=[REQUESTED], since=since, client=client
            ) as stream,
            anyio.create_task_group() as tasks,
        ):
            server.tasks = tasks
            # Subscribed first: a call raised from now on is in the stream; those raised
            # before are in the pending list (a call in both is answered once).
            for pending in await server.pending():
                server.answer_soon(pending)
            tasks.start_soon(server.follow, stream)
            try:
                yield server
            finally:
                tasks.cancel_scope.cancel()


class ToolServer:
    """The running answerer of one session's tool calls (`RemoteTools.serve`)."""

    def __init__(
        self,
        registry: ToolRegistry,
        target: Target,
        session_id: str,
        client: httpx.AsyncClient | None,
    ) -> None:
        self.registry = registry
        self.target = target
        self.session_id = session_id
        self.client = client
        self.tasks: anyio.abc.TaskGroup | None = None
        self.answered: dict[str, ToolResult] = {}
        """Request id -> the result sent (or found already answered: then not here)."""
        self._seen: set[str] = set()

    async def pending(self) -> list[Mapping[str, Any]]:
        path = f"/sessions/{path_segment(self.session_id)}/tool-calls"
        answer = await call_api(self.target, "GET", path, client=self.client)
        data = answer.get("data") if isinstance(answer, Mapping) else None
        return [item for item in data or [] if isinstance(item, Mapping)]

    async def follow(self, stream: EventStream) -> None:
        async for frame in stream:
            if frame.type == REQUESTED and frame.part == 0 and isinstance(frame.payload, Mapping):
                self.answer_soon(frame.payload)

    def answer_soon(self, request: Mapping[str, Any]) -> None:
        request_id = request.get("requestId")
        if not isinstance(request_id, str) or request_id in self._seen:
            return
        if request.get("threadId") not in (None, self.session_id):
            return
        self._seen.add(request_id)
        assert self.tasks is not None
        self.tasks.start_soon(self._answer, request_id, request)

    async def _answer(self, request_id: str, request: Mapping[str, Any]) -> None:
        name = request.get("tool")
        if not isinstance(name, str):
            result = ToolResult.error(f"the tool name must be a string, got {name!r}")
        else:
            # The registry turns an exception, bad arguments or an unknown name into a
            # failed result the model reads.
            result = await self.registry.call(name, request.get("arguments"))
        body = {
            "success": result.success,
            "contentItems": [dict(item) for item in result.content_items],
            "actor": f"tool:{name}",
        }
        path = f"/tool-calls/{path_segment(request_id)}/response"
        try:
            await call_api(self.target, "POST", path, body, client=self.client)
        except ApiError as exc:
            if exc.status in (404, 409):
                # Someone else answered (or is answering), or it expired: done either way.
                logger.info("tool call %s was already answered (%s)", request_id, exc.status)
            else:
                logger.warning("could not answer tool call %s: %s", request_id, exc)
            return
        except TransportError as exc:
            logger.warning("could not answer tool call %s: %s", request_id, exc)
            return
        self.answered[request_id] = result
