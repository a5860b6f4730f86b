"""`ScriptedModel`: the server a test starts, its recording, and how it answers a request.

It accepts connections on 127.0.0.1 (an ephemeral port), reads requests through
`_http.HttpConnection`, records each `POST /v1/responses`, asks the script for a step and
lets `_responses_api.perform` answer with it. Everything that goes wrong on the model's side
(an exhausted script, a failing script function, a request it did not expect) is answered
and recorded in `errors` rather than raised, so one bad request never stops the server.
"""

from __future__ import annotations

import itertools
import json
import secrets
from collections.abc import Callable, Iterable

import anyio
import anyio.abc

from codex_manager_core.testing.scripted_model._http import (
    BadRequest,
    HttpConnection,
    HttpRequest,
    decode_body,
    is_disconnect,
)
from codex_manager_core.testing.scripted_model._recorded import RecordedRequest
from codex_manager_core.testing.scripted_model._responses_api import RESPONSES_PATH, perform
from codex_manager_core.testing.scripted_model._script import NoStep, Script, ScriptFunction
from codex_manager_core.testing.scripted_model._steps import Step


class ScriptedModel:
    """A Responses-API model server on 127.0.0.1 that follows a script.

    `script` is either an iterable of steps, one consumed per `POST /v1/responses` in arrival
    order (more can be appended with `add`), or a function `(RecordedRequest) -> Step` (sync
    or async) called for every request. When the steps run out or the function raises, the
    request is answered `500` and the problem is recorded in `errors`, so a test can assert
    `model.errors == []` at the end. Unexpected requests (other paths or methods, malformed
    HTTP, undecodable bodies) are answered 404/405/400/415 and recorded in `errors` too.

    Start it with `async with` (or `start()` and `aclose()`, from the same task); closing it
    drops every connection and ends every stall. It must be used from the event loop that
    started it.
    """

    def __init__(self, script: Iterable[Step] | ScriptFunction = ()) -> None:
        self._script = Script(script)
        self._requests: list[RecordedRequest] = []
        self._errors: list[str] = []
        self._waiters: list[anyio.Event] = []
        self._open_connections = 0
        self._id_token = secrets.token_hex(3)
        self._ids = itertools.count(1)
        self._port: int | None = None
        self._task_group: anyio.abc.TaskGroup | None = None
        self._listener: anyio.abc.Listener[anyio.abc.SocketStream] | None = None
        self._closed = False

    # ---------------------------------------------------------------- public surface

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>/v1`: the provider `base_url` for codex's config."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def port(self) -> int:
        """The TCP port the server listens on (only known once started)."""
        if self._port is None:
            raise RuntimeError("ScriptedModel is not started: use `async with ScriptedModel(...)`")
        return self._port

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the `POST /v1/responses` requests received so far, in arrival order."""
        return list(self._requests)

    @property
    def errors(self) -> list[str]:
        """A snapshot of the problems met so far (script exhausted, script function failed,
        unexpected or malformed requests), one message each."""
        return list(self._errors)

    @property
    def remaining_steps(self) -> int | None:
        """How many scripted steps are still unused (None when the script is a function)."""
        return self._script.remaining_steps

    def add(self, *steps: Step) -> None:
        """Append steps to the script (not possible when the script is a function)."""
        self._script.add(*steps)

    @property
    def open_connections(self) -> int:
        """How many client connections are open right now. codex 0.163 opens one per request
        and closes it after the answer (or when it abandons the answer, on interrupt)."""
        return self._open_connections

    async def wait_for_requests(
        self, count: int, *, timeout: float = 10.0
    ) -> list[RecordedRequest]:
        """Wait until at least `count` requests have arrived and return them all.

        Raises TimeoutError, naming what did arrive and the errors so far, when they do not
        arrive within `timeout` seconds.
        """
        if not await self._wait_until(lambda: len(self._requests) >= count, timeout):
            errors = f"; errors so far: {self._errors}" if self._errors else ""
            where = f" at {self.base_url}" if self._port is not None else " (not started)"
            raise TimeoutError(
                f"the scripted model{where} received {len(self._requests)} of the {count} "
                f"expected request(s) within {timeout:g} s{errors}; is the client configured "
                "with this base_url, and did its turn start?"
            )
        return list(self._requests)

    async def _wait_until(self, condition: Callable[[], bool], timeout: float) -> bool:
        """Wait (at most `timeout` s) until `condition()` holds; it is re-checked whenever a
        request arrives or a connection closes. Returns whether it holds."""
        with anyio.move_on_after(timeout):
            while not condition():
                waiter = anyio.Event()
                self._waiters.append(waiter)
                try:
                    await waiter.wait()
                finally:
                    if waiter in self._waiters:
                        self._waiters.remove(waiter)
        return condition()

    def _notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.set()

    async def start(self) -> None:
        """Listen on an ephemeral port of 127.0.0.1 and serve in the background."""
        if self._task_group is not None or self._closed:
            raise RuntimeError("a ScriptedModel can only be started once")
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        self._listener = listener
        self._port = listener.extra(anyio.abc.SocketAttribute.local_port)
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        task_group.start_soon(self._serve, listener)

    async def aclose(self) -> None:
        """Stop serving: close the listener and every connection, ending stalls. Idempotent."""
        if self._closed:
            return
        self._closed = True
        task_group, self._task_group = self._task_group, None
        try:
            if task_group is not None:
                task_group.cancel_scope.cancel()
                await task_group.__aexit__(None, None, None)
        finally:
            if self._listener is not None:
                await anyio.aclose_forcefully(self._listener)

    async def __aenter__(self) -> ScriptedModel:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ---------------------------------------------------------------- serving

    async def _serve(self, listener: anyio.abc.Listener[anyio.abc.SocketStream]) -> None:
        await listener.serve(self._handle_connection)

    def _record_error(self, message: str) -> None:
        self._errors.append(message)

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_{self._id_token}_{next(self._ids)}"

    async def _handle_connection(self, stream: anyio.abc.SocketStream) -> None:
        conn = HttpConnection(stream)
        self._open_connections += 1
        try:
            while True:
                try:
                    request = await conn.read_request()
                except BadRequest as exc:
                    self._record_error(f"bad request answered {exc.status}: {exc.message}")
                    if conn.can_respond:
                        await conn.send_simple(exc.status, exc.message + "\n", keep_alive=False)
                    return
                if request is None:
                    return
                await self._answer(conn, request)
                if not conn.next_cycle():
                    return
        except Exception as exc:  # never let one connection take the server down
            if not is_disconnect(exc):
                self._record_error(f"ScriptedModel internal error: {exc!r}")
        finally:
            self._open_connections -= 1
            self._notify()
            await anyio.aclose_forcefully(stream)

    async def _answer(self, conn: HttpConnection, request: HttpRequest) -> None:
        """Answer one request, completely unless its step cuts or stalls the stream."""
        described = f"{request.method} {request.target[:200]}"
        keep_alive = request.keep_alive
        if request.path != RESPONSES_PATH:
            self._record_error(f"unexpected request {described}: answered 404")
            await conn.send_simple(404, f"no such endpoint: {described}\n", keep_alive=keep_alive)
            return
        if request.method != "POST":
            self._record_error(f"unexpected request {described}: answered 405")
            await conn.send_simple(
                405,
                f"{RESPONSES_PATH} only accepts POST\n",
                keep_alive=keep_alive,
                extra_headers=[("allow", "POST")],
            )
            return
        try:
            raw = decode_body(request.body, request.headers.get("content-encoding"))
        except ValueError as exc:
            self._record_error(f"{described}: {exc}")
            await conn.send_simple(415, f"{exc}\n", keep_alive=keep_alive)
            return
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
            body = exc
        if not isinstance(body, dict):
            message = f"{described}: the body is not a JSON object ({str(body)[:100]})"
            self._record_error(message)
            await conn.send_simple(400, message + "\n", keep_alive=keep_alive)
            return

        recorded = RecordedRequest(request.method, request.target, dict(request.headers), body)
        self._requests.append(recorded)
        number = len(self._requests)
        self._notify()

        async with anyio.create_task_group() as task_group:
            # The client hanging up ends whatever the step is doing (a stall, a delay).
            task_group.start_soon(conn.watch_for_disconnect, task_group.cancel_scope)
            step = await self._script.next_step(recorded, number)
            if isinstance(step, NoStep):
                self._record_error(step.message)
                await conn.send_simple(500, f"{step.message}\n", keep_alive=keep_alive)
            else:
                await perform(conn, step, keep_alive=keep_alive, new_id=self._new_id)
            task_group.cancel_scope.cancel()
