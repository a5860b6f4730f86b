"""The fake's side of the app-server stdio protocol: one JSON object per line, no
`"jsonrpc"` field, notifications carrying `emittedAtMs` (see shared/runtime-notes.md).

Encoding, the JSON-RPC error the method handlers raise, and the parameter checks they share.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any, Final, TypeAlias

from codex_manager_core.testing.fake_app_server._config import is_int

PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
SERVER_OVERLOADED: Final = -32001
OVERLOADED_MESSAGE: Final = "Server overloaded; retry later."

RequestId: TypeAlias = int | str


class RpcError(Exception):
    """A JSON-RPC error answer, raised by a method handler and sent by the server."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def invalid(detail: str) -> RpcError:
    return RpcError(INVALID_REQUEST, f"Invalid request: {detail}")


def params_object(params: Any) -> dict[str, Any]:
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise invalid("params must be an object")
    return params


def int_param(params: Mapping[str, Any], name: str, default: int, minimum: int = 0) -> int:
    value = params.get(name, default)
    if not is_int(value) or value < minimum:
        raise invalid(f"`{name}` must be an integer >= {minimum}, got {value!r}")
    return int(value)


def is_request_id(value: object) -> bool:
    return isinstance(value, str) or is_int(value)


def now_ms() -> int:
    return int(time.time() * 1000)


def encode(message: Mapping[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def notification(method: str, params: Any) -> bytes:
    return encode({"method": method, "params": params, "emittedAtMs": now_ms()})
