"""`GET /api/stream`: the event WebSocket (the original's, plus seq, replay and filters).

One connection is two tasks and a watchdog:

- the receive loop (the handler itself) reads commands and answers them (`pong`,
  `subscribed`, `error`); a subscribe replaces the socket's subscription;
- the pump reads the socket's `Subscription` (replay from the ledger, then live) and sends
  each event's frames, encoded once per event for all sockets (`FrameCache`). When the
  subscription falls `ws_buffer` events behind it yields `Lagged`: the pump sends
  `{"type":"lagged","seq":N}` and stops until the client subscribes again (with `since=N`);
- the watchdog disconnects the client (close 1013 "too slow") when one send has not
  completed within `ws_send_timeout` (the client stopped reading and the socket buffers are
  full). It costs one timer per socket instead of one per frame.

Protocol (the original's, plus ours; old clients ignore what they do not know; the whole
of it with examples: docs/stream.md):

- query `threadId` (one thread), `since` (replay after that seq), `part` (with `since`: the
  client got event `since` only up to this part; its later parts come first), `types`
  (comma-separated type prefixes, may repeat). The server answers
  `{"type":"ready","threadId","seq"}` at once, `seq` being the ledger head (live events come
  after it). An invalid query gets the ready frame, an error frame and no subscription until
  a valid subscribe. Without `threadId` the socket follows every thread until the client
  subscribes otherwise, as the original's did.
- `{"type":"subscribe","threadId":"…"}` or `{"type":"subscribe","threadIds":[…],
  "types":[…],"since":N,"part":K}`: replaces the subscription. A field left out keeps its
  current value (so `{"type":"subscribe","since":N}` resumes the same filter after
  `lagged`); `threadId`/`threadIds`/`types` null mean "all". Answered with
  `{"type":"subscribed","threadIds","types","since","part","seq"}`; the frames before it
  belong to the previous subscription, every frame after it to the new one.
- Event frames carry `seq` and `part`; a client resumes exactly with the seq and part of
  the last event frame it received. `lagged` comes between two events, so its `seq` alone
  (no part) is exact too.
- A socket following threads gets the frames of their events, plus the frames the original
  broadcast to every socket (`frames.EventFrames.broadcast`): the manager's thread-less
  events, session deletions and moves, account/app/MCP aliases.
- `{"type":"unsubscribe"}`: every event but those of system sessions, live.
- `{"type":"ping"}` -> `{"type":"pong"}`.
- Anything invalid (also a `since` after the ledger head, a `part` without `since`) ->
  `{"type":"error","message":"invalid websocket command","detail":…}`; nothing else changes.

The runtime never waits for a socket: the bus offers events without blocking and cuts off a
subscriber whose buffer is full. When the client goes away (or the server shuts down, which
closes every socket) the handler cancels its tasks and returns.
"""

import contextlib
import logging
import time
from typing import Any, Final

import anyio
import anyio.abc
import anyio.lowlevel
from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

from codex_manager_core import Subscription
from codex_manager_core.errors import InvalidInput
from codex_manager_core.models import Lagged
from codex_manager_http.frames import (
    CommandError,
    FrameCache,
    Keep,
    Ping,
    StreamQuery,
    Subscribe,
    Unsubscribe,
    error_frame,
    lagged_frame,
    parse_command,
    parse_query,
    pong_frame,
    ready_frame,
    subscribed_frame,
)
from codex_manager_http.host import HostDep

logger = logging.getLogger("codex_manager_http.stream")

#: Events the pump sends before it lets other tasks run (a long replay or backlog must not
#: hog the event loop).
YIELD_EVERY: Final = 64
#: Close code and reason for a client that does not read (1013: try again later).
TOO_SLOW_CODE: Final = 1013
TOO_SLOW_REASON: Final = "too slow"
INTERNAL_ERROR_CODE: Final = 1011
#: How long closing a stuck socket may take before the handler just returns.
CLOSE_TIMEOUT: Final = 1.0
_CACHE_KEY: Final = "stream_frame_cache"

_DISCONNECTED = (WebSocketDisconnect, OSError)  # uvicorn's ClientDisconnected is an OSError


def frame_cache(socket: WebSocket[Any, Any, Any]) -> FrameCache:
    """The application's frame cache (one per app: seq is unique in its ledger)."""
    state = socket.app.state
    cache = state.get(_CACHE_KEY)
    if not isinstance(cache, FrameCache):
        cache = FrameCache()
        state[_CACHE_KEY] = cache
    return cache


