"""Following `GET /api/stream` from a cursor, across disconnects, on asyncio and trio.

A remote wait, a tool server and `cmgr stream --follow` all need the same thing: the event
frames after a point, each exactly once and in order, even when the connection breaks. The
server makes that possible (docs/stream.md "Resuming": reconnect with `since=<seq>&part=
<part>` of the last frame received); this module does the client's half once.

One background task owns the WebSocket (httpx-ws, so anyio: asyncio and trio). It connects,
reads frames, and when the connection breaks it reconnects with exponential backoff and
full jitter, resuming from the last frame it received. Frames it received but the caller
has not read yet wait in a memory stream, so they survive the reconnect; a frame that comes
again (it cannot, but a cheap check makes exactly-once independent of the server) is
dropped. `lagged` is answered with a subscribe from the same cursor. Errors that retrying
cannot fix (401, a refused query) end the stream at once; a server that stays away ends it
with `TransportError` after `max_reconnects` failed attempts in a row.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import AsyncIterator, Callable, Sequence
from types import TracebackType
from typing import Any, Final

import anyio
import anyio.abc
import attrs
import httpx
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from httpx_ws import (
    AsyncWebSocketSession,
    HTTPXWSException,
    WebSocketDisconnect,
    WebSocketUpgradeError,
    aconnect_ws,
)

from codex_manager_client.errors import (
    ApiError,
    InvalidInputError,
    TransportError,
    error_from_response,
)
from codex_manager_client.target import Target

#: Backoff of reconnect attempt n (0-based): uniform in [0, min(CAP, BASE * 2**n)] seconds.
BACKOFF_BASE: Final = 0.1
BACKOFF_CAP: Final = 5.0
#: Failed connection attempts in a row before the stream gives up (when not given).
DEFAULT_MAX_RECONNECTS: Final = 8
#: Seconds a connection must stay up to count as healthy (resets the failures in a row).
HEALTHY_AFTER: Final = 2.0
#: Frames received but not yet read by the caller.
BUFFER: Final = 1024
CONTROL_TYPES: Final = frozenset({"ready", "subscribed", "pong", "error", "lagged"})


@attrs.frozen
class StreamFrame:
    """One event frame of /api/stream (control frames are not yielded)."""

    seq: int
    part: int
    type: str
    thread_id: str | None
    payload: Any
    at: str | None

    @classmethod
    def from_wire(cls, frame: dict[str, Any]) -> StreamFrame:
        thread_id = frame.get("threadId")
        at = frame.get("at")
        return cls(
            seq=int(frame["seq"]),
            part=int(frame["part"]),
            type=str(frame.get("type")),
            thread_id=thread_id if isinstance(thread_id, str) else None,
            payload=frame.get("payload"),
            at=at if isinstance(at, str) else None,
        )

    def to_wire(self) -> dict[str, Any]:
        """The frame as the server sent it (for `-o jsonl`)."""
        return {
            "type": self.type,
            "threadId": self.thread_id,
            "payload": self.payload,
            "seq": self.seq,
            "part": self.part,
            "at": self.at,
        }


class _Retry(Exception):
    """The connection broke in a way a reconnect can fix."""


def backoff_delay(attempt: int, rng: random.Random | None = None) -> float:
    """Seconds to wait before reconnect attempt `attempt` (0-based): full jitter."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * math.pow(2, min(attempt, 30)))
    return (rng or random).uniform(0, ceiling)


