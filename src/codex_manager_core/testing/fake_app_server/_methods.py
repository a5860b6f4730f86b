"""The methods the fake answers, and the little state they keep (threads, server requests).

`initialize`, `echo`, `thread/start`, `turn/start` (answers at once, then streams the turn's
notifications; the agent echoes the input text), `fake/notify`, `fake/serverRequest` (the
client's reply comes back as `fake/serverRequestAnswered`) and `fake/exit`. Handlers raise
`RpcError` for a bad call; the server turns it into the error answer.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any

from codex_manager_core.testing.fake_app_server._faults import FaultSwitches
from codex_manager_core.testing.fake_app_server._output import Output
from codex_manager_core.testing.fake_app_server._wire import (
    INVALID_REQUEST,
    RequestId,
    RpcError,
    encode,
    int_param,
    invalid,
    notification,
    params_object,
)

Handler = Callable[[RequestId, Any], None]


class Methods:
    """The method table of one fake process and the state behind it."""

    def __init__(self, faults: FaultSwitches, output: Output) -> None:
        self._faults = faults
        self._config = faults.config
        self._output = output
        self._lock = threading.Lock()  # the state below; timer threads answer too
        self.initialized = False
        self._counters: dict[str, int] = {}
        self._threads: set[str] = set()
        self._pending_server_requests: set[int] = set()
        self._next_server_request_id = 0
        self.table: dict[str, Handler] = {
            "initialize": self._initialize,
            "echo": self._echo,
            "thread/start": self._thread_start,
            "turn/start": self._turn_start,
            "fake/notify": self._fake_notify,
            "fake/serverRequest": self._fake_server_request,
            "fake/exit": self._fake_exit,
        }

    def on_response(self, request_id: RequestId, message: Mapping[str, Any]) -> None:
        """The client answered one of our server requests: report it as a notification."""
        with self._lock:
            known = isinstance(request_id, int) and request_id in self._pending_server_requests
            if known:
                self._pending_server_requests.discard(int(request_id))
        if not known:
            self._output.log(f"response to unknown server request {request_id!r}")
            return
        params: dict[str, Any] = {"requestId": request_id}
        if "error" in message:
            params["error"] = message["error"]
        else:
            params["result"] = message.get("result")
        self._output.notify("fake/serverRequestAnswered", params)

    def _next(self, kind: str) -> int:
        with self._lock:
            value = self._counters.get(kind, 0) + 1
            self._counters[kind] = value
            return value

    # ----------------------------------------------------------------- methods

    def _initialize(self, request_id: RequestId, params: Any) -> None:
        params = params_object(params)
        capabilities = params.get("capabilities") or {}
        if not isinstance(capabilities, dict):
            raise invalid("`capabilities` must be an object")
        if self._config.reject_experimental and capabilities.get("experimentalApi") is True:
            raise RpcError(INVALID_REQUEST, "experimentalApi is not supported")
        with self._lock:
            if self.initialized:
                raise RpcError(INVALID_REQUEST, "Already initialized")
            self.initialized = True
        codex_home = self._config.codex_home
        result: dict[str, Any] = {
            "userAgent": self._config.user_agent,
            "codexHome": os.environ.get("CODEX_HOME", "") if codex_home is None else codex_home,
            "platformFamily": "windows" if os.name == "nt" else "unix",
            "platformOs": "macos" if sys.platform == "darwin" else sys.platform,
        }
        if self._config.spawn_children:
            result["fakeChildPids"] = [child.pid for child in self._faults.children]
        if self._faults.detached is not None:
            result["fakeDetachedPid"] = self._faults.detached.pid
        self._output.reply(request_id, result)

    def _echo(self, request_id: RequestId, params: Any) -> None:
        self._output.reply(request_id, params)

    def _thread_start(self, request_id: RequestId, params: Any) -> None:
        params_object(params)
        thread_id = f"thr_{self._next('thread')}"
        with self._lock:
            self._threads.add(thread_id)
        thread = {"id": thread_id, "status": {"type": "idle"}, "turns": []}
        self._output.reply(request_id, {"thread": thread, "model": "fake-model"})

    def _turn_start(self, request_id: RequestId, params: Any) -> None:
        params = params_object(params)
        thread_id = params.get("threadId")
        if not isinstance(thread_id, str):
            raise invalid("`threadId` must be a string")
        with self._lock:
            known = thread_id in self._threads
        if not known:
            raise invalid(f"thread not found: {thread_id}")
        items = params.get("input", [])
        if not isinstance(items, list):
            raise invalid("`input` must be a list")
        text = "".join(
            item["text"]
            for item in items
            if isinstance(item, dict)
            and item.get("type") == "text"
            and isinstance(item.get("text"), str)
        )
        deltas = int_param(params, "deltas", 3)
        turn_id = f"turn_{self._next('turn')}"
        item_id = f"item_{self._next('item')}"
        self._output.reply(
            request_id, {"turn": {"id": turn_id, "status": "inProgress", "items": []}}
        )
        where = {"threadId": thread_id, "turnId": turn_id}
        started = {"id": turn_id, "status": "inProgress", "items": []}
        item = {"type": "agentMessage", "id": item_id, "text": text}
        lines = [
            notification("turn/started", {"threadId": thread_id, "turn": started}),
            notification("item/started", {**where, "item": {**item, "text": ""}}),
            *(
                notification("item/agentMessage/delta", {**where, "itemId": item_id, "delta": d})
                for d in _split_text(text, deltas)
            ),
            notification("item/completed", {**where, "item": item}),
            notification(
                "turn/completed",
                {
                    "threadId": thread_id,
                    "turn": {"id": turn_id, "status": "completed", "items": [item]},
                },
            ),
        ]
        self._output.write(b"".join(lines))

    def _fake_notify(self, request_id: RequestId, params: Any) -> None:
        params = params_object(params)
        count = int_param(params, "count", 1)
        pad = "x" * int_param(params, "size", 0)
        batch: list[bytes] = []
        for n in range(count):
            batch.append(notification("fake/tick", {"n": n, "pad": pad}))
            if len(batch) >= 256:
                self._output.write(b"".join(batch))
                batch.clear()
        if batch:
            self._output.write(b"".join(batch))
        self._output.reply(request_id, {"sent": count})

    def _fake_server_request(self, request_id: RequestId, params: Any) -> None:
        params = params_object(params)
        method = params.get("method")
        if not isinstance(method, str):
            raise invalid("`method` must be a string")
        with self._lock:
            server_request_id = self._next_server_request_id
            self._next_server_request_id += 1
            self._pending_server_requests.add(server_request_id)
        request: dict[str, Any] = {"id": server_request_id, "method": method}
        if params.get("params") is not None:
            request["params"] = params["params"]
        self._output.write(
            encode(request) + encode({"id": request_id, "result": {"requestId": server_request_id}})
        )

    def _fake_exit(self, request_id: RequestId, params: Any) -> None:
        code = int_param(params_object(params), "code", 0)
        if code > 255:
            raise invalid(f"`code` must be in 0..255, got {code}")
        self._output.reply(request_id, {})
        self._output.log(f"exiting with code {code} as asked")
        self._output.exit(code)


def _split_text(text: str, parts: int) -> list[str]:
    return [text[len(text) * i // parts : len(text) * (i + 1) // parts] for i in range(parts)]
