"""Sans-IO JSON-RPC over newline-delimited JSON, as `codex app-server` speaks it on stdio.

`JsonRpcConnection` is a state machine in the style of h11: the caller feeds it the bytes it
read (`receive_data`) and gets typed events back; it asks it for the bytes of outgoing
messages (`send_request`, `send_notification`, `send_result`, `send_error`) and writes them
itself. Nothing here performs I/O or awaits, so it runs under any event loop and is tested
exhaustively without a process.

Framing rules (what app-server does, observed in shared/runtime-notes.md):
- one JSON object per line; `"jsonrpc"` is optional both ways;
- `method` + `id` is a server request, `id` alone a response, `method` alone a notification;
- a line that is not valid JSON, not an object, of no known shape, or longer than
  `max_line_bytes` becomes a `ProtocolError` event and is skipped: the stream continues.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final, TypeAlias

import attrs

RequestId: TypeAlias = int | str

#: Lines longer than this (without their newline) are dropped as a protocol error.
DEFAULT_MAX_LINE_BYTES: Final = 16 * 1024 * 1024
#: How much of an offending line a ProtocolError keeps, for logs and diagnostics.
PREVIEW_BYTES: Final = 200

# JSON-RPC error codes we send or interpret.
PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602
INTERNAL_ERROR: Final = -32603
SERVER_OVERLOADED: Final = -32001


@attrs.frozen(slots=True)
class Response:
    """A successful answer to one of our requests."""

    id: RequestId
    result: Any
    method: str
    """The method of the request this answers (from our own bookkeeping)."""


@attrs.frozen(slots=True)
class ErrorResponse:
    """An error answer to one of our requests."""

    id: RequestId
    code: int
    message: str
    data: Any
    method: str


@attrs.frozen(slots=True)
class Notification:
    """A notification from the peer. `message` is the whole decoded object, kept for raw
    pass-through (app-server adds fields such as `emittedAtMs` beside `method`/`params`)."""

    method: str
    params: Any
    message: Mapping[str, Any]


@attrs.frozen(slots=True)
class ServerRequest:
    """A request the peer sent us; it expects exactly one reply with the same id."""

    id: RequestId
    method: str
    params: Any


@attrs.frozen(slots=True)
class ProtocolError:
    """A line we could not use. It was skipped; the stream goes on."""

    reason: str
    preview: bytes


Event: TypeAlias = Response | ErrorResponse | Notification | ServerRequest | ProtocolError


def encode_message(message: Mapping[str, Any]) -> bytes:
    """One JSON object as one line (compact, UTF-8, newline-terminated)."""
    # allow_nan=False: NaN and Infinity are not JSON; the peer would reject the whole line.
    data = json.dumps(message, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return data.encode() + b"\n"


class JsonRpcConnection:
    """One side of a JSON-RPC conversation: framing, parsing and request-id correlation."""

    def __init__(self, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        if max_line_bytes <= 0:
            raise ValueError(f"max_line_bytes must be positive, got {max_line_bytes}")
        self.max_line_bytes = max_line_bytes
        self._buffer = bytearray()
        # True while we skip the rest of an oversized line up to its newline.
        self._discarding = False
        self._next_id = 0
        self._pending: dict[RequestId, str] = {}

    # ----------------------------------------------------------------- outgoing

    def send_request(self, method: str, params: Any = None) -> tuple[int, bytes]:
        """Allocate an id for a request and return it with the line to write."""
        request_id = self._next_id
        self._next_id += 1
        message: dict[str, Any] = {"id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        data = encode_message(message)
        self._pending[request_id] = method
        return request_id, data

    def send_notification(self, method: str, params: Any = None) -> bytes:
        message: dict[str, Any] = {"method": method}
        if params is not None:
            message["params"] = params
        return encode_message(message)

    def send_result(self, request_id: RequestId, result: Any) -> bytes:
        """The reply to a `ServerRequest`."""
        return encode_message({"id": request_id, "result": result})

    def send_error(self, request_id: RequestId, code: int, message: str, data: Any = None) -> bytes:
        """An error reply to a `ServerRequest`."""
        error: dict[str, Any] = {"code": code, "message": message}
        if data is not None:
            error["data"] = data
        return encode_message({"id": request_id, "error": error})

    def forget(self, request_id: RequestId) -> None:
        """Stop expecting an answer (the caller gave up). A late answer becomes a ProtocolError."""
        self._pending.pop(request_id, None)

    @property
    def pending(self) -> Mapping[RequestId, str]:
        """Ids of our requests still awaiting an answer, with their methods."""
        return self._pending

    # ----------------------------------------------------------------- incoming

    def receive_data(self, data: bytes) -> list[Event]:
        """Feed bytes read from the peer; return the events of every line they complete."""
        events: list[Event] = []
        buffer = self._buffer
        start = len(buffer)
        buffer += data
        while True:
            newline = buffer.find(b"\n", start)
            if newline < 0:
                break
            if self._discarding:
                self._discarding = False
            else:
                if newline > self.max_line_bytes:
                    preview = bytes(buffer[: min(newline, PREVIEW_BYTES)])
                    events.append(self._oversized(preview, newline))
                else:
                    event = self._parse_line(bytes(buffer[:newline]))
                    if event is not None:
                        events.append(event)
            del buffer[: newline + 1]
            start = 0
        if len(buffer) > self.max_line_bytes:
            if not self._discarding:
                events.append(self._oversized(bytes(buffer[:PREVIEW_BYTES]), len(buffer)))
                self._discarding = True
            buffer.clear()
        return events

    def receive_eof(self) -> list[Event]:
        """The peer closed its side: a final line without a newline still counts."""
        if self._discarding or not self._buffer:
            self._buffer.clear()
            self._discarding = False
            return []
        line = bytes(self._buffer)
        self._buffer.clear()
        event = self._parse_line(line)
        return [] if event is None else [event]

    def _oversized(self, preview: bytes, size: int) -> ProtocolError:
        return ProtocolError(
            f"line of at least {size} bytes exceeds the limit of {self.max_line_bytes} bytes",
            preview,
        )

    def _parse_line(self, line: bytes) -> Event | None:
        line = line.strip()
        if not line:
            return None
        try:
            message = json.loads(line)
        except (ValueError, RecursionError) as exc:
            return ProtocolError(f"invalid JSON: {exc}", line[:PREVIEW_BYTES])
        if not isinstance(message, dict):
            return ProtocolError(
                f"expected a JSON object, got {type(message).__name__}", line[:PREVIEW_BYTES]
            )
        return self._classify(message, line)

    def _classify(self, message: dict[str, Any], line: bytes) -> Event:
        method = message.get("method")
        has_id = "id" in message
        request_id = message.get("id")
        if has_id and not _is_request_id(request_id):
            return ProtocolError(
                f"invalid id {request_id!r}: must be an integer or a string", line[:PREVIEW_BYTES]
            )
        if method is not None:
            if not isinstance(method, str) or not method:
                return ProtocolError(
                    f"invalid method {method!r}: must be a non-empty string", line[:PREVIEW_BYTES]
                )
            params = message.get("params")
            if has_id:
                assert request_id is not None  # checked by _is_request_id
                return ServerRequest(request_id, method, params)
            return Notification(method, params, message)
        if not has_id:
            return ProtocolError("message has neither a method nor an id", line[:PREVIEW_BYTES])
        assert request_id is not None
        our_method = self._pending.pop(request_id, None)
        if our_method is None:
            return ProtocolError(
                f"answer to unknown or abandoned request id {request_id!r}", line[:PREVIEW_BYTES]
            )
        if "error" in message:
            error = message["error"]
            if not isinstance(error, dict):
                return ErrorResponse(request_id, INTERNAL_ERROR, repr(error), None, our_method)
            code = error.get("code")
            text = error.get("message")
            return ErrorResponse(
                request_id,
                code if isinstance(code, int) and not isinstance(code, bool) else INTERNAL_ERROR,
                text if isinstance(text, str) else repr(text),
                error.get("data"),
                our_method,
            )
        if "result" not in message:
            # Put it back: the answer is malformed, the call itself may still be answered.
            self._pending[request_id] = our_method
            return ProtocolError(
                f"answer to request {request_id!r} has neither result nor error",
                line[:PREVIEW_BYTES],
            )
        return Response(request_id, message["result"], our_method)


def _is_request_id(value: object) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or isinstance(value, str)
