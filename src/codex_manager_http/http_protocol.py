"""uvicorn's HTTP protocol with a request-header timeout and a connection bound that covers
WebSockets and answers in the API's error shape.

Why: uvicorn (0.55) has no timeout for a request's headers. Its keep-alive timeout starts
only after a response, so a connection that sends nothing, or half a request line, stays
open for ever; 500 such connections were seen holding the server's sockets. Its
`limit_concurrency` answers a bare `503 Service Unavailable` to a request over the bound,
and lets WebSocket upgrades through unchecked.

`GuardedHttpProtocol` subclasses uvicorn's httptools protocol:

- a timer starts when a connection opens, and when a request begins on a kept-alive one; it
  stops when the request's headers are complete; when it fires, the connection gets `408`
  and is closed;
- a request or a WebSocket upgrade that arrives while `max_connections` other connections
  are open (or as many requests are running) gets `503 too_many_connections`.

`ServerConfig` is uvicorn's Config plus these two settings, which the protocol reads.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from codex_manager_http.asgi import Receive, Scope, Send, error_json
from codex_manager_http.settings import DEFAULT_HEADER_TIMEOUT, DEFAULT_MAX_CONNECTIONS

logger = logging.getLogger("codex_manager_http.server")


def _raw_response(status: int, reason: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


def _too_many(limit: int) -> bytes:
    return error_json(
        "too_many_connections",
        f"the server has its limit of {limit} connections open; retry shortly (the limit "
        "is --max-connections / CODEX_MANAGER_MAX_CONNECTIONS)",
    )


class ServerConfig(uvicorn.Config):
    """uvicorn's Config, serving with `GuardedHttpProtocol` and its two settings."""

    def __init__(
        self,
        app: Any,
        *,
        header_timeout: float = DEFAULT_HEADER_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        **kwargs: Any,
    ) -> None:
        super().__init__(app, http=GuardedHttpProtocol, **kwargs)
        self.header_timeout = header_timeout
        self.max_connections = max_connections


class GuardedHttpProtocol(HttpToolsProtocol):
    """See the module's docstring."""

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.header_timeout: float = getattr(config, "header_timeout", DEFAULT_HEADER_TIMEOUT)
        self.max_connections: int = getattr(config, "max_connections", DEFAULT_MAX_CONNECTIONS)
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(  # type: ignore[override]
        self, transport: asyncio.Transport
    ) -> None:
        super().connection_made(transport)
        self._start_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._start_header_timer()  # the next request on a kept-alive connection

    def on_headers_complete(self) -> None:
        self._stop_header_timer()
        upgrading = self.parser.should_upgrade() and self._should_upgrade()
        if upgrading or not self._over_limit():
            super().on_headers_complete()
            return
        # uvicorn runs `self.app` for the request it builds here: make that the refusal.
        app, self.app = self.app, self._refusal
        try:
            super().on_headers_complete()
        finally:
            self.app = app

    def handle_websocket_upgrade(self) -> None:
        if self._over_limit():
            self.transport.write(
                _raw_response(503, "Service Unavailable", _too_many(self.max_connections))
            )
            self.transport.close()
            return
        super().handle_websocket_upgrade()

    def _over_limit(self) -> bool:
        # `connections` includes this one; `tasks` are the requests running.
        over = (
            len(self.connections) > self.max_connections or len(self.tasks) >= self.max_connections
        )
        if over:
            logger.warning(
                "refused a request: %d connections open, %d requests running (limit %d)",
                len(self.connections) - 1,
                len(self.tasks),
                self.max_connections,
            )
        return over

    async def _refusal(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = _too_many(self.max_connections)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(body)),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _start_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._headers_late)

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        logger.info(
            "closed the connection from %s: no complete request headers within %g s",
            client,
            self.header_timeout,
        )
        body = error_json(
            "request_timeout",
            f"the request's headers did not arrive within {self.header_timeout:g} s",
        )
        self.transport.write(_raw_response(408, "Request Timeout", body))
        self.transport.close()