class _Connection:
    def __init__(self, socket: WebSocket[Any, Any, Any], host: HostDep) -> None:
        self.socket = socket
        self.manager = host.manager
        self.metrics = host.metrics
        self.send_timeout = host.settings.ws_send_timeout
        self.buffer = host.settings.ws_buffer
        self.cache = frame_cache(socket)
        self.thread_ids: tuple[str, ...] | None = None
        self.types: tuple[str, ...] | None = None
        self.subscription: Subscription | None = None
        self.resume: tuple[int, int] | None = None
        """(seq, part): the event the client got only up to that part (sent first)."""
        self.pump_scope: anyio.CancelScope | None = None
        self.pump_done: anyio.Event | None = None
        self.sending_since: float | None = None
        """When the pump's current send started (None: not sending); read by the watchdog."""
        self.too_slow = False
        self.failed = False
        self.tasks: anyio.abc.TaskGroup | None = None

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        try:
            query = parse_query(self.socket.query_params.items())
            query_error = None
        except CommandError as exc:
            query, query_error = None, exc.detail
        try:
            async with anyio.create_task_group() as tasks:
                self.tasks = tasks
                tasks.start_soon(self._watchdog)
                await self._run(query, query_error)
                tasks.cancel_scope.cancel()
        finally:
            if self.subscription is not None:
                self.subscription.close()
        if self.failed:
            with (
                anyio.move_on_after(CLOSE_TIMEOUT),
                contextlib.suppress(*_DISCONNECTED, RuntimeError),
            ):
                await self.socket.close(INTERNAL_ERROR_CODE, "internal error")
        elif self.too_slow:
            self.metrics.websocket_disconnected_slow += 1
            logger.info(
                "disconnecting a WebSocket client that does not read: %s", self.socket.client
            )
            # The close frame queues behind the unsent frames: bounded, best effort.
            with (
                anyio.move_on_after(CLOSE_TIMEOUT),
                contextlib.suppress(*_DISCONNECTED, RuntimeError),
            ):
                await self.socket.close(TOO_SLOW_CODE, TOO_SLOW_REASON)

    def _end(self, *, too_slow: bool = False) -> None:
        """End the connection (every task of it is cancelled)."""
        self.too_slow = self.too_slow or too_slow
        assert self.tasks is not None
        self.tasks.cancel_scope.cancel()

    async def _run(self, query: StreamQuery | None, query_error: str | None) -> None:
        bus = self.manager.bus
        if query is None:
            await self._send_control(ready_frame(None, bus.last_seq))
            await self._send_control(error_frame(f"invalid query: {query_error}"))
        else:
            # Subscribed first: the ready frame's seq is where live events start.
            error = self._check_since(query.since)
            if error is None:
                self._subscribe(query.thread_ids, query.types, query.since, query.part)
                head = self._head()
            else:
                head = bus.last_seq
            await self._send_control(ready_frame(query.thread_id, head))
            if error is not None:
                await self._send_control(error_frame(error))
            else:
                self._start_pump()
        await self._receive_loop()

    async def _watchdog(self) -> None:
        timeout = self.send_timeout
        interval = max(min(timeout / 4, 1.0), 0.005)
        while True:
            await anyio.sleep(interval)
            started = self.sending_since
            if started is not None and time.monotonic() - started > timeout:
                self._end(too_slow=True)
                return

    # ------------------------------------------------------------------ receiving

    async def _receive_loop(self) -> None:
        socket = self.socket
        while True:
            try:
                message = await socket.receive()
            except WebSocketDisconnect:
                return
            if message["type"] == "websocket.disconnect":
                return
            if message["type"] != "websocket.receive":
                continue
            text = message.get("text")
            raw = text if text is not None else (message.get("bytes") or b"")
            try:
                command = parse_command(raw)
            except CommandError as exc:
                await self._send_control(error_frame(exc.detail))
                continue
            if isinstance(command, Ping):
                await self._send_control(pong_frame())
            elif isinstance(command, Unsubscribe):
                await self._resubscribe(None, None, None, None)
            else:
                await self._on_subscribe(command)

    async def _on_subscribe(self, command: Subscribe) -> None:
        thread_ids = self.thread_ids if isinstance(command.thread_ids, Keep) else command.thread_ids
        types = self.types if isinstance(command.types, Keep) else command.types
        error = self._check_since(command.since)
        if error is not None:
            await self._send_control(error_frame(error))
            return
        await self._resubscribe(thread_ids, types, command.since, command.part)

    def _check_since(self, since: int | None) -> str | None:
        head = self.manager.bus.last_seq
        if since is not None and since > head:
            return f"since {since} is after the last event (seq {head})"
        return None

    # ------------------------------------------------------------------ subscriptions

    def _subscribe(
        self,
        thread_ids: tuple[str, ...] | None,
        types: tuple[str, ...] | None,
        since: int | None,
        part: int | None = None,
    ) -> None:
        """Replace the subscription (synchronously: no event falls between the two). With
        `part`, the pump first sends the frames of event `since` after that part."""
        subscription = self.manager.events.subscribe(
            thread_ids=thread_ids,
            types=types,
            since=since,
            buffer=self.buffer,
            # The original's "broadcast" events (projects, runtime, account) belong to no
            # thread: a socket following threads gets them too.
            include_thread_less=thread_ids is not None,
        )
        if self.subscription is not None:
            self.subscription.close()
        self.subscription = subscription
        self.resume = (since, part) if since is not None and part is not None else None
        self.thread_ids = thread_ids
        self.types = types

    def _head(self) -> int:
        """The seq after which the current subscription's live events start."""
        return self.manager.bus.last_seq

    async def _resubscribe(
        self,
        thread_ids: tuple[str, ...] | None,
        types: tuple[str, ...] | None,
        since: int | None,
        part: int | None,
    ) -> None:
        try:
            self._subscribe(thread_ids, types, since, part)
        except InvalidInput as exc:  # parse_command validated already: a safety net
            await self._send_control(error_frame(str(exc)))
            return
        head = self._head()
        await self._stop_pump()  # the old pump's frames all come before `subscribed`
        await self._send_control(subscribed_frame(thread_ids, types, since, head, part))
        self._start_pump()

    async def _stop_pump(self) -> None:
        if self.pump_scope is not None and self.pump_done is not None:
            self.pump_scope.cancel()
            await self.pump_done.wait()
        self.pump_scope = self.pump_done = None

    def _start_pump(self) -> None:
        subscription = self.subscription
        assert subscription is not None
        assert self.tasks is not None
        scope = anyio.CancelScope()
        done = anyio.Event()
        self.pump_scope, self.pump_done = scope, done
        self.tasks.start_soon(self._pump, subscription, self.resume, scope, done)

    async def _pump(
        self,
        subscription: Subscription,
        resume: tuple[int, int] | None,
        scope: anyio.CancelScope,
        done: anyio.Event,
    ) -> None:
        send = self.socket.send
        cache = self.cache
        metrics = self.metrics
        clock = time.monotonic
        following = subscription.filter.thread_ids
        try:
            with scope:
                if resume is not None:
                    await self._send_rest_of(subscription, *resume)
                unyielded = 0
                async for item in subscription:
                    if isinstance(item, Lagged):
                        metrics.websocket_lagged += 1
                        await self._send_event_text(lagged_frame(item.seq))
                        return
                    texts = cache.frames(item).parts_for(following)
                    for text in texts:
                        self.sending_since = clock()
                        await send({"type": "websocket.send", "text": text, "bytes": None})
                        self.sending_since = None
                    metrics.frames_sent += len(texts)
                    unyielded += 1
                    if unyielded >= YIELD_EVERY:
                        unyielded = 0
                        await anyio.lowlevel.checkpoint()
        except _DISCONNECTED:
            self._end()  # the client went away
        except Exception:
            # E.g. the store failed during a replay: this connection ends, nothing else.
            logger.exception("the event stream of a WebSocket client failed")
            self.failed = True
            self._end()
        finally:
            self.sending_since = None
            subscription.close()
            done.set()

    async def _send_rest_of(self, subscription: Subscription, seq: int, part: int) -> None:
        """The frames of event `seq` after `part` that this subscription gets (none if the
        event is not stored any more, e.g. compacted, or is not the subscription's)."""
        event_filter = subscription.filter
        store = self.manager.store
        for query in event_filter.store_queries(max(seq - 1, 0), seq, 1):
            for event in await store.read_events(query):
                if event.seq == seq and event_filter.matches(event):
                    texts = self.cache.frames(event).parts_for(event_filter.thread_ids, part)
                    for text in texts:
                        await self._send_event_text(text)
                    return

    # ------------------------------------------------------------------ sending

    async def _send_event_text(self, text: str) -> None:
        self.sending_since = time.monotonic()
        await self.socket.send({"type": "websocket.send", "text": text, "bytes": None})
        self.sending_since = None
        self.metrics.frames_sent += 1

    async def _send_control(self, text: str) -> None:
        """A frame of the receive loop (bounded by the send timeout)."""
        try:
            with anyio.fail_after(self.send_timeout):
                await self.socket.send({"type": "websocket.send", "text": text, "bytes": None})
        except TimeoutError:
            self._end(too_slow=True)
        except _DISCONNECTED:
            self._end()
        else:
            self.metrics.frames_sent += 1
            return
        await anyio.lowlevel.checkpoint()  # raises the cancellation: nothing more runs


@websocket("/api/stream", name="stream")
async def stream(socket: WebSocket[Any, Any, Any]) -> None:
    """Events as they are written to the ledger (frames and commands: the module
    docstring here and in `codex_manager_http.frames`)."""
    host: HostDep = socket.app.state.host
    await socket.accept()
    host.metrics.websocket_connections += 1
    host.metrics.websocket_open += 1
    try:
        await _Connection(socket, host).run()
    finally:
        host.metrics.websocket_open -= 1


ROUTES: list[Any] = [stream]
