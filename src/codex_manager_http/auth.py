"""Bearer-token authentication for every route and the WebSocket.

A plain ASGI middleware (it runs on every request, so it stays small): when a token is
configured, `Authorization: Bearer <token>` must match it (compared in constant time); the
WebSocket also accepts `?token=<token>`, because browsers cannot set headers on it.
Unauthenticated requests get 401 before any handler or body parsing runs.
"""

from __future__ import annotations

import hmac
from typing import Any
from urllib.parse import parse_qsl

from codex_manager_http.asgi import ASGIApp, Receive, Scope, Send, error_json

_UNAUTHORIZED = error_json(
    "auth_required",
    "this server requires a bearer token: send 'Authorization: Bearer <token>'"
    " (WebSocket: the header or ?token=<token>)",
)
_HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(_UNAUTHORIZED)).encode()),
    (b"www-authenticate", b'Bearer realm="codex-manager"'),
]


def _bearer(scope: Scope) -> bytes | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, credentials = value.partition(b" ")
            if scheme.lower() == b"bearer":
                return bytes(credentials).strip()
    return None


def _query_token(scope: Scope) -> bytes | None:
    query = bytes(scope.get("query_string", b""))
    if b"token=" not in query:
        return None
    for key, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if key == "token":
            return value.encode()
    return None


def token_middleware(token: str) -> Any:
    """A Litestar middleware factory requiring `token` on HTTP and WebSocket."""
    expected = token.encode()

    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            kind = scope["type"]
            if kind not in ("http", "websocket"):
                await app(scope, receive, send)
                return
            offered = _bearer(scope)
            if offered is None and kind == "websocket":
                offered = _query_token(scope)
            if offered is not None and hmac.compare_digest(offered, expected):
                await app(scope, receive, send)
                return
            if kind == "http":
                await send({"type": "http.response.start", "status": 401, "headers": _HEADERS})
                await send({"type": "http.response.body", "body": _UNAUTHORIZED})
                return
            # WebSocket: answer the handshake with a real HTTP 401 where the server supports
            # it (ASGI websocket.http.response), else refuse the upgrade.
            if "websocket.http.response" in (scope.get("extensions") or {}):
                await send(
                    {"type": "websocket.http.response.start", "status": 401, "headers": _HEADERS}
                )
                await send({"type": "websocket.http.response.body", "body": _UNAUTHORIZED})
            else:
                await send({"type": "websocket.close", "code": 4401, "reason": "auth_required"})

        return middleware

    return factory
