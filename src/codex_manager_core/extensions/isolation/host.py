"""The child side of process isolation: `python -m codex_manager_core.extensions.isolation.host
<root> <entrypoint> [<module name>]`.

It imports the extension, calls `register(ExtensionRegistry(...))`, then speaks JSON-RPC
(codex_manager_core.rpc) with the parent over stdin and the stdout it had at start:
- `initialize` -> `{subscriptions: [{eventType, priority, timeout, index}]}` (or an error
  whose `data.loadErrorCode` says why the extension did not load);
- `handle {index, event}` -> the handler's result (`{kind, ...}`, see wire.py); the handler
  runs as a task, so `$/cancel {id}` cancels it (answered with a `cancelled` error);
- the handler's toolbox calls become requests to the parent (`toolbox/*`, with the
  `callId` they belong to); its log records, `toolbox/log` notifications.

File descriptor 1 is pointed at stderr once the protocol has its own copy, so an extension
that prints cannot corrupt the protocol. End of stdin ends the host.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import importlib.util
import inspect
import logging
import os
import sys
import threading
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from codex_manager_core import rpc
from codex_manager_core.extensions.api import (
    EnqueueResult,
    ExtensionEvent,
    ExtensionRegistry,
    ToolboxClosed,
)
from codex_manager_core.extensions.isolation import wire
from codex_manager_core.models import JsonObject, JsonValue

#: The protocol's file descriptor (a copy of the original stdout), set by `main`.
PROTOCOL_FD: int | None = None


class _LoadFailed(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def load(root: Path, entrypoint: str, module_name: str) -> ExtensionRegistry:
    """Import the entrypoint (a file under root, or a module name) and call `register`."""
    try:
        if entrypoint.endswith(".py"):
            path = (root / entrypoint).resolve()
            if not path.is_file():
                raise _LoadFailed("missing_entrypoint", f"entrypoint {entrypoint!r} not found")
            spec = importlib.util.spec_from_file_location(module_name, path)
            if spec is None or spec.loader is None:
                raise _LoadFailed("import_failed", f"cannot import {path}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(entrypoint)
    except _LoadFailed:
        raise
    except BaseException as exc:  # an import may raise anything, SystemExit included
        raise _LoadFailed("import_failed", _describe(exc)) from exc
    register = getattr(module, "register", None)
    if not callable(register):
        raise _LoadFailed("missing_register", "the module has no callable register(registry)")
    registry = ExtensionRegistry(module_name)
    try:
        returned = register(registry)
        if inspect.isawaitable(returned):
            raise _LoadFailed("registration_failed", "register(registry) must not be async")
    except _LoadFailed:
        raise
    except BaseException as exc:
        raise _LoadFailed("registration_failed", _describe(exc)) from exc
    return registry


def _describe(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(exc)).strip()[-2000:]


class _LogHandler(logging.Handler):
    def __init__(self, host: Host) -> None:
        super().__init__()
        self._host = host

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)[:10_000]
            params = {"level": record.levelno, "name": record.name, "message": message}
            self._host.write(self._host.conn.send_notification(wire.LOG, params))
        except Exception:  # logging must never break the handler
            self.handleError(record)


class ChildToolbox:
    """The Toolbox a handler gets in the child: each call asks the parent."""

    def __init__(self, host: Host, call_id: rpc.RequestId, logger: logging.Logger) -> None:
        self._host = host
        self._call_id = call_id
        self._logger = logger
        self.closed = False

    async def _request(self, method: str, params: dict[str, Any]) -> Any:
        if self.closed:
            raise ToolboxClosed(f"{method}: the handler has returned; its toolbox is closed")
        answer = await self._host.request(method, {**params, "callId": self._call_id})
        if isinstance(answer, rpc.ErrorResponse):
            if answer.code == wire.TOOLBOX_CLOSED:
                raise ToolboxClosed(answer.message)
            raise RuntimeError(f"{method} failed: {answer.message}")
        return answer.result

    async def enqueue_job(
        self, type: str, payload: JsonObject, *, priority: str | None = None
    ) -> EnqueueResult:
        params = {"type": type, "payload": dict(payload), "priority": priority}
        return wire.enqueue_result_from_json(await self._request(wire.ENQUEUE_JOB, params))

    async def session_settings(self) -> JsonObject:
        result = await self._request(wire.SESSION_SETTINGS, {})
        if not isinstance(result, Mapping):
            raise RuntimeError("the parent answered session settings with a non-object")
        return dict(result)

    async def session_setting(self, key: str) -> JsonValue:
        result: JsonValue = await self._request(wire.SESSION_SETTING, {"key": key})
        return result

    @property
    def logger(self) -> logging.Logger:
        return self._logger


class Host:
    def __init__(self, registry: ExtensionRegistry | None, failure: _LoadFailed | None) -> None:
        self.registry = registry
        self.failure = failure
        self.conn = rpc.JsonRpcConnection(max_line_bytes=wire.MAX_LINE_BYTES)
        self._write_lock = threading.Lock()
        self._pending: dict[rpc.RequestId, asyncio.Future[rpc.Response | rpc.ErrorResponse]] = {}
        self._calls: dict[rpc.RequestId, asyncio.Task[None]] = {}
        name = registry.module if registry is not None else "extension"
        self.logger = logging.getLogger(f"codex_manager.extensions.{name}")
        self.logger.propagate = False
        self.logger.setLevel(logging.DEBUG)
        self.logger.addHandler(_LogHandler(self))

    def write(self, data: bytes) -> None:
        assert PROTOCOL_FD is not None
        with self._write_lock:
            view = memoryview(data)
            while view:
                view = view[os.write(PROTOCOL_FD, view) :]

    async def request(self, method: str, params: Any) -> rpc.Response | rpc.ErrorResponse:
        request_id, data = self.conn.send_request(method, params)
        future: asyncio.Future[rpc.Response | rpc.ErrorResponse] = (
            asyncio.get_running_loop().create_future()
        )
        self._pending[request_id] = future
        try:
            self.write(data)
            return await future
        finally:
            self._pending.pop(request_id, None)
            self.conn.forget(request_id)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=wire.MAX_LINE_BYTES)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while data := await reader.read(65536):
            for event in self.conn.receive_data(data):
                self._dispatch(event)
        for task in list(self._calls.values()):
            task.cancel()

    def _dispatch(self, event: rpc.Event) -> None:
        if isinstance(event, rpc.ServerRequest):
            if event.method == wire.INITIALIZE:
                self._initialize(event.id)
            elif event.method == wire.HANDLE:
                task = asyncio.ensure_future(self._handle(event.id, event.params))
                task.add_done_callback(functools.partial(self._done, event.id))
                self._calls[event.id] = task
            else:
                self.write(self.conn.send_error(event.id, rpc.METHOD_NOT_FOUND, event.method))
        elif isinstance(event, rpc.Notification):
            if event.method == wire.CANCEL and isinstance(event.params, Mapping):
                call = self._calls.get(event.params.get("id"))  # type: ignore[arg-type]
                if call is not None:
                    call.cancel()
        elif isinstance(event, rpc.Response | rpc.ErrorResponse):
            future = self._pending.get(event.id)
            if future is not None and not future.done():
                future.set_result(event)
        else:
            print(f"host: skipped a line from the parent: {event.reason}", file=sys.stderr)

    def _done(self, request_id: rpc.RequestId, task: asyncio.Task[None]) -> None:
        self._calls.pop(request_id, None)
        if task.cancelled():  # before it even started: `_handle` could not answer
            self.write(self.conn.send_error(request_id, wire.CANCELLED, "cancelled"))

    def _initialize(self, request_id: rpc.RequestId) -> None:
        if self.registry is None:
            assert self.failure is not None
            data = {"loadErrorCode": self.failure.code}
            self.write(self.conn.send_error(request_id, wire.LOAD_FAILED, str(self.failure), data))
            return
        subscriptions = [
            {"eventType": s.event_type, "priority": s.priority, "timeout": s.timeout, "index": i}
            for i, s in enumerate(self.registry.subscriptions)
        ]
        self.write(self.conn.send_result(request_id, {"subscriptions": subscriptions}))

    async def _handle(self, request_id: rpc.RequestId, params: Any) -> None:
        try:
            if self.registry is None:
                raise RuntimeError("the extension did not load")
            if not isinstance(params, Mapping):
                raise wire.WireError("handle params must be an object")
            index = params.get("index")
            subscriptions = self.registry.subscriptions
            if not isinstance(index, int) or not 0 <= index < len(subscriptions):
                raise wire.WireError(f"no subscription of index {index!r}")
            event = wire.event_from_json(params.get("event"))
            result = await self._run_handler(request_id, subscriptions[index].handler, event)
            self.write(self.conn.send_result(request_id, result))
        except asyncio.CancelledError:
            self.write(self.conn.send_error(request_id, wire.CANCELLED, "cancelled"))
        except Exception as exc:
            self.write(self.conn.send_error(request_id, wire.HANDLER_FAILED, _describe(exc)))

    async def _run_handler(
        self, request_id: rpc.RequestId, handler: Any, event: ExtensionEvent
    ) -> dict[str, Any]:
        tools = ChildToolbox(self, request_id, self.logger)
        try:
            if inspect.iscoroutinefunction(handler):
                value = await handler(event, tools)
            else:
                value = await asyncio.to_thread(handler, event, tools)
                if inspect.isawaitable(value):
                    value = await value
        finally:
            tools.closed = True
        encoded = wire.result_to_json(value)
        rpc.encode_message(encoded)  # not JSON: refused here, with the handler's name
        return encoded


def main(argv: list[str] | None = None) -> int:
    global PROTOCOL_FD
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (2, 3):
        print("usage: host <root> <entrypoint> [<module name>]", file=sys.stderr)
        return 2
    root, entrypoint = Path(args[0]), args[1]
    module_name = args[2] if len(args) == 3 else Path(entrypoint).stem
    PROTOCOL_FD = os.dup(1)
    # Run as __main__: the module's importable name must know the descriptor too.
    canonical = importlib.import_module("codex_manager_core.extensions.isolation.host")
    canonical.PROTOCOL_FD = PROTOCOL_FD  # type: ignore[attr-defined]
    os.dup2(2, 1)  # what the extension prints goes to stderr, not into the protocol
    sys.stdout = sys.stderr
    sys.path.insert(0, str(root))
    registry: ExtensionRegistry | None = None
    failure: _LoadFailed | None = None
    try:
        registry = load(root, entrypoint, module_name)
    except _LoadFailed as exc:
        failure = exc
        print(f"host: {exc.code}: {exc}", file=sys.stderr)
    asyncio.run(Host(registry, failure).run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