class EventStream:
    """Follows /api/stream from a cursor. Reconnects with backoff and resumes with
    (since, part): every frame exactly once, in order. anyio + httpx-ws.

        async with EventStream(target, thread_ids=[sid], since=seq) as stream:
            async for frame in stream: ...

    `since`/`part`: start after frame `part` of event `since` (part None: after the whole
    event; since None: live from the head). `max_reconnects`: failed attempts in a row
    before `TransportError` (default 8: at most about 16 s of backoff). Use it from one task.
    """

    def __init__(
        self,
        target: Target,
        *,
        thread_ids: Sequence[str] | None = None,
        types: Sequence[str] | None = None,
        since: int | None = None,
        part: int | None = None,
        max_reconnects: int | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if part is not None and since is None:
            raise ValueError("part needs since: it says how much of event `since` was received")
        if since is not None and since < 0:
            raise ValueError(f"since must be a ledger seq (>= 0), not {since}")
        self.target = target
        self.thread_ids = list(thread_ids) if thread_ids is not None else None
        self.types = list(types) if types is not None else None
        self.max_reconnects = DEFAULT_MAX_RECONNECTS if max_reconnects is None else max_reconnects
        self.head: int = -1
        self.reconnects: int = 0
        self.lags: int = 0
        """How often the server said the stream fell behind (`lagged`): each time it
        resubscribed from its cursor."""
        self.cursor: tuple[int, int] | None = None
        # Where the background task resumes: after (seq, part) it received; part None =
        # after the whole event.
        self._resume: tuple[int, int | None] | None = (since, part) if since is not None else None
        self._client = client
        self._own_client: httpx.AsyncClient | None = None
        self._tasks: anyio.abc.TaskGroup | None = None
        self._send: MemoryObjectSendStream[StreamFrame | BaseException] | None = None
        self._receive: MemoryObjectReceiveStream[StreamFrame | BaseException] | None = None
        self._connection: anyio.CancelScope | None = None
        self._cut = False
        self._delivered = 0
        self._finished: BaseException | None = None

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> EventStream:
        if self._client is None:
            self._own_client = httpx.AsyncClient(timeout=self.target.timeout)
            self._client = self._own_client
        self._send, self._receive = anyio.create_memory_object_stream[StreamFrame | BaseException](
            BUFFER
        )
        self._tasks = anyio.create_task_group()
        await self._tasks.__aenter__()
        failure: BaseException | None = await self._tasks.start(self._run)
        if failure is not None:
            await self.__aexit__(None, None, None)
            raise failure
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        tasks, self._tasks = self._tasks, None
        try:
            if tasks is not None:
                tasks.cancel_scope.cancel()
                await tasks.__aexit__(None, None, None)
        finally:
            if self._receive is not None:
                self._receive.close()
            if self._own_client is not None:
                with anyio.CancelScope(shield=True):
                    await self._own_client.aclose()
                self._own_client = None

    def __aiter__(self) -> AsyncIterator[StreamFrame]:
        return self

    async def __anext__(self) -> StreamFrame:
        if self._receive is None:
            raise RuntimeError("use the EventStream with `async with` before iterating it")
        if self._finished is not None:
            raise self._finished
        try:
            item = await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise StopAsyncIteration from None
        if isinstance(item, BaseException):
            self._finished = item
            raise item
        self.cursor = (item.seq, item.part)
        return item

    async def disconnect(self) -> None:
        """Cut the current connection, as a network failure would; the stream reconnects
        and resumes from its cursor (for tests and for a caller that knows the link died)."""
        self._cut = True
        if self._connection is not None:
            self._connection.cancel()

    # ------------------------------------------------------------------ the connection

    def _query(self) -> dict[str, object]:
        query: dict[str, object] = {}
        if self.thread_ids is not None and len(self.thread_ids) == 1:
            query["threadId"] = self.thread_ids[0]
        if self.types is not None:
            query["types"] = ",".join(self.types)
        if self._resume is not None:
            query["since"] = self._resume[0]
            if self._resume[1] is not None:
                query["part"] = self._resume[1]
        return query

    def _subscribe_command(self) -> dict[str, object]:
        command: dict[str, object] = {"type": "subscribe"}
        if self.thread_ids is not None:
            command["threadIds"] = self.thread_ids
        if self.types is not None:
            command["types"] = self.types
        if self._resume is not None:
            command["since"] = self._resume[0]
            if self._resume[1] is not None:
                command["part"] = self._resume[1]
        return command

    def _is_new(self, seq: int, part: int) -> bool:
        if self._resume is None:
            return True
        since, since_part = self._resume
        return seq > since or (seq == since and since_part is not None and part > since_part)

    async def _run(
        self, *, task_status: anyio.abc.TaskStatus[BaseException | None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        assert self._send is not None
        send = self._send
        started = False
        failures = 0
        connected_at: float | None = None
        delivered_before = 0

        def connected() -> None:
            nonlocal started, connected_at, delivered_before
            connected_at = anyio.current_time()
            delivered_before = self._delivered
            if not started:
                started = True
                task_status.started(None)
            else:
                self.reconnects += 1
            self._cut = False

        async def fail(error: BaseException) -> None:
            if not started:
                task_status.started(error)
            else:
                await send.send(error)

        async with send:
            while True:
                try:
                    await self._connect_once(connected)
                    raise _Retry("the server closed the stream")
                except _Retry as retry:
                    if self._cut:
                        continue
                    # A connection that delivered frames or stayed up a while was healthy:
                    # the count of failures in a row starts again. One that breaks at once
                    # without a frame (a server that accepts and drops) keeps backing off,
                    # up to the bound.
                    if connected_at is not None and (
                        self._delivered > delivered_before
                        or anyio.current_time() - connected_at >= HEALTHY_AFTER
                    ):
                        failures = 0
                    connected_at = None
                    if failures >= self.max_reconnects:
                        await fail(
                            TransportError(
                                f"the event stream of {self.target.server} is unreachable "
                                f"after {failures + 1} attempts in a row: {retry}"
                            )
                        )
                        return
                    await anyio.sleep(backoff_delay(failures))
                    failures += 1
                except ApiError as error:
                    await fail(error)
                    return

    async def _connect_once(self, connected: Callable[[], None]) -> None:
        """One connection: calls `connected` when `ready` arrived, then forwards frames
        until the connection breaks (`_Retry`) or is cut (`disconnect`)."""
        assert self._client is not None
        url = self.target.ws_url("/stream", self._query())
        with anyio.CancelScope() as scope:
            self._connection = scope
            try:
                async with aconnect_ws(
                    url,
                    self._client,
                    headers=self.target.request_headers(),
                    max_message_size_bytes=64 * 1024 * 1024,
                    session_class=AsyncWebSocketSession,
                ) as ws:
                    await self._pump(ws, connected)
            except Exception as exc:  # httpx-ws wraps what its task group saw in groups
                raise _classify(exc, url) from None
            finally:
                self._connection = None
        if scope.cancelled_caught:
            raise _Retry("the connection was cut by the client")

    async def _pump(self, ws: AsyncWebSocketSession, connected: Callable[[], None]) -> None:
        assert self._send is not None
        ready = False
        awaiting_subscribed = False
        while True:
            try:
                raw = await ws.receive_text()
            except WebSocketDisconnect as exc:
                raise _Retry(f"the server closed the stream ({exc.code} {exc.reason})") from None
            try:
                frame = json.loads(raw)
            except ValueError:
                raise _Retry(f"the server sent a frame that is not JSON: {raw[:200]!r}") from None
            if not isinstance(frame, dict):
                continue
            kind = frame.get("type")
            if not ready:
                if kind != "ready":
                    raise _Retry(f"expected the ready frame first, got {kind!r}")
                ready = True
                if self.head < 0:
                    self.head = int(frame.get("seq") or 0)
                if self._resume is None:
                    # Live from here: a reconnect before the first frame resumes after it.
                    self._resume = (int(frame.get("seq") or 0), None)
                if self.thread_ids is not None and len(self.thread_ids) != 1:
                    # Several threads do not fit the query: subscribe, and ignore the frames
                    # of the default subscription that come before `subscribed`.
                    awaiting_subscribed = True
                    await ws.send_text(json.dumps(self._subscribe_command()))
                connected()
                continue
            if kind == "error":
                raise InvalidInputError(
                    400,
                    "stream_refused",
                    f"the server refused the stream subscription: {frame.get('detail')}",
                    frame,
                )
            if kind == "lagged":
                # We fell behind: resubscribe from what we actually received.
                self.lags += 1
                awaiting_subscribed = True
                await ws.send_text(json.dumps(self._subscribe_command()))
                continue
            if kind == "subscribed":
                awaiting_subscribed = False
                continue
            if kind in CONTROL_TYPES or "part" not in frame or awaiting_subscribed:
                continue
            event = StreamFrame.from_wire(frame)
            if not self._is_new(event.seq, event.part):
                continue
            # The cursor moves only once the frame is handed over: a cut (a cancellation)
            # during a blocking send leaves it for the next connection to fetch again.
            try:
                self._send.send_nowait(event)
            except anyio.WouldBlock:
                await self._send.send(event)
            self._resume = (event.seq, event.part)
            self._delivered += 1


def _upgrade_error(response: httpx.Response, url: str) -> ApiError:
    try:
        body: Any = json.loads(response.content) if response.content else None
    except (ValueError, httpx.ResponseNotRead):
        body = None
    return error_from_response(response.status_code, body, method="GET", path=url.split("?")[0])


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


_NETWORK: Final = (
    HTTPXWSException,
    httpx.TransportError,
    OSError,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    anyio.EndOfStream,
)


def _classify(exc: Exception, url: str) -> BaseException:
    """What a failed connection means: an `ApiError` (do not retry), `_Retry`, or `exc`
    itself (a defect, not a network failure)."""
    leaves = _leaves(exc)
    for leaf in leaves:
        if isinstance(leaf, ApiError):
            return leaf
        if isinstance(leaf, WebSocketUpgradeError):
            if leaf.response.status_code >= 500:
                return _Retry(f"the server answered HTTP {leaf.response.status_code}")
            return _upgrade_error(leaf.response, url)
    for leaf in leaves:
        if isinstance(leaf, _Retry):
            return leaf
    if all(isinstance(leaf, _NETWORK) for leaf in leaves):
        return _Retry("; ".join(f"{type(leaf).__name__}: {leaf}" for leaf in leaves))
    return exc


async def ledger_head(target: Target, *, client: httpx.AsyncClient | None = None) -> int:
    """The server's ledger head now (the `ready` frame's seq): read it before starting a
    turn and pass it as `since` to `wait_turn`, so the wait finds the turn's whole life."""
    async with EventStream(target, types=["ready"], client=client) as stream:
        return stream.head
