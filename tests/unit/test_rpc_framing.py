"""Property-based tests of the JSON-RPC framing (`codex_manager_core.rpc`).

However the peer's bytes are cut into reads, the connection must produce the same events, in
order; garbage lines must cost exactly one `ProtocolError` each and nothing else; no input may
make it raise; and what one side encodes, the other decodes to the equivalent event.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import Any

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from codex_manager_core.rpc import (
    DEFAULT_MAX_LINE_BYTES,
    PREVIEW_BYTES,
    ErrorResponse,
    Event,
    JsonRpcConnection,
    Notification,
    ProtocolError,
    Response,
    ServerRequest,
    encode_message,
)

SETTINGS = settings(max_examples=200, deadline=None)

# ----------------------------------------------------------------------------- strategies

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=16)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
methods = st.sampled_from(
    ["turn/started", "item/\u00e9t\u00e9", "\u65e5\u672c/\U0001f600"]
) | st.text(min_size=1, max_size=16)
server_request_ids = st.integers(min_value=-(2**63), max_value=2**63) | st.text(max_size=10)
# Lines that produce no event at all.
fillers = st.sampled_from([b"", b"", b"\n", b"\r\n", b"  \t\n", b"\x0c\r\n"])
line_endings = st.sampled_from([b"\n", b"\r\n", b" \n"])


@attrs.frozen
class Conversation:
    """What the peer sends, and what we must make of it."""

    our_methods: tuple[str, ...]
    """Methods of the requests we sent first (ids 0, 1, ...), which the peer then answers."""
    lines: tuple[bytes, ...]
    """The peer's lines, each with its line ending, blank lines included."""
    expected: tuple[Event, ...]

    def connection(self, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> JsonRpcConnection:
        conn = JsonRpcConnection(max_line_bytes=max_line_bytes)
        for method in self.our_methods:
            conn.send_request(method)
        return conn

    @property
    def stream(self) -> bytes:
        return b"".join(self.lines)


@st.composite
def conversations(draw: st.DrawFn) -> Conversation:
    kinds = draw(
        st.lists(st.sampled_from(["notification", "request", "result", "error"]), max_size=10)
    )
    n_answers = sum(kind in ("result", "error") for kind in kinds)
    our_methods = draw(st.lists(methods, min_size=n_answers, max_size=n_answers))
    answer_order = iter(draw(st.permutations(range(n_answers))))
    lines: list[bytes] = []
    expected: list[Event] = []
    for kind in kinds:
        message: dict[str, Any] = {"jsonrpc": "2.0"} if draw(st.booleans()) else {}
        if kind == "notification":
            method = draw(methods)
            message["method"] = method
            if draw(st.booleans()):
                message["params"] = draw(json_values)
            if draw(st.booleans()):
                message["emittedAtMs"] = draw(st.integers(min_value=0, max_value=2**48))
            event: Event = Notification(method, message.get("params"), message)
        elif kind == "request":
            request_id = draw(server_request_ids)
            method = draw(methods)
            message.update(id=request_id, method=method)
            if draw(st.booleans()):
                message["params"] = draw(json_values)
            event = ServerRequest(request_id, method, message.get("params"))
        elif kind == "result":
            answer_id = next(answer_order)
            result = draw(json_values)
            message.update(id=answer_id, result=result)
            event = Response(answer_id, result, our_methods[answer_id])
        else:
            answer_id = next(answer_order)
            code = draw(st.integers(min_value=-(2**31), max_value=2**31))
            text = draw(st.text(max_size=20))
            error: dict[str, Any] = {"code": code, "message": text}
            data = draw(json_values)
            if data is not None:
                error["data"] = data
            message.update(id=answer_id, error=error)
            event = ErrorResponse(answer_id, code, text, data, our_methods[answer_id])
        lines.append(draw(fillers))
        lines.append(encode_message(message)[:-1] + draw(line_endings))
        expected.append(event)
    return Conversation(tuple(our_methods), tuple(lines), tuple(expected))


@st.composite
def chunkings(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """`data` cut into consecutive pieces anywhere (also inside multi-byte characters)."""
    if draw(st.integers(min_value=0, max_value=4)) == 0:
        return [data[i : i + 1] for i in range(len(data))]
    cuts = draw(st.lists(st.integers(min_value=0, max_value=len(data)), max_size=20))
    bounds = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in pairwise(bounds)]


def is_garbage(line: bytes) -> bool:
    """A line that is a ProtocolError whatever the connection's state."""
    line = line.strip()  # as the connection does
    if not line:
        return False
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):
        return True
    return not isinstance(value, dict)


