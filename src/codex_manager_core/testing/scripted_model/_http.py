"""ScriptedModel's HTTP/1.1, on h11: read one request at a time, answer it, maybe stream.

h11 does the protocol (request and header syntax, Content-Length and chunked framing,
keep-alive and pipelining, `Expect: 100-continue`, HTTP/1.0 close-delimited answers); this
module adds what h11 leaves to its user: socket I/O through anyio (so it runs under asyncio
and trio, with no thread), size bounds, the checks a Responses-API stand-in wants on top of
h11's (origin-form targets, HTTP/1.x only, no Transfer-Encoding *and* Content-Length), gzip
and deflate request bodies, and noticing a client that goes away while it is being answered.

Deliberate misbehaviour (a cut stream, a stall) needs nothing from h11: the server simply
stops sending, or closes the socket, in the middle of a body.
"""

from __future__ import annotations

import http
import json
import re
import zlib
from collections.abc import Iterable
from typing import Final

import anyio
import anyio.abc
import attrs
import h11

MAX_HEAD_BYTES: Final = 64 * 1024
MAX_BODY_BYTES: Final = 64 * 1024 * 1024
#: Bytes read per receive while a request head is awaited. h11 bounds an incomplete head
#: only when it asks for more data, so small reads make the 64 KiB bound exact to 1 KiB
#: (one large read could hold a whole 100 KiB head and slip past the check).
_HEAD_READ_SIZE: Final = 1024
_BODY_READ_SIZE: Final = 64 * 1024
_DISCONNECTS: Final = (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError)


class PeerClosed(Exception):
    """The client closed (or reset) the connection."""


class BadRequest(Exception):
    """A request we cannot or will not serve; answered with `status`, then the connection is
    closed because its framing can no longer be trusted."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@attrs.frozen
class HttpRequest:
    """One complete request: lower-cased header names (repeats joined with ", ") and the
    body as received (still content-encoded; see `decode_body`)."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    keep_alive: bool

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


def is_disconnect(exc: BaseException) -> bool:
    """Whether `exc` (possibly a group, from a task group) only says the client went away."""
    if isinstance(exc, BaseExceptionGroup):
        return all(is_disconnect(inner) for inner in exc.exceptions)
    return isinstance(exc, PeerClosed | anyio.BrokenResourceError | anyio.ClosedResourceError)


