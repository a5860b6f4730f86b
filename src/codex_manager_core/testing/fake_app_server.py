"""A fake `codex app-server` for FAULT-INJECTION tests (never a stand-in for the real runtime).

It speaks the same stdio protocol as the real app-server (one JSON object per line, no
`"jsonrpc"` field, notifications carrying `emittedAtMs`; see shared/runtime-notes.md) and can
be told to misbehave in ways the real one only does rarely: crash on a method or on the N-th
request (a few times only, across restarts), die of a signal, hang, answer slowly, report
overload, print garbage or huge lines, leave children behind, ignore SIGTERM or stdin EOF,
flood stderr.

Tests describe the fake with `FakeAppServer` and run `FakeAppServer.command()`:

    fake = FakeAppServer(crash_on="slow/thing", crash_times=1, state_dir=tmp_path)
    argv = fake.command()   # [sys.executable, ..., "-m", <this module>, "--config", <json>]

Methods (after `initialize`): `echo` (result = params), `thread/start`, `turn/start` (answers
at once, then streams turn/started, item/started, item/agentMessage/delta x `deltas`,
item/completed, turn/completed; the agent echoes the input text), `fake/notify {count,
size}` (`count` notifications `fake/tick {n, pad}`, then `{sent}`), `fake/serverRequest
{method, params}` (sends a server request with ids 0, 1, 2...; the client's reply is
reported as the notification `fake/serverRequestAnswered {requestId, result|error}`) and
`fake/exit {code}`.

Differences from the real app-server 0.163.0, on purpose:
- a line that is not JSON gets a -32700 error with id null, and JSON that is not a message a
  -32600 error (the real server only logs both to stderr and answers nothing);
- the unknown-variant message lists the fake's own methods.

The fake never kills or reaps the children it spawns: cleaning them up is the client's job.
It uses only the standard library and attrs, because it runs as a separate process.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import IO, TYPE_CHECKING, Any, Final, NoReturn, TypeAlias, TypeVar

import attrs

if TYPE_CHECKING:
    from codex_manager_core.runtime.stdio import StdioTransport

MODULE: Final = "codex_manager_core.testing.fake_app_server"
DEFAULT_USER_AGENT: Final = "fake_app_server/0.0.0-fake (fault injection)"
#: The file in `state_dir` holding counters shared by successive fake processes.
STATE_FILE_NAME: Final = "fake_app_server_state.json"
#: What `garbage_on` prints before the answer: a line that is not JSON, then JSON that is not
#: an object.
GARBAGE_LINES: Final = (b"this is not json {\n", b"[1,2,3]\n")

PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
SERVER_OVERLOADED: Final = -32001
OVERLOADED_MESSAGE: Final = "Server overloaded; retry later."

#: Signals whose default action does not end the process: useless for `crash_by_signal`.
_NON_FATAL_SIGNALS: Final = frozenset(
    getattr(signal, name)
    for name in (
        "SIGCHLD",
        "SIGCONT",
        "SIGURG",
        "SIGWINCH",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
    )
    if hasattr(signal, name)
)

RequestId: TypeAlias = int | str
_T = TypeVar("_T")


class FakeConfigError(ValueError):
    """The fake's configuration is invalid."""


# ------------------------------------------------------------------------- configuration


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_at_least(minimum: int) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not _is_int(value) or value < minimum:
            raise ValueError(f"{attribute.name} must be an integer >= {minimum}, got {value!r}")

    return check