garbage_lines = (
    st.binary(max_size=300).map(lambda b: b.replace(b"\n", b""))
    | st.text(max_size=60).map(lambda t: t.replace("\n", "").encode())
).filter(is_garbage) | st.sampled_from(
    [
        b"{",
        b"[]",
        b"null",
        b"42",
        b"{}",
        b'{"method": ""}',
        b'{"method": 1, "id": 1}',
        b'{"id": null, "result": 1}',
        b'{"id": 1.0, "result": 1}',
        b'{"id": "not-ours", "result": 1}',  # our ids are integers
        b'{"params": {}}',
        b"[" * 3000,
        b"\xff\xfe\xfd",
        b'{"method": "m"',
    ]
)


def feed_all(conn: JsonRpcConnection, chunks: Sequence[bytes]) -> list[Event]:
    events: list[Event] = []
    for chunk in chunks:
        events.extend(conn.receive_data(chunk))
    events.extend(conn.receive_eof())
    return events


def normalized(events: Sequence[Event]) -> list[object]:
    """Events with each ProtocolError reduced to its preview (reasons are free text)."""
    return [("error", e.preview) if isinstance(e, ProtocolError) else e for e in events]


# ----------------------------------------------------------------------------- properties


@SETTINGS
@given(conversation=conversations(), data=st.data())
def test_chunking_does_not_change_the_events(
    conversation: Conversation, data: st.DataObject
) -> None:
    stream = conversation.stream
    chunks = data.draw(chunkings(stream), label="chunks")
    assert b"".join(chunks) == stream

    whole_conn = conversation.connection()
    whole = feed_all(whole_conn, [stream])
    chunked_conn = conversation.connection()
    chunked = feed_all(chunked_conn, chunks)

    assert chunked == whole
    assert whole == list(conversation.expected)
    # Every one of our requests was answered exactly once.
    assert dict(whole_conn.pending) == {}
    assert dict(chunked_conn.pending) == {}


@settings(SETTINGS, max_examples=100)  # slow by design; chunkings() also goes byte-wise
@given(conversation=conversations())
def test_byte_at_a_time(conversation: Conversation) -> None:
    stream = conversation.stream
    conn = conversation.connection()
    assert feed_all(conn, [stream[i : i + 1] for i in range(len(stream))]) == list(
        conversation.expected
    )


@SETTINGS
@given(conversation=conversations(), data=st.data())
def test_last_line_without_newline_is_delivered_at_eof(
    conversation: Conversation, data: st.DataObject
) -> None:
    stream = conversation.stream.rstrip(b"\r\n ")
    conn = conversation.connection()
    chunks = data.draw(chunkings(stream), label="chunks")
    events: list[Event] = []
    for chunk in chunks:
        events.extend(conn.receive_data(chunk))
    assert events == list(conversation.expected[:-1])
    assert conn.receive_eof() == list(conversation.expected[-1:])


@SETTINGS
@given(conversation=conversations(), data=st.data())
def test_garbage_lines_cost_one_error_each_and_nothing_else(
    conversation: Conversation, data: st.DataObject
) -> None:
    lines: list[bytes] = []
    expected: list[object] = []
    valid = iter(conversation.expected)
    for line in (*conversation.lines, b""):
        for garbage in data.draw(st.lists(garbage_lines, max_size=3), label="garbage"):
            ending = data.draw(line_endings, label="ending")
            lines.append(garbage + ending)
            expected.append(("error", garbage.strip()[:PREVIEW_BYTES]))
        lines.append(line)
        if line.strip():
            expected.append(next(valid))
    stream = b"".join(lines)

    whole = feed_all(conversation.connection(), [stream])
    chunked = feed_all(conversation.connection(), data.draw(chunkings(stream), label="chunks"))

    assert normalized(whole) == expected
    assert normalized(chunked) == expected
    # The valid messages are all there, in order.
    assert [e for e in chunked if not isinstance(e, ProtocolError)] == list(conversation.expected)
    for event in chunked:
        if isinstance(event, ProtocolError):
            assert event.reason
            assert len(event.preview) <= PREVIEW_BYTES


