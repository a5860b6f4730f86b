"""The parent side of process isolation: the child process, its handshake, and the proxy
handlers the dispatcher calls like any other.

Calls to one child are serialized (one handler at a time, as a child is one extension).
Each call: start the child if it is not running (and check its subscriptions did not
change), send `handle`, serve its toolbox requests with the Toolbox of that call, and
return its validated result. Faults:
- past the call's deadline (or cancelled by the caller), the child is told `$/cancel`; if
  it does not answer within `cancel_grace`, it is killed (and started again on the next call);
- a child that exits or writes a line that is not the protocol is killed and the call is
  retried once on a new child; a second failure raises `IsolatedCallError`;
- its stderr goes to a bounded buffer of lines (`stderr_tail`), read by a thread.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import anyio
import anyio.abc

from codex_manager_core import rpc
from codex_manager_core.extensions.api import ExtensionEvent, HandlerReturn, Toolbox, ToolboxClosed
from codex_manager_core.extensions.isolation import wire
from codex_manager_core.extensions.model import LoadErrorCode

logger = logging.getLogger(__name__)

HOST_MODULE: Final = "codex_manager_core.extensions.isolation.host"
#: Stderr lines kept per extension, and the longest line kept.
STDERR_LINES: Final = 200
STDERR_LINE_CHARS: Final = 2000


class IsolationError(Exception):
    """An isolated extension did not load; `code` is what the loader reports."""

    def __init__(self, code: LoadErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class IsolatedCallError(RuntimeError):
    """A call to an isolated handler failed (the dispatcher reports `handler_error`)."""

    def __init__(self, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.data = data


class IsolatedCallTimeout(IsolatedCallError, TimeoutError):
    """The handler did not answer by its deadline; it was cancelled."""


class ChildFailed(Exception):
    """The child exited or broke the protocol: it is killed and may be restarted."""


class StderrTail:
    """The last lines a child wrote to stderr (every child of one extension, in order)."""

    def __init__(self, name: str) -> None:
        self.lines: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
        self._logger = logging.getLogger(f"{__name__}.{name}")

    def drain(self, fd: int) -> threading.Thread:
        thread = threading.Thread(target=self._run, args=(fd,), daemon=True)
        thread.start()
        return thread

    def _add(self, raw: bytes) -> None:
        line = raw.decode(errors="replace").rstrip()[:STDERR_LINE_CHARS]
        self.lines.append(line)
        self._logger.debug("%s", line)

    def _run(self, fd: int) -> None:
        pending = b""
        try:
            while chunk := os.read(fd, 65536):
                *complete, pending = (pending + chunk).split(b"\n")
                for raw in complete:
                    self._add(raw)
                if len(pending) > 4 * STDERR_LINE_CHARS:
                    self._add(pending)
                    pending = b""
            if pending:
                self._add(pending)
        except OSError:
            pass
        finally:
            os.close(fd)

    def hint(self) -> str:
        if not self.lines:
            return ""
        return "; its stderr ended with: " + " | ".join(list(self.lines)[-5:])


def child_environment(root: Path, home: Path) -> dict[str, str]:
    """PATH, HOME (a temporary folder) and the PYTHONPATH that finds codex_manager_core,
    attrs and the extension: no tokens, no OPENAI_* or CODEX_* variables."""
    import attrs

    import codex_manager_core

    paths: list[str] = []
    for module_file in (codex_manager_core.__file__, attrs.__file__):
        assert module_file is not None
        folder = str(Path(module_file).resolve().parent.parent)
        if folder not in paths:
            paths.append(folder)
    paths.append(str(root))
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(home),
        "PYTHONPATH": os.pathsep.join(paths),
        "PYTHONIOENCODING": "utf-8",
    }


class Child:
    """One running child process and its side of the conversation."""

    def __init__(self, process: anyio.abc.Process, stderr: StderrTail, reader: threading.Thread):
        self.process = process
        self.conn = rpc.JsonRpcConnection(max_line_bytes=wire.MAX_LINE_BYTES)
        self.events: collections.deque[rpc.Event] = collections.deque()
        self.stderr = stderr
        self.reader = reader

    @classmethod
    async def spawn(cls, root: Path, entrypoint: str, module_name: str, home: Path,
                    stderr: StderrTail) -> Child:  # fmt: skip
        read_fd, write_fd = os.pipe()
        try:
            process = await anyio.open_process(
                [sys.executable, "-m", HOST_MODULE, str(root), entrypoint, module_name],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=write_fd,
                cwd=root,
                env=child_environment(root, home),
                start_new_session=True,
            )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        return cls(process, stderr, stderr.drain(read_fd))

    @property
    def pid(self) -> int:
        return self.process.pid

    async def send(self, data: bytes) -> None:
        assert self.process.stdin is not None
        try:
            await self.process.stdin.send(data)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            raise ChildFailed(f"its stdin is closed ({exc!r}){await self.exit_hint()}") from exc

    async def next_event(self) -> rpc.Event:
        stdout = self.process.stdout
        assert stdout is not None
        while not self.events:
            try:
                data = await stdout.receive(65536)
            except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
                self.events.extend(self.conn.receive_eof())
                if not self.events:
                    raise ChildFailed(f"it closed its stdout{await self.exit_hint()}") from None
                break
            self.events.extend(self.conn.receive_data(data))
        return self.events.popleft()

    async def exit_hint(self) -> str:
        with anyio.move_on_after(1.0):
            await self.process.wait()
        await self._join_reader(0.5)
        code = self.process.returncode
        return ("" if code is None else f"; it exited with code {code}") + self.stderr.hint()

    async def _join_reader(self, seconds: float) -> None:
        await anyio.to_thread.run_sync(self.reader.join, seconds)

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)

    async def stop(self, grace: float = 2.0) -> None:
        """End the child and everything in its process group: EOF, then TERM, then KILL."""
        with anyio.CancelScope(shield=True):
            if self.process.stdin is not None:
                with contextlib.suppress(Exception):
                    await self.process.stdin.aclose()
            for sig in (None, signal.SIGTERM, signal.SIGKILL):
                if sig is not None and self.process.returncode is None:
                    self._signal_group(sig)
                with anyio.move_on_after(grace if sig != signal.SIGKILL else 30.0):
                    await self.process.wait()
                if self.process.returncode is not None:
                    break
            self._signal_group(signal.SIGKILL)  # whatever the child left in its group
            with contextlib.suppress(Exception):
                await self.process.aclose()
            await self._join_reader(2.0)

    async def kill(self) -> None:
        with anyio.CancelScope(shield=True):
            self._signal_group(signal.SIGKILL)
            await self.stop(grace=2.0)


async def exchange(
    child: Child, request_id: rpc.RequestId, tools: Toolbox | None, log: logging.Logger
) -> Any:
    """Read until the answer to `request_id`; serve toolbox requests and log records on the
    way. Returns the result; raises IsolatedCallError on an error answer, ChildFailed when
    the child breaks the protocol or exits."""
    while True:
        event = await child.next_event()
        if isinstance(event, rpc.ProtocolError):
            preview = event.preview[:120].decode(errors="replace")
            raise ChildFailed(f"it wrote a line that is not the protocol ({event.reason}): "
                              f"{preview!r}")  # fmt: skip
        if isinstance(event, rpc.Response) and event.id == request_id:
            return event.result
        if isinstance(event, rpc.ErrorResponse) and event.id == request_id:
            raise IsolatedCallError(event.message, event.data)
        if isinstance(event, rpc.ServerRequest):
            await serve_toolbox(child, event, request_id, tools)
        elif isinstance(event, rpc.Notification) and event.method == wire.LOG:
            forward_log(event.params, tools.logger if tools is not None else log)


def forward_log(params: object, target: logging.Logger) -> None:
    if not isinstance(params, Mapping):
        return
    level, message = params.get("level"), params.get("message")
    if not isinstance(level, int) or isinstance(level, bool):
        level = logging.INFO
    target.log(max(logging.DEBUG, min(level, logging.CRITICAL)), "%s", str(message)[:10_000])


async def serve_toolbox(
    child: Child, request: rpc.ServerRequest, call_id: rpc.RequestId, tools: Toolbox | None
) -> None:
    """Answer one toolbox request from the child with the Toolbox of the current call."""
    params = request.params if isinstance(request.params, Mapping) else {}
    try:
        if tools is None or params.get("callId") != call_id:
            raise ToolboxClosed(f"{request.method}: no handler call of this id is running")
        result = await _toolbox_call(request.method, params, tools)
    except wire.WireError as exc:
        answer = child.conn.send_error(request.id, rpc.INVALID_PARAMS, str(exc))
    except ToolboxClosed as exc:
        answer = child.conn.send_error(request.id, wire.TOOLBOX_CLOSED, str(exc))
    except LookupError as exc:
        answer = child.conn.send_error(request.id, rpc.METHOD_NOT_FOUND, str(exc))
    except Exception as exc:
        answer = child.conn.send_error(
            request.id, wire.TOOLBOX_FAILED, f"{type(exc).__name__}: {exc}"
        )
    else:
        try:
            answer = child.conn.send_result(request.id, result)
        except (TypeError, ValueError) as exc:
            answer = child.conn.send_error(request.id, wire.TOOLBOX_FAILED, f"not JSON: {exc}")
    await child.send(answer)


async def _toolbox_call(method: str, params: Mapping[str, Any], tools: Toolbox) -> Any:
    if method == wire.ENQUEUE_JOB:
        job_type, payload, priority = (
            params.get("type"),
            params.get("payload"),
            params.get("priority"),
        )
        if not isinstance(job_type, str) or not job_type:
            raise wire.WireError("type must be a non-empty string")
        if not isinstance(payload, Mapping):
            raise wire.WireError("payload must be an object")
        if priority is not None and not isinstance(priority, str):
            raise wire.WireError("priority must be a string or null")
        result = await tools.enqueue_job(job_type, dict(payload), priority=priority)
        return wire.enqueue_result_to_json(result)
    if method == wire.SESSION_SETTINGS:
        return dict(await tools.session_settings())
    if method == wire.SESSION_SETTING:
        key = params.get("key")
        if not isinstance(key, str):
            raise wire.WireError("key must be a string")
        return await tools.session_setting(key)
    raise LookupError(f"unknown toolbox method {method!r}")


def decode_result(module_name: str, value: Any) -> HandlerReturn:
    try:
        return wire.result_from_json(value)
    except wire.WireError as exc:
        raise IsolatedCallError(f"{module_name}: refused the handler's result: {exc}") from exc


def event_params(index: int, event: ExtensionEvent) -> dict[str, Any]:
    params = {"index": index, "event": wire.event_to_json(event)}
    try:
        rpc.encode_message(params)
    except (TypeError, ValueError) as exc:
        raise IsolatedCallError(f"the event cannot be sent as JSON: {exc}") from exc
    return params
