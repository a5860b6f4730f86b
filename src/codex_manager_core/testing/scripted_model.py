"""A scripted stand-in for the OpenAI Responses API, for running the real `codex` offline.

`ScriptedModel` is a tiny HTTP/1.1 server on 127.0.0.1 (an ephemeral port) that answers
`POST /v1/responses` with Server-Sent Events, exactly the way `codex app-server` expects a
model provider with `wire_api = "responses"` to answer (see shared/runtime-notes.md). Each
request consumes one *step* of a script, so a test decides, request by request, whether the
"model" replies with text, calls a tool, fails, cuts the stream or hangs::

    async with ScriptedModel([Reply("Hello", chunks=3), CallTool("lookup", {"key": "a"}),
                              Reply("done")]) as model:
        write_offline_config(codex_home, base_url=model.base_url)
        ...  # drive codex
        await model.wait_for_requests(3, timeout=10)
        assert model.requests[2].output_for(...) == "..."
        assert model.errors == []

The script can also be a function of the request, which makes echo-style models trivial:
`ScriptedModel(lambda request: Reply(f"echo: {request.last_user_text}"))`.

Why a hand-written server rather than a web framework: it has to run under asyncio *and*
trio (the manager supports both through anyio), start in about a millisecond, never spawn
threads, and misbehave on purpose (cut a chunked body half-way, stall forever), which
frameworks make hard. It is still a correct HTTP/1.1 server for the part it speaks:
keep-alive, chunked request bodies, `Expect: 100-continue`, gzip/deflate request bodies,
and one bad connection never affects the others.

What codex 0.163 sends (measured): `POST /v1/responses` over HTTP/1.1 with a plain JSON body
and a Content-Length (no Content-Encoding, although its `enable_request_compression` feature
is on by default: it does not apply to this kind of provider), headers such as `session-id`, `thread-id`, `originator`,
`x-client-request-id` and `x-codex-turn-metadata`, and a new connection for every request,
even within one turn, which it closes after the answer (or on interrupt).
"""

from __future__ import annotations

import http
import inspect
import itertools
import json
import math
import re
import secrets
import zlib
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Final, TypeAlias

import anyio
import anyio.abc
import attrs

__all__ = [
    "CallTool",
    "CutStream",
    "Delay",
    "Fail",
    "FailResponse",
    "RecordedRequest",
    "Reply",
    "ScriptFunction",
    "ScriptedModel",
    "Stall",
    "Step",
    "exec_command",
]

#: The path codex POSTs to: `{base_url}/responses` with `base_url` ending in `/v1`.
RESPONSES_PATH: Final = "/v1/responses"
#: The token usage every completed response reports (what runtime-notes shows).
USAGE: Final[Mapping[str, Any]] = {
    "input_tokens": 10,
    "input_tokens_details": None,
    "output_tokens": 5,
    "output_tokens_details": None,
    "total_tokens": 15,
}

_MAX_HEAD_BYTES: Final = 64 * 1024
_MAX_BODY_BYTES: Final = 64 * 1024 * 1024
_MAX_CHUNK_LINE_BYTES: Final = 4 * 1024
_READ_SIZE: Final = 64 * 1024
_TOKEN_RE: Final = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEX_RE: Final = re.compile(rb"[0-9A-Fa-f]+")