class HttpConnection:
    """One accepted connection: an h11 state machine fed from an anyio byte stream.

    One task reads requests and sends answers; while an answer is being sent,
    `watch_for_disconnect` may run beside it in another task (h11 keeps what it reads for
    the next request, which is how pipelined requests wait their turn).
    """

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self._stream = stream
        self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        self.peer_closed = False

    # ------------------------------------------------------------------ reading

    async def _receive(self) -> None:
        reading_head = self._h11.their_state is h11.IDLE
        try:
            data = await self._stream.receive(_HEAD_READ_SIZE if reading_head else _BODY_READ_SIZE)
        except _DISCONNECTS:
            self.peer_closed = True
            data = b""
        self._h11.receive_data(data)

    async def _next_event(self) -> h11.Event | type[h11.NEED_DATA] | type[h11.PAUSED]:
        while True:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                if self.peer_closed:  # a request cut short by the client hanging up
                    raise PeerClosed from None
                if exc.error_status_hint == 431:
                    raise BadRequest(431, "the request head is larger than 64 KiB") from None
                raise BadRequest(exc.error_status_hint, _describe(exc)) from None
            if event is h11.NEED_DATA:
                await self._receive()
                continue
            return event

    async def read_request(self) -> HttpRequest | None:
        """The next request, or None when the client closed the connection between requests.
        Raises `BadRequest` for malformed input and `PeerClosed` for a truncated request."""
        event = await self._next_event()
        if isinstance(event, h11.ConnectionClosed):
            return None
        if not isinstance(event, h11.Request):  # h11 yields a Request first, or raises
            raise BadRequest(400, f"malformed request: unexpected {event!r}")
        method = event.method.decode("ascii")
        target = event.target.decode("ascii")
        headers: dict[str, str] = {}
        for name, value in event.headers:
            key, text = name.decode("latin-1"), value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        self._check_head(event, target, headers)
        body = await self._read_body(headers)
        # h11 decides keep-alive (HTTP/1.1 without `Connection: close`): a client that wants
        # the connection closed after this exchange ends in MUST_CLOSE, not DONE.
        keep_alive = self._h11.their_state is h11.DONE
        return HttpRequest(method, target, headers, body, keep_alive)

    def _check_head(self, request: h11.Request, target: str, headers: dict[str, str]) -> None:
        """What h11 accepts but a Responses-API endpoint should refuse."""
        if request.http_version not in (b"1.1", b"1.0"):
            version = request.http_version.decode("ascii")
            raise BadRequest(400, f"unsupported HTTP version 'HTTP/{version}'")
        if not target.startswith("/"):
            raise BadRequest(400, f"malformed request target {target[:100]!r}")
        if "transfer-encoding" in headers and "content-length" in headers:
            # RFC 9112 6.3 lets a server refuse this outright (a request-smuggling pattern).
            raise BadRequest(400, "a request cannot have both Transfer-Encoding and Content-Length")
        size = int(headers.get("content-length", "0"))  # h11 checked its syntax
        if size > MAX_BODY_BYTES:
            raise BadRequest(413, f"request body of {size} bytes is larger than 64 MiB")

    async def _read_body(self, headers: dict[str, str]) -> bytes:
        if self._h11.they_are_waiting_for_100_continue and (
            "transfer-encoding" in headers or headers.get("content-length", "0") != "0"
        ):
            await self._send(h11.InformationalResponse(status_code=100, headers=[]))
        body = bytearray()
        while True:
            event = await self._next_event()
            if isinstance(event, h11.EndOfMessage):
                return bytes(body)
            if isinstance(event, h11.Data):
                body += event.data
                if len(body) > MAX_BODY_BYTES:
                    raise BadRequest(413, "chunked request body is larger than 64 MiB")
            else:
                raise BadRequest(400, f"malformed request: unexpected {event!r}")

    async def watch_for_disconnect(self, scope: anyio.CancelScope) -> None:
        """Read (and keep, for the next request) whatever the client sends while we answer;
        cancel `scope` once it closes the connection, so a stall or a delay ends with it.
        A client that half-closes after its request therefore gets no answer: acceptable for
        a test double, and codex never does it."""
        received = 0
        try:
            while received <= MAX_HEAD_BYTES + MAX_BODY_BYTES:  # then stop reading: backpressure
                data = await self._stream.receive(_BODY_READ_SIZE)
                received += len(data)
                self._h11.receive_data(data)
        except _DISCONNECTS:
            self.peer_closed = True
            scope.cancel()

    # ------------------------------------------------------------------ writing

    async def _send(self, *events: h11.Event) -> None:
        data = b"".join(self._h11.send(event) or b"" for event in events)
        await self._stream.send(data)

    @property
    def can_respond(self) -> bool:
        """Whether no answer has been started to the current request yet."""
        return self._h11.our_state in (h11.IDLE, h11.SEND_RESPONSE)

    async def send_simple(
        self,
        status: int,
        body: str,
        *,
        keep_alive: bool,
        extra_headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        """A complete answer with a text (or, when it parses, JSON) body."""
        payload = body.encode("utf-8")
        content_type = "text/plain; charset=utf-8"
        try:
            json.loads(body)
        except ValueError:
            pass
        else:
            content_type = "application/json"
        headers = [
            ("content-type", content_type),
            ("content-length", str(len(payload))),
            ("connection", "keep-alive" if keep_alive else "close"),
            *extra_headers,
        ]
        await self._send(
            h11.Response(status_code=status, headers=headers, reason=_reason(status)),
            h11.Data(data=payload),
            h11.EndOfMessage(),
        )

    async def start_stream(self, *, keep_alive: bool) -> None:
        """Begin a `text/event-stream` answer. h11 frames it: chunked on HTTP/1.1 (so the
        connection can be reused), delimited by closing the connection on HTTP/1.0."""
        headers = [
            ("content-type", "text/event-stream"),
            ("cache-control", "no-cache"),
            ("connection", "keep-alive" if keep_alive else "close"),
        ]
        await self._send(h11.Response(status_code=200, headers=headers, reason=b"OK"))

    async def send_body(self, data: bytes) -> None:
        await self._send(h11.Data(data=data))

    async def end_body(self) -> None:
        await self._send(h11.EndOfMessage())

    def next_cycle(self) -> bool:
        """After an answer: get ready for the next request on this connection if both sides
        allow it (a complete exchange, keep-alive, the client still there)."""
        if self.peer_closed or self._h11.our_state is not h11.DONE:
            return False
        if self._h11.their_state is not h11.DONE:
            return False
        self._h11.start_next_cycle()
        return True


def _describe(exc: h11.RemoteProtocolError) -> str:
    """h11's message, with the offending bytes shown as bytes (it quotes its bytearray)."""
    return "malformed request: " + re.sub(r"bytearray\((b['\"].*?['\"])\)", r"\1", str(exc))


def _reason(status: int) -> bytes:
    try:
        return http.HTTPStatus(status).phrase.encode("ascii")
    except ValueError:
        return b"Error"


# --------------------------------------------------------------- content encoding


def decode_body(body: bytes, content_encoding: str | None) -> bytes:
    """Undo a gzip/deflate Content-Encoding. Raises ValueError with a message for people."""
    codings = [c.strip().lower() for c in (content_encoding or "").split(",") if c.strip()]
    for coding in reversed(codings):
        if coding == "identity":
            continue
        if coding in ("gzip", "x-gzip"):
            body = _inflate(body, 16 + zlib.MAX_WBITS, coding)
        elif coding == "deflate":
            try:
                body = _inflate(body, zlib.MAX_WBITS, coding)
            except ValueError:  # some clients send raw deflate without the zlib wrapper
                body = _inflate(body, -zlib.MAX_WBITS, coding)
        else:
            raise ValueError(
                f"the request body is compressed with Content-Encoding {coding!r}, which "
                "ScriptedModel cannot decode (it decodes gzip and deflate only); turn request "
                "compression off in the client (codex: features.enable_request_compression = "
                "false)"
            )
    return body


def _inflate(data: bytes, wbits: int, coding: str) -> bytes:
    decompressor = zlib.decompressobj(wbits)
    try:
        result = decompressor.decompress(data, MAX_BODY_BYTES + 1)
    except zlib.error as exc:
        raise ValueError(f"the {coding} request body is corrupt: {exc}") from None
    if len(result) > MAX_BODY_BYTES:
        raise ValueError(f"the {coding} request body inflates to more than 64 MiB")
    if not decompressor.eof:
        raise ValueError(f"the {coding} request body is truncated")
    return result
