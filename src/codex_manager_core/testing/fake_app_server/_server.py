"""One fake app-server process: read stdin line by line, answer, misbehave as configured.

The reading thread parses each line and dispatches it: requests to the method table (after
the fault switches had their say: crash, hang, overload, garbage first), responses to our
server requests back to the methods, notifications mostly ignored. With `slow_ms`, answers
are sent from timer threads so that other requests are still answered meanwhile.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import IO, Any, NoReturn

from codex_manager_core.testing.fake_app_server._config import (
    MODULE,
    FakeAppServer,
    FakeConfigError,
)
from codex_manager_core.testing.fake_app_server._faults import FaultSwitches
from codex_manager_core.testing.fake_app_server._methods import Methods
from codex_manager_core.testing.fake_app_server._output import Output
from codex_manager_core.testing.fake_app_server._wire import (
    INVALID_REQUEST,
    OVERLOADED_MESSAGE,
    PARSE_ERROR,
    SERVER_OVERLOADED,
    RequestId,
    RpcError,
    invalid,
    is_request_id,
)


class Server:
    def __init__(self, config: FakeAppServer, stdin: IO[bytes], stdout: IO[bytes]) -> None:
        self.config = config
        self._stdin = stdin
        self._output = Output(stdout)
        self._faults = FaultSwitches(config, self._output)
        self._methods = Methods(self._faults, self._output)
        self._requests_seen = 0  # only the reading thread touches this

    def serve(self) -> NoReturn:
        self._faults.start_up()
        self._output.log(f"listening on stdio (pid {os.getpid()})")
        while True:
            line = self._stdin.readline()
            if not line:
                break
            if line.strip():
                self._on_line(line)
        if self.config.ignore_stdin_eof:
            self._output.log("stdin closed; still running (ignore_stdin_eof)")
            while True:
                signal.pause()
        self._output.log("stdin closed; exiting")
        self._output.exit(0)

    # ----------------------------------------------------------------- input

    def _on_line(self, line: bytes) -> None:
        output = self._output
        try:
            message = json.loads(line)
        except ValueError as exc:
            output.log(f"failed to parse a line as JSON: {exc}")
            output.reply_error(None, PARSE_ERROR, f"Parse error: {exc}")
            return
        if not isinstance(message, dict):
            output.log("a JSON line that is not an object")
            output.reply_error(None, INVALID_REQUEST, "Invalid request: expected a JSON object")
            return
        method = message.get("method")
        raw_id = message.get("id")
        request_id: RequestId | None = raw_id if is_request_id(raw_id) else None
        if isinstance(method, str) and request_id is not None:
            self._on_request(request_id, method, message.get("params"))
        elif isinstance(method, str) and "id" not in message:
            if method != "initialized":
                output.log(f"ignoring notification {method}")
        elif request_id is not None and ("result" in message or "error" in message):
            self._methods.on_response(request_id, message)
        else:
            output.log(f"a message of no known shape: {line[:200]!r}")
            output.reply_error(request_id, INVALID_REQUEST, "Invalid request: unknown shape")

    def _on_request(self, request_id: RequestId, method: str, params: Any) -> None:
        self._requests_seen += 1
        number = self._requests_seen
        for _ in range(self.config.stderr_lines_per_request):
            self._output.log(f"request #{number} id={request_id!r} method={method}")
        self._faults.crash_if_asked(method, number)
        if self.config.slow_ms > 0:
            timer = threading.Timer(
                self.config.slow_ms / 1000, self._answer, (request_id, method, params)
            )
            timer.daemon = True
            timer.start()
        else:
            self._answer(request_id, method, params)

    def _answer(self, request_id: RequestId, method: str, params: Any) -> None:
        if method in self.config.hang_on:
            self._output.log(f"hanging on {method} (id {request_id!r}): no answer will come")
            return
        before = self._faults.lines_before_answer(method)
        if before:
            self._output.write(before)
        handler = self._methods.table.get(method)
        try:
            if handler is None:
                known = ", ".join(f"`{name}`" for name in self._methods.table)
                raise invalid(f"unknown variant `{method}`, expected one of {known}")
            if method != "initialize" and not self._methods.initialized:
                raise RpcError(INVALID_REQUEST, "Not initialized")
            if self._faults.take_overload(method):
                raise RpcError(SERVER_OVERLOADED, OVERLOADED_MESSAGE)
            handler(request_id, params)
        except RpcError as exc:
            self._output.reply_error(request_id, exc.code, exc.message)


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
    Server(config, sys.stdin.buffer, sys.stdout.buffer).serve()
