"""The fault switches: how a fake process misbehaves on purpose, as its `FakeAppServer` says.

Crashes (exit or signal, on a method or on the N-th request, a limited number of times
across restarts), overload answers, garbage and oversized lines before an answer, stray
children, an ignored SIGTERM and a stderr flood. Counters that must survive a restart (how
many crashes or overloads already happened) live in a JSON file in `state_dir`, updated
under an exclusive file lock because successive fake processes may overlap.
"""

from __future__ import annotations

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
from collections.abc import Callable, Iterator
from typing import Any, Final, NoReturn, TypeVar

from codex_manager_core.testing.fake_app_server._config import FakeAppServer
from codex_manager_core.testing.fake_app_server._output import Output
from codex_manager_core.testing.fake_app_server._wire import notification

#: The file in `state_dir` holding counters shared by successive fake processes.
STATE_FILE_NAME: Final = "fake_app_server_state.json"
#: What `garbage_on` prints before the answer: a line that is not JSON, then JSON that is not
#: an object.
GARBAGE_LINES: Final = (b"this is not json {\n", b"[1,2,3]\n")

_T = TypeVar("_T")


class FaultSwitches:
    """The misbehaviour of one fake process."""

    def __init__(self, config: FakeAppServer, output: Output) -> None:
        self.config = config
        self._output = output
        self._lock = threading.Lock()  # overload counters without a state_dir
        self._overloads: dict[str, int] = {}
        self.children: list[subprocess.Popen[bytes]] = []
        self.detached: subprocess.Popen[bytes] | None = None

    # ----------------------------------------------------------------- start-up

    def start_up(self) -> None:
        """Spawn the stray children, ignore SIGTERM, flood stderr: whatever is asked."""
        # Children first, so they keep the default SIGTERM disposition.
        for _ in range(self.config.spawn_children):
            self.children.append(_spawn(new_session=False))
        if self.config.spawn_detached_child:
            self.detached = _spawn(new_session=True)
        if self.config.ignore_sigterm:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if self.config.stderr_flood_bytes:
            with self._output.err_lock:
                for chunk in _flood_lines(self.config.stderr_flood_bytes):
                    self._output.write_stderr(chunk)

    # ----------------------------------------------------------------- crashes

    def crash_if_asked(self, method: str, number: int) -> None:
        """Crash now if request #`number` (of `method`) is one the config crashes on."""
        if method == self.config.crash_on:
            self._maybe_crash(f"method {method}")
        if number == self.config.crash_at:
            self._maybe_crash(f"request #{number}")

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
        self._output.log(
            f"not crashing on {reason}: already crashed {self.config.crash_times} time(s)"
        )

    def _crash(self, reason: str) -> NoReturn:
        sig = self.config.crash_by_signal
        if sig is None:
            self._output.log(f"crashing on purpose ({reason}), exit code {self.config.exit_code}")
            self._output.exit(self.config.exit_code)
        self._output.log(f"crashing on purpose ({reason}), signal {sig}")
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            with contextlib.suppress(ValueError, OSError):  # ValueError off the main thread
                signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {sig})
        os.kill(os.getpid(), sig)
        time.sleep(1.0)  # the signal is delivered long before this ends
        self._output.exit(self.config.exit_code)

    # ----------------------------------------------------------------- answers

    def take_overload(self, method: str) -> bool:
        """Whether this call of `method` is answered -32001 (and count it)."""
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

    def lines_before_answer(self, method: str) -> bytes:
        """What `garbage_on` and `oversized_on` print before the answer to `method`."""
        lines = b""
        if method in self.config.garbage_on:
            lines += b"".join(GARBAGE_LINES)
        if method in self.config.oversized_on:
            lines += _oversized_line(self.config.oversized_on[method])
        return lines

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


def _oversized_line(size: int) -> bytes:
    line = notification("fake/oversized", {"pad": ""})
    missing = max(0, size - (len(line) - 1))
    return notification("fake/oversized", {"pad": "x" * missing})


def _flood_lines(total: int, width: int = 1024) -> Iterator[bytes]:
    """`total` bytes of stderr log lines (each newline-terminated, the last one shorter)."""
    prefix = b"fake_app_server: stderr flood "
    while total > 0:
        size = min(width, total)
        yield (prefix + b"x" * width)[: size - 1] + b"\n"
        total -= size


def _spawn(*, new_session: bool) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        _sleep_argv(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=new_session,
    )


def _sleep_argv() -> list[str]:
    sleep = shutil.which("sleep")
    if sleep is not None:
        return [sleep, "600"]
    return [sys.executable, "-c", "import time; time.sleep(600)"]
