"""Loose ASGI types for our raw middlewares (Litestar's TypedDicts are too strict for code
that handles HTTP and WebSocket scopes in one function), and the error body they send."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, TypeAlias

Scope: TypeAlias = MutableMapping[str, Any]
Message: TypeAlias = MutableMapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[Message]]
Send: TypeAlias = Callable[[Message], Awaitable[None]]
ASGIApp: TypeAlias = Callable[[Scope, Receive, Send], Awaitable[None]]


def error_json(code: str, message: str) -> bytes:
    """The API's error body `{status: "error", code, message}`, for answers given below
    Litestar (errors.py shapes the ones handlers give)."""
    return json.dumps({"status": "error", "code": code, "message": message}).encode()