def _optional_int_at_least(minimum: int) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    check = _int_at_least(minimum)

    def optional(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None:
            check(instance, attribute, value)

    return optional


def _is_bool(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{attribute.name} must be true or false, got {value!r}")


def _is_str(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str):
        raise ValueError(f"{attribute.name} must be a string, got {value!r}")


def _is_optional_str(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        _is_str(instance, attribute, value)


def _str_tuple(value: Iterable[str]) -> tuple[str, ...]:
    # A bare string is iterable too; turning "echo" into ("e", "c", "h", "o") helps no one.
    if isinstance(value, str | bytes):
        raise ValueError(f"expected a list of method names, got the string {value!r}")
    return tuple(value)


def _all_str(_instance: Any, attribute: attrs.Attribute[Any], value: tuple[Any, ...]) -> None:
    for item in value:
        if not isinstance(item, str):
            raise ValueError(f"{attribute.name} must hold method names, got {item!r}")


def _count_map(value: Mapping[str, int]) -> Mapping[str, int]:
    if not isinstance(value, Mapping):
        raise ValueError(f"expected an object of method -> count, got {value!r}")
    return MappingProxyType(dict(value))


def _counts_at_least(minimum: int) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(_instance: Any, attribute: attrs.Attribute[Any], value: Mapping[Any, Any]) -> None:
        for method, count in value.items():
            if not isinstance(method, str):
                raise ValueError(f"{attribute.name} keys must be method names, got {method!r}")
            if not _is_int(count) or count < minimum:
                raise ValueError(
                    f"{attribute.name}[{method!r}] must be an integer >= {minimum}, got {count!r}"
                )

    return check


def _optional_path(value: str | os.PathLike[str] | None) -> str | None:
    return None if value is None else os.fspath(value)


def _fatal_signal(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if not _is_int(value) or value not in {int(s) for s in signal.valid_signals()}:
        raise ValueError(f"{attribute.name} must be a signal number, got {value!r}")
    if value in _NON_FATAL_SIGNALS:
        raise ValueError(f"{attribute.name}: signal {value} does not end a process by default")


@attrs.frozen
class FakeAppServer:
    """How a fake app-server process should behave. `command()` is the argv to start one.

    Every option defaults to "behave like a well-mannered app-server".
    """

    user_agent: str = attrs.field(default=DEFAULT_USER_AGENT, validator=_is_str)
    """Returned as `userAgent` by initialize."""
    codex_home: str | None = attrs.field(default=None, validator=_is_optional_str)
    """Returned as `codexHome`; None means the fake's CODEX_HOME env var (or "")."""
    reject_experimental: bool = attrs.field(default=False, validator=_is_bool)
    """initialize with `capabilities.experimentalApi: true` fails with -32600."""

    crash_on: str | None = attrs.field(default=None, validator=_is_optional_str)
    """Exit (before answering) when a request with this method arrives."""
    crash_at: int | None = attrs.field(default=None, validator=_optional_int_at_least(1))
    """Exit on the N-th request (1-based, counting every request including initialize)."""
    crash_times: int = attrs.field(default=1, validator=_int_at_least(1))
    """With `state_dir`, only the first `crash_times` crashes happen; later processes live."""
    state_dir: str | None = attrs.field(default=None, converter=_optional_path)
    """Where counters shared across processes live; without it every process crashes and
    `overload` counts per process."""
    exit_code: int = attrs.field(default=1, validator=[_int_at_least(0)])
    """Exit code of a crash."""
    crash_by_signal: int | None = attrs.field(default=None, validator=_fatal_signal)
    """Crash by killing itself with this signal instead of exiting."""

    hang_on: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple, validator=_all_str)
    """Never answer these methods."""
    slow_ms: int = attrs.field(default=0, validator=_int_at_least(0))
    """Delay before every answer; other requests are still answered meanwhile."""
    overload: Mapping[str, int] = attrs.field(
        factory=dict, converter=_count_map, validator=_counts_at_least(1), hash=False
    )
    """Answer -32001 to the first N calls of each of these methods."""
    garbage_on: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple, validator=_all_str)
    """Before answering these methods print a non-JSON line and a non-object JSON line."""
    oversized_on: Mapping[str, int] = attrs.field(
        factory=dict, converter=_count_map, validator=_counts_at_least(1), hash=False
    )
    """Before answering this method print one valid notification line of at least N bytes."""

    spawn_children: int = attrs.field(default=0, validator=_int_at_least(0))
    """At start-up spawn this many `sleep 600` children in the fake's process group; their
    pids are in the initialize result as `fakeChildPids`."""
    spawn_detached_child: bool = attrs.field(default=False, validator=_is_bool)
    """Also spawn one child in a new session (escaping the group): `fakeDetachedPid`."""
    ignore_sigterm: bool = attrs.field(default=False, validator=_is_bool)
    """Ignore SIGTERM, so only SIGKILL ends the fake."""
    ignore_stdin_eof: bool = attrs.field(default=False, validator=_is_bool)
    """Keep running after stdin closes (normally the fake then exits 0 at once)."""
    stderr_lines_per_request: int = attrs.field(default=1, validator=_int_at_least(0))
    """Log lines written to stderr for each request."""
    stderr_flood_bytes: int = attrs.field(default=0, validator=_int_at_least(0))
    """At start-up, before reading stdin, write this many bytes to stderr."""

    def __attrs_post_init__(self) -> None:
        if self.exit_code > 255:
            raise ValueError(f"exit_code must be in 0..255, got {self.exit_code}")

    # -------------------------------------------------------------- serialisation

    def to_dict(self) -> dict[str, Any]:
        """The configuration as JSON-ready data (what `--config` carries)."""
        data: dict[str, Any] = {}
        for field in attrs.fields(FakeAppServer):
            value = getattr(self, field.name)
            if isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, Mapping):
                value = dict(value)
            data[field.name] = value
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_dict(cls, data: object) -> FakeAppServer:
        """Validate `data` (as decoded from JSON); raise `FakeConfigError` when it is bad."""
        if not isinstance(data, dict):
            raise FakeConfigError(f"the configuration must be a JSON object, got {data!r}")
        known = {field.name for field in attrs.fields(FakeAppServer)}
        unknown = sorted(str(key) for key in data if key not in known)
        if unknown:
            raise FakeConfigError(
                f"unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        try:
            return cls(**data)
        except (TypeError, ValueError) as exc:
            raise FakeConfigError(f"invalid configuration: {exc}") from exc

    @classmethod
    def from_json(cls, text: str) -> FakeAppServer:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise FakeConfigError(f"the configuration is not valid JSON: {exc}") from exc
        return cls.from_dict(data)

    def command(self) -> list[str]:
        """The argv that starts a fake app-server with this configuration."""
        # The warning filter silences runpy's notice that the package __init__ (which
        # re-exports FakeAppServer) imported this module before `-m` runs it.
        return [
            sys.executable,
            "-W",
            "ignore::RuntimeWarning:runpy",
            "-m",
            MODULE,
            "--config",
            self.to_json(),
        ]

    def transport(self, **options: Any) -> StdioTransport:
        """A RuntimeTransport running this fake, e.g.
        `Manager.open(store=MemoryStore(), transport=FakeAppServer(...).transport())`.
        `options` go to StdioTransport (env, cwd, log, stop_timeouts)."""
        # Imported here: the fake itself runs as a subprocess with only the stdlib and attrs.
        from codex_manager_core.runtime.stdio import StdioTransport

        return StdioTransport(self.command(), **options)


# ------------------------------------------------------------------------------- server


class _RpcError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _invalid(detail: str) -> _RpcError:
    return _RpcError(INVALID_REQUEST, f"Invalid request: {detail}")


def _params_object(params: Any) -> dict[str, Any]:
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise _invalid("params must be an object")
    return params


def _int_param(params: Mapping[str, Any], name: str, default: int, minimum: int = 0) -> int:
    value = params.get(name, default)
    if not _is_int(value) or value < minimum:
        raise _invalid(f"`{name}` must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _is_request_id(value: object) -> bool:
    return isinstance(value, str) or _is_int(value)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _encode(message: Mapping[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def _notification(method: str, params: Any) -> bytes:
    return _encode({"method": method, "params": params, "emittedAtMs": _now_ms()})


def _split_text(text: str, parts: int) -> list[str]:
    return [text[len(text) * i // parts : len(text) * (i + 1) // parts] for i in range(parts)]


def _flood_lines(total: int, width: int = 1024) -> Iterator[bytes]:
    """`total` bytes of stderr log lines (each newline-terminated, the last one shorter)."""
    prefix = b"fake_app_server: stderr flood "
    while total > 0:
        size = min(width, total)
        yield (prefix + b"x" * width)[: size - 1] + b"\n"
        total -= size


def _sleep_argv() -> list[str]:
    sleep = shutil.which("sleep")
    if sleep is not None:
        return [sleep, "600"]
    return [sys.executable, "-c", "import time; time.sleep(600)"]


class _Server:
    def __init__(self, config: FakeAppServer, stdin: IO[bytes], stdout: IO[bytes]) -> None:
        self.config = config
        self._stdin = stdin
        self._stdout = stdout
        self._out_lock = threading.Lock()
        self._err_lock = threading.Lock()
        self._lock = threading.Lock()  # the mutable state below
        self._initialized = False
        self._requests_seen = 0
        self._counters: dict[str, int] = {}
        self._threads: set[str] = set()
        self._overloads: dict[str, int] = {}
        self._pending_server_requests: set[int] = set()
        self._next_server_request_id = 0
        self._children: list[subprocess.Popen[bytes]] = []
        self._detached: subprocess.Popen[bytes] | None = None
        self._methods: dict[str, Callable[[RequestId, Any], None]] = {
            "initialize": self._initialize,
            "echo": self._echo,
            "thread/start": self._thread_start,
            "turn/start": self._turn_start,
            "fake/notify": self._fake_notify,
            "fake/serverRequest": self._fake_server_request,
            "fake/exit": self._fake_exit,
        }

    # ----------------------------------------------------------------- life cycle

    def serve(self) -> NoReturn:
        self._start_up()
        while True:
            line = self._stdin.readline()
            if not line:
                break
            if line.strip():
                self._on_line(line)
        if self.config.ignore_stdin_eof:
            self._log("stdin closed; still running (ignore_stdin_eof)")
            while True:
                signal.pause()
        self._log("stdin closed; exiting")
        self._exit(0)

    def _start_up(self) -> None:
        # Children first, so they keep the default SIGTERM disposition.
        for _ in range(self.config.spawn_children):
            self._children.append(self._spawn(new_session=False))
        if self.config.spawn_detached_child:
            self._detached = self._spawn(new_session=True)
        if self.config.ignore_sigterm:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if self.config.stderr_flood_bytes:
            with self._err_lock:
                for chunk in _flood_lines(self.config.stderr_flood_bytes):
                    self._write_stderr(chunk)
        self._log(f"listening on stdio (pid {os.getpid()})")

    def _spawn(self, *, new_session: bool) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            _sleep_argv(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=new_session,
        )

    def _exit(self, code: int) -> NoReturn:
        # Finish the line being written (if any) so the client never sees half a message.
        # The lock is never released: nothing may be written after this.
        self._out_lock.acquire(timeout=1.0)
        with contextlib.suppress(OSError, ValueError):
            self._stdout.flush()
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
        os._exit(code)

    def _crash(self, reason: str) -> NoReturn:
        sig = self.config.crash_by_signal
        if sig is None:
            self._log(f"crashing on purpose ({reason}), exit code {self.config.exit_code}")
            self._exit(self.config.exit_code)
        self._log(f"crashing on purpose ({reason}), signal {sig}")
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            with contextlib.suppress(ValueError, OSError):  # ValueError off the main thread
                signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {sig})
        os.kill(os.getpid(), sig)
        time.sleep(1.0)  # the signal is delivered long before this ends
        self._exit(self.config.exit_code)

    # ----------------------------------------------------------------- output

    def _write(self, data: bytes) -> None:
        with self._out_lock:
            try:
                self._stdout.write(data)
                self._stdout.flush()
            except (BrokenPipeError, ValueError):
                os._exit(0)  # the client is gone; so are we

    def _write_stderr(self, data: bytes) -> None:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.buffer.write(data)
            sys.stderr.buffer.flush()

    def _log(self, text: str) -> None:
        with self._err_lock:
            self._write_stderr(f"fake_app_server: {text}\n".encode())

    def _reply(self, request_id: RequestId | None, result: Any) -> None:
        self._write(_encode({"id": request_id, "result": result}))

    def _reply_error(self, request_id: RequestId | None, code: int, message: str) -> None:
        self._write(_encode({"error": {"code": code, "message": message}, "id": request_id}))

    def _notify(self, method: str, params: Any) -> None:
        self._write(_notification(method, params))

    # ----------------------------------------------------------------- input

    def _on_line(self, line: bytes) -> None:
        try:
            message = json.loads(line)
        except ValueError as exc:
            self._log(f"failed to parse a line as JSON: {exc}")
            self._reply_error(None, PARSE_ERROR, f"Parse error: {exc}")
            return
        if not isinstance(message, dict):
            self._log("a JSON line that is not an object")
            self._reply_error(None, INVALID_REQUEST, "Invalid request: expected a JSON object")
            return
        method = message.get("method")
        raw_id = message.get("id")
        request_id: RequestId | None = raw_id if _is_request_id(raw_id) else None
        if isinstance(method, str) and request_id is not None:
            self._on_request(request_id, method, message.get("params"))
        elif isinstance(method, str) and "id" not in message:
            self._on_notification(method)
        elif request_id is not None and ("result" in message or "error" in message):
            self._on_response(request_id, message)
        else:
            self._log(f"a message of no known shape: {line[:200]!r}")
            self._reply_error(request_id, INVALID_REQUEST, "Invalid request: unknown shape")

    def _on_notification(self, method: str) -> None:
        if method != "initialized":
            self._log(f"ignoring notification {method}")

    def _on_response(self, request_id: RequestId, message: Mapping[str, Any]) -> None:
        with self._lock:
            known = isinstance(request_id, int) and request_id in self._pending_server_requests
            if known:
                self._pending_server_requests.discard(int(request_id))
        if not known:
            self._log(f"response to unknown server request {request_id!r}")
            return
        params: dict[str, Any] = {"requestId": request_id}
        if "error" in message:
            params["error"] = message["error"]
        else:
            params["result"] = message.get("result")
        self._notify("fake/serverRequestAnswered", params)

    def _on_request(self, request_id: RequestId, method: str, params: Any) -> None:
        config = self.config
        self._requests_seen += 1  # only the reading thread touches this
        number = self._requests_seen
        for _ in range(config.stderr_lines_per_request):
            self._log(f"request #{number} id={request_id!r} method={method}")
        if method == config.crash_on:
            self._maybe_crash(f"method {method}")
        if number == config.crash_at:
            self._maybe_crash(f"request #{number}")
        if config.slow_ms > 0:
            timer = threading.Timer(
                config.slow_ms / 1000, self._answer, (request_id, method, params)
            )
            timer.daemon = True
            timer.start()
        else:
            self._answer(request_id, method, params)

    def _maybe_crash(self, reason: str) -> None:
        if self.config.state_dir is None:
            self._crash(reason)

        def take(state: dict[str, Any]) -> bool:
            done = int(state.get("crashes", 0))
            if done >= self.config.crash_times:
                return False
            state["crashes"] = done + 1
            return True

        if self._with_state(take):
            self._crash(reason)
        self._log(f"not crashing on {reason}: already crashed {self.config.crash_times} time(s)")

    def _with_state(self, update: Callable[[dict[str, Any]], _T]) -> _T:
        """Run `update` on the shared state file under an exclusive lock, then save it."""
        assert self.config.state_dir is not None
        os.makedirs(self.config.state_dir, exist_ok=True)
        path = os.path.join(self.config.state_dir, STATE_FILE_NAME)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        with os.fdopen(fd, "r+", encoding="utf-8") as file:
            fcntl.flock(file, fcntl.LOCK_EX)
            text = file.read()
            state: dict[str, Any] = json.loads(text) if text.strip() else {}
            result = update(state)
            file.seek(0)
            file.truncate()
            file.write(json.dumps(state, sort_keys=True))
            file.flush()
        return result

    def _take_overload(self, method: str) -> bool:
        limit = self.config.overload.get(method, 0)
        if limit <= 0:
            return False
        if self.config.state_dir is None:
            with self._lock:
                used = self._overloads.get(method, 0)
                if used >= limit:
                    return False
                self._overloads[method] = used + 1
                return True

        def take(state: dict[str, Any]) -> bool:
            counts = state.setdefault("overload", {})
            used = int(counts.get(method, 0))
            if used >= limit:
                return False
            counts[method] = used + 1
            return True

        return self._with_state(take)

    def _answer(self, request_id: RequestId, method: str, params: Any) -> None:
        config = self.config
        if method in config.hang_on:
            self._log(f"hanging on {method} (id {request_id!r}): no answer will come")
            return
        if method in config.garbage_on:
            self._write(b"".join(GARBAGE_LINES))
        if method in config.oversized_on:
            self._write(self._oversized_line(config.oversized_on[method]))
        handler = self._methods.get(method)
        try:
            if handler is None:
                known = ", ".join(f"`{name}`" for name in self._methods)
                raise _invalid(f"unknown variant `{method}`, expected one of {known}")
            if method != "initialize" and not self._initialized:
                raise _RpcError(INVALID_REQUEST, "Not initialized")
            if self._take_overload(method):
                raise _RpcError(SERVER_OVERLOADED, OVERLOADED_MESSAGE)
            handler(request_id, params)
        except _RpcError as exc:
            self._reply_error(request_id, exc.code, exc.message)

    def _oversized_line(self, size: int) -> bytes:
        line = _notification("fake/oversized", {"pad": ""})
        missing = max(0, size - (len(line) - 1))
        return _notification("fake/oversized", {"pad": "x" * missing})

    def _next(self, kind: str) -> int:
        with self._lock:
            value = self._counters.get(kind, 0) + 1
            self._counters[kind] = value
            return value

    # ----------------------------------------------------------------- methods

    def _initialize(self, request_id: RequestId, params: Any) -> None:
        params = _params_object(params)
        capabilities = params.get("capabilities") or {}
        if not isinstance(capabilities, dict):
            raise _invalid("`capabilities` must be an object")
        if self.config.reject_experimental and capabilities.get("experimentalApi") is True:
            raise _RpcError(INVALID_REQUEST, "experimentalApi is not supported")
        with self._lock:
            if self._initialized:
                raise _RpcError(INVALID_REQUEST, "Already initialized")
            self._initialized = True
        codex_home = self.config.codex_home
        result: dict[str, Any] = {
            "userAgent": self.config.user_agent,
            "codexHome": os.environ.get("CODEX_HOME", "") if codex_home is None else codex_home,
            "platformFamily": "windows" if os.name == "nt" else "unix",
            "platformOs": "macos" if sys.platform == "darwin" else sys.platform,
        }
        if self.config.spawn_children:
            result["fakeChildPids"] = [child.pid for child in self._children]
        if self._detached is not None:
            result["fakeDetachedPid"] = self._detached.pid
        self._reply(request_id, result)

    def _echo(self, request_id: RequestId, params: Any) -> None:
        self._reply(request_id, params)

    def _thread_start(self, request_id: RequestId, params: Any) -> None:
        _params_object(params)
        thread_id = f"thr_{self._next('thread')}"
        with self._lock:
            self._threads.add(thread_id)
        thread = {"id": thread_id, "status": {"type": "idle"}, "turns": []}
        self._reply(request_id, {"thread": thread, "model": "fake-model"})

    def _turn_start(self, request_id: RequestId, params: Any) -> None:
        params = _params_object(params)
        thread_id = params.get("threadId")
        if not isinstance(thread_id, str):
            raise _invalid("`threadId` must be a string")
        with self._lock:
            known = thread_id in self._threads
        if not known:
            raise _invalid(f"thread not found: {thread_id}")
        items = params.get("input", [])
        if not isinstance(items, list):
            raise _invalid("`input` must be a list")
        text = "".join(
            item["text"]
            for item in items
            if isinstance(item, dict)
            and item.get("type") == "text"
            and isinstance(item.get("text"), str)
        )
        deltas = _int_param(params, "deltas", 3)
        turn_id = f"turn_{self._next('turn')}"
        item_id = f"item_{self._next('item')}"
        self._reply(request_id, {"turn": {"id": turn_id, "status": "inProgress", "items": []}})
        where = {"threadId": thread_id, "turnId": turn_id}
        started = {"id": turn_id, "status": "inProgress", "items": []}
        item = {"type": "agentMessage", "id": item_id, "text": text}
        lines = [
            _notification("turn/started", {"threadId": thread_id, "turn": started}),
            _notification("item/started", {**where, "item": {**item, "text": ""}}),
            *(
                _notification("item/agentMessage/delta", {**where, "itemId": item_id, "delta": d})
                for d in _split_text(text, deltas)
            ),
            _notification("item/completed", {**where, "item": item}),
            _notification(
                "turn/completed",
                {
                    "threadId": thread_id,
                    "turn": {"id": turn_id, "status": "completed", "items": [item]},
                },
            ),
        ]
        self._write(b"".join(lines))

    def _fake_notify(self, request_id: RequestId, params: Any) -> None:
        params = _params_object(params)
        count = _int_param(params, "count", 1)
        pad = "x" * _int_param(params, "size", 0)
        batch: list[bytes] = []
        for n in range(count):
            batch.append(_notification("fake/tick", {"n": n, "pad": pad}))
            if len(batch) >= 256:
                self._write(b"".join(batch))
                batch.clear()
        if batch:
            self._write(b"".join(batch))
        self._reply(request_id, {"sent": count})

    def _fake_server_request(self, request_id: RequestId, params: Any) -> None:
        params = _params_object(params)
        method = params.get("method")
        if not isinstance(method, str):
            raise _invalid("`method` must be a string")
        with self._lock:
            server_request_id = self._next_server_request_id
            self._next_server_request_id += 1
            self._pending_server_requests.add(server_request_id)
        request: dict[str, Any] = {"id": server_request_id, "method": method}
        if params.get("params") is not None:
            request["params"] = params["params"]
        self._write(
            _encode(request)
            + _encode({"id": request_id, "result": {"requestId": server_request_id}})
        )

    def _fake_exit(self, request_id: RequestId, params: Any) -> None:
        code = _int_param(_params_object(params), "code", 0)
        if code > 255:
            raise _invalid(f"`code` must be in 0..255, got {code}")
        self._reply(request_id, {})
        self._log(f"exiting with code {code} as asked")
        self._exit(code)


# --------------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=f"python -m {MODULE}",
        description="A fake `codex app-server` for fault-injection tests.",
    )
    parser.add_argument(
        "--config", default="{}", help="FakeAppServer options as a JSON object (default: {})"
    )
    args = parser.parse_args(argv)
    try:
        config = FakeAppServer.from_json(args.config)
    except FakeConfigError as exc:
        print(f"fake_app_server: invalid --config: {exc}", file=sys.stderr)
        return 2
    _Server(config, sys.stdin.buffer, sys.stdout.buffer).serve()


if __name__ == "__main__":
    sys.exit(main())