@SETTINGS
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=400), max_size=8),
    max_line_bytes=st.integers(min_value=20, max_value=300),
    data=st.data(),
)
def test_oversized_lines_cost_one_error_each_whatever_the_chunking(
    sizes: list[int], max_line_bytes: int, data: st.DataObject
) -> None:
    lines = [encode_message({"method": "m", "params": "x" * size}) for size in sizes]
    expected: list[object] = []
    for line in lines:
        body = line[:-1]
        if len(body) > max_line_bytes:
            expected.append(("oversized", body[:PREVIEW_BYTES]))
        else:
            expected.append(Notification("m", json.loads(body)["params"], json.loads(body)))
    stream = b"".join(lines)

    for chunks in ([stream], data.draw(chunkings(stream), label="chunks")):
        conn = JsonRpcConnection(max_line_bytes=max_line_bytes)
        events: list[Event] = []
        for chunk in chunks:
            events.extend(conn.receive_data(chunk))
            assert len(conn._buffer) <= max_line_bytes
        events.extend(conn.receive_eof())
        assert len(events) == len(expected)
        for event, want in zip(events, expected, strict=True):
            if isinstance(want, tuple):
                assert isinstance(event, ProtocolError)
                assert "exceeds the limit" in event.reason
                # A prefix of the offending line (the whole preview when read in one go).
                assert want[1].startswith(event.preview)
                assert len(event.preview) > min(max_line_bytes, PREVIEW_BYTES - 1)
                if chunks == [stream]:
                    assert event.preview == want[1]
            else:
                assert event == want


interesting_chunks = st.sampled_from(
    [
        b"\n",
        b"\r\n",
        b"{}",
        b'{"id": 0, "result": 1}\n',
        b'{"id": 0, "error": {"code": true}}\n',
        b'{"id": 0}\n',
        b'{"method": "m", "id": [1]}\n',
        b'{"method": "m"}',
        b"[" * 2000 + b"\n",
        b"\xf0\x9f\x98",
    ]
)


@SETTINGS
@given(
    chunks=st.lists(st.binary(max_size=80) | interesting_chunks, max_size=30),
    max_line_bytes=st.integers(min_value=1, max_value=100) | st.just(DEFAULT_MAX_LINE_BYTES),
)
def test_never_raises_on_arbitrary_bytes(chunks: list[bytes], max_line_bytes: int) -> None:
    conn = JsonRpcConnection(max_line_bytes=max_line_bytes)
    conn.send_request("a")
    conn.send_request("b")
    event_types = (Response, ErrorResponse, Notification, ServerRequest, ProtocolError)
    events: list[Event] = []
    for chunk in chunks:
        events.extend(conn.receive_data(chunk))
        assert len(conn._buffer) <= max_line_bytes
    alive = b'{"method": "still/alive"}'
    if max_line_bytes >= len(alive):
        # Whatever came before (even in the middle of a skipped line), a fresh line is understood.
        tail = conn.receive_data(b"\n" + alive + b"\n")
        assert tail[-1:] == [Notification("still/alive", None, {"method": "still/alive"})]
        events.extend(tail)
    events.extend(conn.receive_eof())
    assert len(conn._buffer) == 0
    assert conn.receive_eof() == []
    for event in events:
        assert isinstance(event, event_types)
        if isinstance(event, ProtocolError):
            assert len(event.preview) <= PREVIEW_BYTES
    answered = [e.id for e in events if isinstance(e, Response | ErrorResponse)]
    assert len(answered) == len(set(answered))
    assert set(answered) | set(conn.pending) == {0, 1}
    assert not set(answered) & set(conn.pending)


@st.composite
def exchanges(draw: st.DrawFn) -> tuple[Callable[[JsonRpcConnection], bytes], Event]:
    """One message from the server side, and the event the client side must see."""
    kind = draw(st.sampled_from(["notification", "result", "error"]))
    method = draw(methods)
    params = draw(json_values)
    if kind == "notification":
        message = {"method": method} if params is None else {"method": method, "params": params}
        return (
            lambda server: server.send_notification(method, params),
            Notification(method, params, message),
        )
    if kind == "result":
        return (lambda server: server.send_result(0, params), Response(0, params, method))
    code = draw(st.integers(min_value=-(2**63), max_value=2**63))
    text = draw(st.text(max_size=30))
    return (
        lambda server: server.send_error(0, code, text, params),
        ErrorResponse(0, code, text, params, method),
    )


@SETTINGS
@given(
    method=methods,
    request_params=json_values,
    exchange=exchanges(),
    data=st.data(),
)
def test_roundtrip_between_two_connections(
    method: str,
    request_params: Any,
    exchange: tuple[Callable[[JsonRpcConnection], bytes], Event],
    data: st.DataObject,
) -> None:
    client = JsonRpcConnection()
    server = JsonRpcConnection()
    send, expected = exchange
    if isinstance(expected, Response | ErrorResponse):
        # The answer correlates with the client's request 0 only if that request has `method`.
        method = expected.method

    request_id, request = client.send_request(method, request_params)
    assert request_id == 0
    assert feed_all(server, data.draw(chunkings(request), label="request chunks")) == [
        ServerRequest(0, method, request_params)
    ]

    reply = send(server)
    assert feed_all(client, data.draw(chunkings(reply), label="reply chunks")) == [expected]
    if isinstance(expected, Notification):
        assert dict(client.pending) == {0: method}
    else:
        assert dict(client.pending) == {}