def _non_negative(_instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not (value >= 0 and math.isfinite(value)):
        raise ValueError(f"{attribute.name} must be a finite number >= 0, got {value!r}")


def _encode_arguments(arguments: Mapping[str, Any] | str) -> str:
    """Tool arguments travel as a JSON *string*; a str is sent as is (even if not JSON, so
    tests can feed codex malformed arguments on purpose)."""
    if isinstance(arguments, str):
        return arguments
    if not isinstance(arguments, Mapping):
        raise TypeError(f"arguments must be a mapping or a JSON string, got {arguments!r}")
    return json.dumps(dict(arguments))


# ------------------------------------------------------------------------------- steps


@attrs.frozen
class Reply:
    """Answer with an assistant message.

    Streams `response.created`, `response.output_item.added` (the message), `chunks`
    `response.output_text.delta` events that together spell `text` (split evenly, at most one
    per character, none for an empty text), `response.output_item.done` with the full text,
    and `response.completed` with usage. `delay` seconds pass between two deltas, to make the
    streaming observable.
    """

    text: str
    chunks: int = attrs.field(default=1, validator=attrs.validators.ge(1))
    delay: float = attrs.field(default=0.0, validator=_non_negative)


@attrs.frozen
class CallTool:
    """Ask codex to call a function tool (a built-in such as `exec_command` or a dynamic
    tool declared on `thread/start`).

    Streams `response.created`, `response.output_item.added` and `response.output_item.done`
    for a `function_call` item, then `response.completed`. `arguments` is JSON-encoded when it
    is a mapping; a str is sent verbatim. Without a `call_id`, the server makes one up that is
    unique per server (and random across servers); codex then answers with a
    `function_call_output` for it in its next request (see `RecordedRequest.output_for`).
    """

    name: str
    arguments: str = attrs.field(default="{}", converter=_encode_arguments)
    call_id: str | None = None


@attrs.frozen
class Fail:
    """Answer with a plain HTTP error (codex reports an `error` and fails the turn)."""

    status: int = attrs.field(
        default=500, validator=[attrs.validators.ge(400), attrs.validators.le(599)]
    )
    body: str = "scripted failure"


@attrs.frozen
class FailResponse:
    """Start a stream, then report `response.failed` (codex fails the turn)."""

    message: str = "scripted failure"
    code: str = "server_error"


@attrs.frozen
class CutStream:
    """Start a reply, stream `text` (if any) and drop the connection without
    `response.completed`, like a network failure mid-answer."""

    text: str = "partial"


@attrs.frozen
class Stall:
    """Start a reply (streaming `text` if any) and then hang: forever when `seconds` is None,
    else for that long before dropping the connection without completing.

    A stall ends early when the client disconnects (codex does so when a turn is interrupted)
    or when the server closes. Used to test interruption and timeouts.
    """

    text: str = ""
    seconds: float | None = attrs.field(
        default=None, validator=attrs.validators.optional(_non_negative)
    )


@attrs.frozen
class Delay:
    """Wait `seconds` before doing `step` (nothing is sent meanwhile, not even headers)."""

    seconds: float = attrs.field(validator=_non_negative)
    step: Step


Step: TypeAlias = Reply | CallTool | Fail | FailResponse | CutStream | Stall | Delay
_STEP_TYPES: Final = (Reply, CallTool, Fail, FailResponse, CutStream, Stall, Delay)


def exec_command(
    cmd: str,
    *,
    escalate: bool = True,
    justification: str = "The scripted model asks to run this command.",
    call_id: str | None = None,
) -> CallTool:
    """A call of codex's built-in `exec_command` tool that runs `cmd`.

    With `escalate` (the default) the call asks to leave the sandbox
    (`sandbox_permissions: "require_escalated"` plus `justification`), which is what makes
    codex send `item/commandExecution/requestApproval` under `approvalPolicy: "on-request"`.
    Without it, only `{"cmd": cmd}` is sent and codex runs the command in its sandbox.
    """
    arguments: dict[str, Any] = {"cmd": cmd}
    if escalate:
        arguments["sandbox_permissions"] = "require_escalated"
        arguments["justification"] = justification
    return CallTool("exec_command", arguments, call_id=call_id)


# ---------------------------------------------------------------------- recorded requests


def _text_of(content: Any) -> str:
    """The text of a content value: a str, or the `text` of each part of a list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


@attrs.frozen
class RecordedRequest:
    """One `POST /v1/responses` the server received, in the order they arrived.

    `headers` has lower-cased names (repeated headers joined with ", "); `body` is the parsed
    JSON object, after undoing any gzip/deflate content encoding. The properties read the
    parts of a Responses-API request that tests usually assert on.
    """

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def model(self) -> str | None:
        """The `model` slug codex asked for."""
        model = self.body.get("model")
        return model if isinstance(model, str) else None

    @property
    def tools(self) -> list[dict[str, Any]]:
        """The tool definitions sent with the request."""
        tools = self.body.get("tools")
        return [tool for tool in tools if isinstance(tool, dict)] if isinstance(tools, list) else []

    @property
    def tool_names(self) -> list[str]:
        """The name of each tool (its `type` for tools without a name, such as web search)."""
        return [str(tool.get("name") or tool.get("type") or "") for tool in self.tools]

    @property
    def input(self) -> list[dict[str, Any]]:
        """The `input` items: instructions, context, then the conversation so far."""
        items = self.body.get("input")
        return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []

    @property
    def last_user_text(self) -> str | None:
        """The text of the last input message with role `user` (its `input_text` parts
        joined), i.e. what the user typed for the current turn; None if there is none."""
        for item in reversed(self.input):
            if item.get("type", "message") == "message" and item.get("role") == "user":
                content = item.get("content")
                if isinstance(content, str):
                    return content
                if isinstance(content, list):
                    return "".join(
                        part["text"]
                        for part in content
                        if isinstance(part, dict)
                        and part.get("type") == "input_text"
                        and isinstance(part.get("text"), str)
                    )
                return ""
        return None

    @property
    def function_call_outputs(self) -> list[dict[str, Any]]:
        """The `function_call_output` items of `input`: the results of earlier tool calls."""
        return [item for item in self.input if item.get("type") == "function_call_output"]

    def output_for(self, call_id: str) -> str | None:
        """The output codex sent back for the tool call `call_id`, as text (the text parts
        joined when the output is a list of content items); None if it is not in `input`."""
        for item in reversed(self.function_call_outputs):
            if item.get("call_id") == call_id:
                return _text_of(item.get("output"))
        return None


ScriptFunction: TypeAlias = Callable[[RecordedRequest], Step | Awaitable[Step]]


# ------------------------------------------------------------------------------ HTTP layer


class _PeerClosed(Exception):
    """The client closed (or reset) the connection."""


class _BadRequest(Exception):
    """A request we cannot or will not parse; answered with `status`, then the connection is
    closed because its framing can no longer be trusted."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@attrs.frozen
class _HttpRequest:
    method: str
    target: str
    version: str
    headers: dict[str, str]
    body: bytes
    keep_alive: bool

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


class _Connection:
    """One accepted connection: a receive buffer shared by the request parser and, while a
    response is being sent, the task that watches for the client going away."""

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self.stream = stream
        self._buffer = bytearray()
        self.peer_closed = False

    async def _fill(self) -> None:
        if self.peer_closed:
            raise _PeerClosed
        try:
            data = await self.stream.receive(_READ_SIZE)
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
            self.peer_closed = True
            raise _PeerClosed from None
        self._buffer += data

    async def _read_until(self, delimiter: bytes, limit: int, too_long: _BadRequest) -> bytes:
        start = 0
        while True:
            index = self._buffer.find(delimiter, start)
            if index > limit or (index < 0 and len(self._buffer) > limit):
                raise too_long
            if index >= 0:
                data = bytes(self._buffer[:index])
                del self._buffer[: index + len(delimiter)]
                return data
            start = max(0, len(self._buffer) - len(delimiter) + 1)
            await self._fill()

    async def _read_exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            await self._fill()
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    async def send(self, data: bytes) -> None:
        await self.stream.send(data)

    async def watch_for_disconnect(self, scope: anyio.CancelScope) -> None:
        """Read (and keep, for the next request) whatever the client sends while we answer;
        cancel `scope` once it closes the connection, so a stall or a delay ends with it.
        A client that half-closes after its request therefore gets no answer: acceptable for
        a test double, and codex never does it."""
        try:
            while len(self._buffer) <= _MAX_HEAD_BYTES + _MAX_BODY_BYTES:
                await self._fill()
        except _PeerClosed:
            scope.cancel()

    async def read_request(self) -> _HttpRequest | None:
        """The next request, or None when the client closed the connection between requests.
        Raises `_BadRequest` for malformed input and `_PeerClosed` for a truncated request."""
        head = b""
        while not head:
            if not self._buffer:
                try:
                    await self._fill()
                except _PeerClosed:
                    return None
            # RFC 9112 2.2: ignore empty lines before a request line.
            head = (
                await self._read_until(
                    b"\r\n\r\n",
                    _MAX_HEAD_BYTES,
                    _BadRequest(431, "the request head is larger than 64 KiB"),
                )
            ).lstrip(b"\r\n")
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ")
        if len(parts) != 3 or not _TOKEN_RE.fullmatch(parts[0]):
            raise _BadRequest(400, f"malformed request line {lines[0][:100]!r}")
        method, target, version = (part.decode("latin-1") for part in parts)
        if version not in ("HTTP/1.1", "HTTP/1.0"):
            raise _BadRequest(400, f"unsupported HTTP version {version!r}")
        if not target.startswith("/") or any(ord(c) <= 0x20 or ord(c) >= 0x7F for c in target):
            raise _BadRequest(400, f"malformed request target {target[:100]!r}")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, raw_value = line.partition(b":")
            if not colon or not _TOKEN_RE.fullmatch(name):
                raise _BadRequest(400, f"malformed header line {line[:100]!r}")
            value = raw_value.strip(b" \t").decode("latin-1")
            if any((ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F for c in value):
                raise _BadRequest(400, f"control character in header {name.decode()!r}")
            key = name.decode("latin-1").lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value

        connection = {token.strip().lower() for token in headers.get("connection", "").split(",")}
        keep_alive = version == "HTTP/1.1" and "close" not in connection
        body = await self._read_body(version, headers)
        return _HttpRequest(method, target, version, headers, body, keep_alive)

    async def _read_body(self, version: str, headers: dict[str, str]) -> bytes:
        transfer_encoding = headers.get("transfer-encoding")
        content_length = headers.get("content-length")
        if transfer_encoding is not None and content_length is not None:
            raise _BadRequest(
                400, "a request cannot have both Transfer-Encoding and Content-Length"
            )
        if transfer_encoding is not None:
            codings = [c.strip().lower() for c in transfer_encoding.split(",")]
            if version != "HTTP/1.1" or codings != ["chunked"]:
                raise _BadRequest(
                    501 if version == "HTTP/1.1" else 400,
                    f"unsupported Transfer-Encoding {transfer_encoding!r} (only chunked)",
                )
            await self._continue_if_expected(version, headers)
            return await self._read_chunked()
        if content_length is None:
            return b""
        if not content_length.isascii() or not content_length.isdigit():
            raise _BadRequest(400, f"malformed Content-Length {content_length[:40]!r}")
        size = int(content_length)
        if size > _MAX_BODY_BYTES:
            raise _BadRequest(413, f"request body of {size} bytes is larger than 64 MiB")
        if size:
            await self._continue_if_expected(version, headers)
        return await self._read_exactly(size)

    async def _continue_if_expected(self, version: str, headers: dict[str, str]) -> None:
        if version == "HTTP/1.1" and headers.get("expect", "").lower() == "100-continue":
            await self.send(b"HTTP/1.1 100 Continue\r\n\r\n")

    async def _read_chunked(self) -> bytes:
        body = bytearray()
        bad_line = _BadRequest(400, "malformed chunk size line in a chunked body")
        while True:
            line = await self._read_until(b"\r\n", _MAX_CHUNK_LINE_BYTES, bad_line)
            size_text = line.split(b";", 1)[0].strip(b" \t")
            if not _HEX_RE.fullmatch(size_text):
                raise bad_line
            size = int(size_text, 16)
            if len(body) + size > _MAX_BODY_BYTES:
                raise _BadRequest(413, "chunked request body is larger than 64 MiB")
            if size == 0:
                break
            body += await self._read_exactly(size)
            if await self._read_exactly(2) != b"\r\n":
                raise _BadRequest(400, "a chunk of a chunked body is not followed by CRLF")
        trailer_bytes = 0
        while True:  # trailer fields, ignored, up to the empty line
            trailer = await self._read_until(b"\r\n", _MAX_CHUNK_LINE_BYTES, bad_line)
            trailer_bytes += len(trailer)
            if not trailer:
                return bytes(body)
            if trailer_bytes > _MAX_HEAD_BYTES:
                raise _BadRequest(431, "the trailer of a chunked body is larger than 64 KiB")

    async def send_simple(
        self,
        status: int,
        body: str,
        *,
        keep_alive: bool,
        extra_headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        payload = body.encode("utf-8")
        content_type = "text/plain; charset=utf-8"
        try:
            json.loads(body)
        except ValueError:
            pass
        else:
            content_type = "application/json"
        lines = [
            f"HTTP/1.1 {status} {_reason(status)}",
            f"content-type: {content_type}",
            f"content-length: {len(payload)}",
            f"connection: {'keep-alive' if keep_alive else 'close'}",
            *(f"{name}: {value}" for name, value in extra_headers),
        ]
        await self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload)


def _is_disconnect(exc: BaseException) -> bool:
    """Whether `exc` (possibly a group, from a task group) only says the client went away."""
    if isinstance(exc, BaseExceptionGroup):
        return all(_is_disconnect(inner) for inner in exc.exceptions)
    return isinstance(exc, _PeerClosed | anyio.BrokenResourceError | anyio.ClosedResourceError)


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class _SseStream:
    """The event stream of one answer: chunked on HTTP/1.1 (so the connection can be
    reused), delimited by closing the connection on HTTP/1.0."""

    def __init__(self, conn: _Connection, request: _HttpRequest) -> None:
        self._conn = conn
        self.chunked = request.version == "HTTP/1.1"
        self.keep_alive = self.chunked and request.keep_alive

    async def start(self) -> None:
        framing = "transfer-encoding: chunked" if self.chunked else "connection: close"
        connection = "keep-alive" if self.keep_alive else "close"
        head = (
            "HTTP/1.1 200 OK\r\n"
            "content-type: text/event-stream\r\n"
            "cache-control: no-cache\r\n"
            f"{framing}\r\n" + (f"connection: {connection}\r\n" if self.chunked else "") + "\r\n"
        )
        await self._conn.send(head.encode("latin-1"))

    async def event(self, payload: Mapping[str, Any]) -> None:
        frame = f"event: {payload['type']}\ndata: {json.dumps(payload)}\n\n".encode()
        if self.chunked:
            frame = b"%x\r\n%s\r\n" % (len(frame), frame)
        await self._conn.send(frame)

    async def finish(self) -> bool:
        """End the body properly; returns whether the connection can be reused."""
        if self.chunked:
            await self._conn.send(b"0\r\n\r\n")
        return self.keep_alive


def _decode_body(body: bytes, content_encoding: str | None) -> bytes:
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
        result = decompressor.decompress(data, _MAX_BODY_BYTES + 1)
    except zlib.error as exc:
        raise ValueError(f"the {coding} request body is corrupt: {exc}") from None
    if len(result) > _MAX_BODY_BYTES:
        raise ValueError(f"the {coding} request body inflates to more than 64 MiB")
    if not decompressor.eof:
        raise ValueError(f"the {coding} request body is truncated")
    return result


# ---------------------------------------------------------------------------- the server


class ScriptedModel:
    """A Responses-API model server on 127.0.0.1 that follows a script.

    `script` is either an iterable of steps, one consumed per `POST /v1/responses` in arrival
    order (more can be appended with `add`), or a function `(RecordedRequest) -> Step` (sync
    or async) called for every request. When the steps run out or the function raises, the
    request is answered `500` and the problem is recorded in `errors`, so a test can assert
    `model.errors == []` at the end. Unexpected requests (other paths or methods, malformed
    HTTP, undecodable bodies) are answered 404/405/400/415 and recorded in `errors` too.

    Start it with `async with` (or `start()` and `aclose()`, from the same task); closing it
    drops every connection and ends every stall. It must be used from the event loop that
    started it.
    """

    def __init__(self, script: Iterable[Step] | ScriptFunction = ()) -> None:
        self._function: ScriptFunction | None = None
        self._steps: deque[Step] = deque()
        if callable(script):
            self._function = script
        elif isinstance(script, Iterable) and not isinstance(script, str | bytes):
            self.add(*script)
        else:
            raise TypeError(
                f"script must be an iterable of steps or a function of the request, got {script!r}"
            )
        self._requests: list[RecordedRequest] = []
        self._errors: list[str] = []
        self._waiters: list[anyio.Event] = []
        self._open_connections = 0
        self._id_token = secrets.token_hex(3)
        self._ids = itertools.count(1)
        self._port: int | None = None
        self._task_group: anyio.abc.TaskGroup | None = None
        self._listener: anyio.abc.Listener[anyio.abc.SocketStream] | None = None
        self._closed = False

    # ---------------------------------------------------------------- public surface

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>/v1`: the provider `base_url` for codex's config."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def port(self) -> int:
        """The TCP port the server listens on (only known once started)."""
        if self._port is None:
            raise RuntimeError("ScriptedModel is not started: use `async with ScriptedModel(...)`")
        return self._port

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the `POST /v1/responses` requests received so far, in arrival order."""
        return list(self._requests)

    @property
    def errors(self) -> list[str]:
        """A snapshot of the problems met so far (script exhausted, script function failed,
        unexpected or malformed requests), one message each."""
        return list(self._errors)

    @property
    def remaining_steps(self) -> int | None:
        """How many scripted steps are still unused (None when the script is a function)."""
        return None if self._function is not None else len(self._steps)

    def add(self, *steps: Step) -> None:
        """Append steps to the script (not possible when the script is a function)."""
        if self._function is not None:
            raise TypeError("cannot add steps to a ScriptedModel whose script is a function")
        for step in steps:
            if not isinstance(step, _STEP_TYPES):
                raise TypeError(
                    f"not a step: {step!r} (expected Reply, CallTool, Fail, FailResponse, "
                    "CutStream, Stall or Delay)"
                )
        self._steps.extend(steps)

    @property
    def open_connections(self) -> int:
        """How many client connections are open right now. codex 0.163 opens one per request
        and closes it after the answer (or when it abandons the answer, on interrupt)."""
        return self._open_connections

    async def wait_for_requests(
        self, count: int, *, timeout: float = 10.0
    ) -> list[RecordedRequest]:
        """Wait until at least `count` requests have arrived and return them all.

        Raises TimeoutError, naming what did arrive and the errors so far, when they do not
        arrive within `timeout` seconds.
        """
        if not await self._wait_until(lambda: len(self._requests) >= count, timeout):
            errors = f"; errors so far: {self._errors}" if self._errors else ""
            where = f" at {self.base_url}" if self._port is not None else " (not started)"
            raise TimeoutError(
                f"the scripted model{where} received {len(self._requests)} of the {count} "
                f"expected request(s) within {timeout:g} s{errors}; is the client configured "
                "with this base_url, and did its turn start?"
            )
        return list(self._requests)

    async def _wait_until(self, condition: Callable[[], bool], timeout: float) -> bool:
        """Wait (at most `timeout` s) until `condition()` holds; it is re-checked whenever a
        request arrives or a connection closes. Returns whether it holds."""
        with anyio.move_on_after(timeout):
            while not condition():
                waiter = anyio.Event()
                self._waiters.append(waiter)
                try:
                    await waiter.wait()
                finally:
                    if waiter in self._waiters:
                        self._waiters.remove(waiter)
        return condition()

    def _notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.set()

    async def start(self) -> None:
        """Listen on an ephemeral port of 127.0.0.1 and serve in the background."""
        if self._task_group is not None or self._closed:
            raise RuntimeError("a ScriptedModel can only be started once")
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        self._listener = listener
        self._port = listener.extra(anyio.abc.SocketAttribute.local_port)
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        task_group.start_soon(self._serve, listener)

    async def aclose(self) -> None:
        """Stop serving: close the listener and every connection, ending stalls. Idempotent."""
        if self._closed:
            return
        self._closed = True
        task_group, self._task_group = self._task_group, None
        try:
            if task_group is not None:
                task_group.cancel_scope.cancel()
                await task_group.__aexit__(None, None, None)
        finally:
            if self._listener is not None:
                await anyio.aclose_forcefully(self._listener)

    async def __aenter__(self) -> ScriptedModel:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ---------------------------------------------------------------- serving

    async def _serve(self, listener: anyio.abc.Listener[anyio.abc.SocketStream]) -> None:
        await listener.serve(self._handle_connection)

    def _record_error(self, message: str) -> None:
        self._errors.append(message)

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_{self._id_token}_{next(self._ids)}"

    async def _handle_connection(self, stream: anyio.abc.SocketStream) -> None:
        conn = _Connection(stream)
        self._open_connections += 1
        try:
            while True:
                try:
                    request = await conn.read_request()
                except _BadRequest as exc:
                    self._record_error(f"bad request answered {exc.status}: {exc.message}")
                    await conn.send_simple(exc.status, exc.message + "\n", keep_alive=False)
                    return
                if request is None or not await self._answer(conn, request):
                    return
        except Exception as exc:  # never let one connection take the server down
            if not _is_disconnect(exc):
                self._record_error(f"ScriptedModel internal error: {exc!r}")
        finally:
            self._open_connections -= 1
            self._notify()
            await anyio.aclose_forcefully(stream)

    async def _answer(self, conn: _Connection, request: _HttpRequest) -> bool:
        """Answer one request; returns whether the connection can serve another."""
        described = f"{request.method} {request.target[:200]}"
        if request.path != RESPONSES_PATH:
            self._record_error(f"unexpected request {described}: answered 404")
            await conn.send_simple(
                404, f"no such endpoint: {described}\n", keep_alive=request.keep_alive
            )
            return request.keep_alive
        if request.method != "POST":
            self._record_error(f"unexpected request {described}: answered 405")
            await conn.send_simple(
                405,
                f"{RESPONSES_PATH} only accepts POST\n",
                keep_alive=request.keep_alive,
                extra_headers=[("allow", "POST")],
            )
            return request.keep_alive
        try:
            raw = _decode_body(request.body, request.headers.get("content-encoding"))
        except ValueError as exc:
            self._record_error(f"{described}: {exc}")
            await conn.send_simple(415, f"{exc}\n", keep_alive=request.keep_alive)
            return request.keep_alive
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
            body = exc
        if not isinstance(body, dict):
            message = f"{described}: the body is not a JSON object ({str(body)[:100]})"
            self._record_error(message)
            await conn.send_simple(400, message + "\n", keep_alive=request.keep_alive)
            return request.keep_alive

        recorded = RecordedRequest(request.method, request.target, dict(request.headers), body)
        self._requests.append(recorded)
        number = len(self._requests)
        self._notify()

        reusable = False
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(conn.watch_for_disconnect, task_group.cancel_scope)
            step = await self._next_step(recorded, number)
            if step is None:
                await conn.send_simple(500, f"{self._errors[-1]}\n", keep_alive=request.keep_alive)
                reusable = request.keep_alive
            else:
                reusable = await self._perform(conn, request, step)
            task_group.cancel_scope.cancel()
        return reusable and not conn.peer_closed

    async def _next_step(self, recorded: RecordedRequest, number: int) -> Step | None:
        """The step for this request, or None after recording why there is none."""
        about = f"request #{number} (last user text {recorded.last_user_text!r})"
        if self._function is None:
            if self._steps:
                return self._steps.popleft()
            self._record_error(
                f"script exhausted: {about} arrived but every scripted step was already used; "
                "add steps to the script"
            )
            return None
        try:
            result = self._function(recorded)
            step = await result if inspect.isawaitable(result) else result
        except Exception as exc:
            self._record_error(f"the script function raised {exc!r} for {about}")
            return None
        if not isinstance(step, _STEP_TYPES):
            self._record_error(f"the script function returned {step!r}, not a step, for {about}")
            return None
        return step

    async def _perform(self, conn: _Connection, request: _HttpRequest, step: Step) -> bool:
        """Carry out `step` as the answer to `request`; returns whether the connection can
        serve another request."""
        if isinstance(step, Delay):
            await anyio.sleep(step.seconds)
            return await self._perform(conn, request, step.step)
        if isinstance(step, Fail):
            await conn.send_simple(step.status, step.body, keep_alive=request.keep_alive)
            return request.keep_alive

        sse = _SseStream(conn, request)
        await sse.start()
        response_id = self._new_id("resp")
        await sse.event({"type": "response.created", "response": {"id": response_id}})
        completed = {
            "type": "response.completed",
            "response": {"id": response_id, "usage": dict(USAGE)},
        }

        if isinstance(step, Reply):
            message_id = await self._start_message(sse)
            for index, piece in enumerate(_split_evenly(step.text, step.chunks)):
                if index and step.delay:
                    await anyio.sleep(step.delay)
                await sse.event(_text_delta(message_id, piece))
            await sse.event(
                {
                    "type": "response.output_item.done",
                    "output_index": 0,
                    "item": _message_item(message_id, step.text),
                }
            )
            await sse.event(completed)
            return await sse.finish()

        if isinstance(step, CallTool):
            item = {
                "type": "function_call",
                "id": self._new_id("fc"),
                "call_id": step.call_id if step.call_id is not None else self._new_id("call"),
                "name": step.name,
                "arguments": step.arguments,
            }
            await sse.event(
                {
                    "type": "response.output_item.added",
                    "output_index": 0,
                    "item": {**item, "arguments": ""},
                }
            )
            await sse.event({"type": "response.output_item.done", "output_index": 0, "item": item})
            await sse.event(completed)
            return await sse.finish()

        if isinstance(step, FailResponse):
            await sse.event(
                {
                    "type": "response.failed",
                    "response": {
                        "id": response_id,
                        "status": "failed",
                        "error": {"code": step.code, "message": step.message},
                    },
                }
            )
            return await sse.finish()

        # CutStream and Stall: a reply that never completes; the connection is then dropped.
        if isinstance(step, CutStream | Stall) and step.text:
            message_id = await self._start_message(sse)
            await sse.event(_text_delta(message_id, step.text))
        if isinstance(step, Stall):
            if step.seconds is None:
                await anyio.sleep_forever()
            else:
                await anyio.sleep(step.seconds)
        return False

    async def _start_message(self, sse: _SseStream) -> str:
        message_id = self._new_id("msg")
        await sse.event(
            {
                "type": "response.output_item.added",
                "output_index": 0,
                "item": {"type": "message", "role": "assistant", "id": message_id, "content": []},
            }
        )
        return message_id


def _message_item(message_id: str, text: str) -> dict[str, Any]:
    return {
        "type": "message",
        "role": "assistant",
        "id": message_id,
        "content": [{"type": "output_text", "text": text}],
    }


def _text_delta(message_id: str, piece: str) -> dict[str, Any]:
    return {
        "type": "response.output_text.delta",
        "item_id": message_id,
        "output_index": 0,
        "content_index": 0,
        "delta": piece,
    }


def _split_evenly(text: str, chunks: int) -> list[str]:
    """`text` in min(chunks, len(text)) consecutive pieces whose lengths differ by at most
    one (longer pieces first); no piece for an empty text."""
    count = min(chunks, len(text))
    if count == 0:
        return []
    size, extra = divmod(len(text), count)
    pieces: list[str] = []
    start = 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        pieces.append(text[start:end])
        start = end
    return pieces
