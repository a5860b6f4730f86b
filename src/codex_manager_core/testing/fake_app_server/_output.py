"""Everything the fake writes: protocol lines on stdout, log lines on stderr, and its exit.

Answers come from the reading thread and from `slow_ms` timer threads, so every stdout line
is written whole under one lock, and exiting takes that lock for good: the client never sees
half a message, and nothing is written after the decision to exit.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from typing import IO, Any, NoReturn

from codex_manager_core.testing.fake_app_server._wire import RequestId, encode, notification


class Output:
    """The fake's stdout (JSON lines) and stderr (log lines)."""

    def __init__(self, stdout: IO[bytes]) -> None:
        self._stdout = stdout
        self._out_lock = threading.Lock()
        self.err_lock = threading.Lock()  # held by whoever writes several stderr lines at once

    def write(self, data: bytes) -> None:
        with self._out_lock:
            try:
                self._stdout.write(data)
                self._stdout.flush()
            except (BrokenPipeError, ValueError):
                os._exit(0)  # the client is gone; so are we

    def write_stderr(self, data: bytes) -> None:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.buffer.write(data)
            sys.stderr.buffer.flush()

    def log(self, text: str) -> None:
        with self.err_lock:
            self.write_stderr(f"fake_app_server: {text}\n".encode())

    def reply(self, request_id: RequestId | None, result: Any) -> None:
        self.write(encode({"id": request_id, "result": result}))

    def reply_error(self, request_id: RequestId | None, code: int, message: str) -> None:
        self.write(encode({"error": {"code": code, "message": message}, "id": request_id}))

    def notify(self, method: str, params: Any) -> None:
        self.write(notification(method, params))

    def exit(self, code: int) -> NoReturn:
        # Finish the line being written (if any) so the client never sees half a message.
        # The lock is never released: nothing may be written after this.
        self._out_lock.acquire(timeout=1.0)
        with contextlib.suppress(OSError, ValueError):
            self._stdout.flush()
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
        os._exit(code)
