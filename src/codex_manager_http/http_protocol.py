"""uvicorn's HTTP protocol with a request-header timeout and a bound on WebSocket upgrades.

Why: uvicorn (0.55) has no timeout for a request's headers. Its keep-alive timeout starts
only after a response, so a connection that sends nothing, or half a request line, stays
open for ever; 500 such connections were seen holding the server's sockets. Its
`limit_concurrency` answers 503 to a request over the bound, but a WebSocket upgrade skips
that check.

`HeaderTimeoutProtocol` subclasses uvicorn's httptools protocol: a timer starts when a
connection opens and when a request begins on a kept-alive connection, stops when the
request's headers are complete, and when it fires the connection gets `408` and is closed.
An upgrade to WebSocket while the server holds `limit_concurrency` connections gets `503`.
`ServerConfig` is uvicorn's Config plus the timeout, which the protocol reads.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from codex_manager_http.settings import DEFAULT_HEADER_TIMEOUT

logger = logging.getLogger("codex_manager_http.server")


def _raw_response(status: int, reason: str, code: str, message: str) -> bytes:
    body = json.dumps({"status": "error", "code": code, "message": message}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


class ServerConfig(uvicorn.Config):
    """uvicorn's Config, serving with `HeaderTimeoutProtocol` and its `header_timeout`."""

    def __init__(
        self, app: Any, *, header_timeout: float = DEFAULT_HEADER_TIMEOUT, **kwargs: Any
    ) -> None:
        super().__init__(app, http=HeaderTimeoutProtocol, **kwargs)
        self.header_timeout = header_timeout


class HeaderTimeoutProtocol(HttpToolsProtocol):
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
        super().on_headers_complete()

    def handle_websocket_upgrade(self) -> None:
        # uvicorn checks `limit_concurrency` for plain requests only (the same way: this
        # connection counts).
        if self.limit_concurrency is not None and len(self.connections) >= self.limit_concurrency:
            logger.warning(
                "refused a WebSocket: %d connections open (limit %d)",
                len(self.connections),
                self.limit_concurrency,
            )
            self._close_with(
                _raw_response(
                    503,
                    "Service Unavailable",
                    "too_many_connections",
                    f"the server holds its limit of {self.limit_concurrency} connections; "
                    "retry later (the limit is CODEX_MANAGER_MAX_CONNECTIONS)",
                )
            )
            return
        super().handle_websocket_upgrade()

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
        self._close_with(
            _raw_response(
                408,
                "Request Timeout",
                "request_timeout",
                f"the request's headers did not arrive within {self.header_timeout:g} s",
            )
        )

    def _close_with(self, response: bytes) -> None:
        self.transport.write(response)
        self.transport.close()
