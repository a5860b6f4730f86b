"""Example-based tests of the sans-IO JSON-RPC connection (`codex_manager_core.rpc`).

Property-based framing tests live in `test_rpc_framing.py`.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from codex_manager_core.rpc import (
    DEFAULT_MAX_LINE_BYTES,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    METHOD_NOT_FOUND,
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


def line(message: Any) -> bytes:
    """A message as the peer might write it (json.dumps' default, spaced separators)."""
    return json.dumps(message).encode() + b"\n"


def feed(conn: JsonRpcConnection, *chunks: bytes) -> list[Event]:
    events: list[Event] = []
    for chunk in chunks:
        events.extend(conn.receive_data(chunk))
    return events


def single(events: list[Event]) -> Event:
    assert len(events) == 1, events
    return events[0]


def protocol_error(events: list[Event]) -> ProtocolError:
    event = single(events)
    assert isinstance(event, ProtocolError), event
    assert event.reason
    assert len(event.preview) <= PREVIEW_BYTES
    return event


def decode(data: bytes) -> Any:
    """Strict decoding of one encoded line: exactly one trailing newline, strict JSON."""
    assert data.endswith(b"\n")
    assert data.count(b"\n") == 1
    assert not data.endswith(b"\r\n")

    def reject_constant(name: str) -> Any:
        raise AssertionError(f"non-standard JSON constant {name}")

    return json.loads(data.decode("utf-8"), parse_constant=reject_constant)


NOTIFY = line({"method": "ok/after"})
NOTIFY_EVENT = Notification("ok/after", None, {"method": "ok/after"})


# --------------------------------------------------------------------------- construction


def test_default_max_line_bytes() -> None:
    assert JsonRpcConnection().max_line_bytes == DEFAULT_MAX_LINE_BYTES


@pytest.mark.parametrize("limit", [0, -1, -DEFAULT_MAX_LINE_BYTES])
def test_constructor_rejects_non_positive_max_line_bytes(limit: int) -> None:
    with pytest.raises(ValueError, match="max_line_bytes must be positive"):
        JsonRpcConnection(max_line_bytes=limit)


def test_constructor_accepts_a_limit_of_one_byte() -> None:
    conn = JsonRpcConnection(max_line_bytes=1)
    assert conn.max_line_bytes == 1
    assert feed(conn, b" \n") == []
    error = protocol_error(feed(conn, b"{}\n"))
    assert "exceeds the limit of 1 bytes" in error.reason
    assert error.preview == b"{}"


def test_new_connection_has_nothing_pending() -> None:
    assert dict(JsonRpcConnection().pending) == {}


# --------------------------------------------------------------------------- outgoing


def test_send_request_ids_increase_from_zero_and_are_pending() -> None:
    conn = JsonRpcConnection()
    sent = [conn.send_request(method) for method in ("initialize", "thread/start", "turn/start")]
    assert [request_id for request_id, _ in sent] == [0, 1, 2]
    assert dict(conn.pending) == {0: "initialize", 1: "thread/start", 2: "turn/start"}
    assert [decode(data) for _, data in sent] == [
        {"id": 0, "method": "initialize"},
        {"id": 1, "method": "thread/start"},
        {"id": 2, "method": "turn/start"},
    ]


def test_send_request_exact_bytes() -> None:
    conn = JsonRpcConnection()
    assert conn.send_request("thread/start", {"cwd": "/tmp", "n": [1, 2]}) == (
        0,
        b'{"id":0,"method":"thread/start","params":{"cwd":"/tmp","n":[1,2]}}\n',
    )


def test_send_request_omits_params_when_none() -> None:
    _, data = JsonRpcConnection().send_request("initialized")
    assert data == b'{"id":0,"method":"initialized"}\n'
    assert "params" not in decode(data)


@pytest.mark.parametrize("params", [{}, [], 0, False, ""])
def test_send_request_keeps_falsy_params(params: Any) -> None:
    _, data = JsonRpcConnection().send_request("m", params)
    assert decode(data) == {"id": 0, "method": "m", "params": params}


def test_ids_keep_increasing_after_answers_and_forget() -> None:
    conn = JsonRpcConnection()
    assert conn.send_request("a")[0] == 0
    feed(conn, line({"id": 0, "result": None}))
    assert conn.send_request("b")[0] == 1
    conn.forget(1)
    assert conn.send_request("c")[0] == 2
    assert dict(conn.pending) == {2: "c"}


def test_send_notification() -> None:
    conn = JsonRpcConnection()
    assert conn.send_notification("initialized") == b'{"method":"initialized"}\n'
    assert conn.send_notification("x/y", {"a": None}) == b'{"method":"x/y","params":{"a":null}}\n'
    assert conn.send_notification("x/y", []) == b'{"method":"x/y","params":[]}\n'
    # Notifications are not requests: no id consumed, nothing pending.
    assert dict(conn.pending) == {}
    assert conn.send_request("r")[0] == 0


@pytest.mark.parametrize("request_id", [0, 7, -3, 2**70, "abc", ""])
def test_send_result(request_id: int | str) -> None:
    conn = JsonRpcConnection()
    data = conn.send_result(request_id, {"decision": "accept"})
    assert decode(data) == {"id": request_id, "result": {"decision": "accept"}}
    assert dict(conn.pending) == {}


def test_send_result_keeps_a_null_result() -> None:
    assert JsonRpcConnection().send_result(3, None) == b'{"id":3,"result":null}\n'


def test_send_error_without_data() -> None:
    data = JsonRpcConnection().send_error("req-1", METHOD_NOT_FOUND, "no such method")
    assert data == b'{"id":"req-1","error":{"code":-32601,"message":"no such method"}}\n'


@pytest.mark.parametrize("error_data", [{"field": "cwd"}, 0, False, "", []])
def test_send_error_with_data(error_data: Any) -> None:
    data = JsonRpcConnection().send_error(4, INVALID_PARAMS, "bad", error_data)
    assert decode(data) == {
        "id": 4,
        "error": {"code": INVALID_PARAMS, "message": "bad", "data": error_data},
    }


def test_encoding_is_one_compact_line() -> None:
    conn = JsonRpcConnection()
    data = conn.send_notification("m", {"k": "line1\nline2\r\n", "l": [1, {"a": True}]})
    assert data == b'{"method":"m","params":{"k":"line1\\nline2\\r\\n","l":[1,{"a":true}]}}\n'
    assert b" " not in data
    assert data.count(b"\n") == 1


def test_encoding_keeps_non_ascii_as_utf8() -> None:
    text = "h\u00e9llo \u20ac \U0001f600 \u65e5\u672c \u2028"
    data = JsonRpcConnection().send_notification("m", {"text": text})
    assert text.encode("utf-8") in data
    assert b"\\u" not in data
    assert decode(data)["params"]["text"] == text
    # U+2028 is kept raw: it contains no newline byte, so framing is unaffected.
    assert data.count(b"\n") == 1


def test_encode_message() -> None:
    assert encode_message({"method": "a", "params": {"x": "\u00e9"}}) == (
        b'{"method":"a","params":{"x":"\xc3\xa9"}}\n'
    )


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_encoders_refuse_non_json_floats(value: float) -> None:
    # NaN and Infinity are not JSON: the peer (serde_json) would reject the whole line.
    conn = JsonRpcConnection()
    with pytest.raises(ValueError, match="JSON compliant"):
        conn.send_result(0, value)
    with pytest.raises(ValueError, match="JSON compliant"):
        conn.send_notification("m", [value])
    with pytest.raises(ValueError, match="JSON compliant"):
        conn.send_error(0, INTERNAL_ERROR, "x", {"v": value})
    with pytest.raises(ValueError, match="JSON compliant"):
        conn.send_request("m", {"v": value})
    # A request that could not be encoded is not pending.
    assert dict(conn.pending) == {}


def test_forget() -> None:
    conn = JsonRpcConnection()
    conn.send_request("a")
    conn.send_request("b")
    conn.forget(0)
    assert dict(conn.pending) == {1: "b"}
    conn.forget(0)  # forgetting twice is harmless
    conn.forget("never-sent")
    assert dict(conn.pending) == {1: "b"}


# --------------------------------------------------------------------------- classification


@pytest.mark.parametrize("request_id", [0, 12, -1, 2**64, "abc-1", ""])
def test_server_request(request_id: int | str) -> None:
    conn = JsonRpcConnection()
    params = {"threadId": "t1", "command": ["ls"]}
    events = feed(conn, line({"id": request_id, "method": "item/approval", "params": params}))
    assert events == [ServerRequest(request_id, "item/approval", params)]


def test_server_request_without_params() -> None:
    events = feed(JsonRpcConnection(), line({"id": 5, "method": "ping"}))
    assert events == [ServerRequest(5, "ping", None)]


def test_server_request_does_not_touch_our_pending_ids() -> None:
    conn = JsonRpcConnection()
    conn.send_request("ours")
    assert feed(conn, line({"id": 0, "method": "theirs"})) == [ServerRequest(0, "theirs", None)]
    assert dict(conn.pending) == {0: "ours"}


def test_notification_keeps_the_whole_message() -> None:
    message = {
        "method": "turn/started",
        "params": {"turn": {"id": "t"}},
        "emittedAtMs": 1_700_000_000_123,
        "extra": [1, None],
    }
    event = single(feed(JsonRpcConnection(), line(message)))
    assert event == Notification("turn/started", {"turn": {"id": "t"}}, message)
    assert isinstance(event, Notification)
    assert event.message["emittedAtMs"] == 1_700_000_000_123


def test_notification_without_params() -> None:
    assert feed(JsonRpcConnection(), line({"method": "m"})) == [
        Notification("m", None, {"method": "m"})
    ]


def test_response_is_correlated_with_our_request() -> None:
    conn = JsonRpcConnection()
    request_id, _ = conn.send_request("thread/start", {"cwd": "/"})
    events = feed(conn, line({"id": request_id, "result": {"thread": {"id": "th"}}}))
    assert events == [Response(request_id, {"thread": {"id": "th"}}, "thread/start")]
    assert dict(conn.pending) == {}


@pytest.mark.parametrize("result", [None, 0, False, "", [], {}])
def test_response_with_falsy_result(result: Any) -> None:
    conn = JsonRpcConnection()
    conn.send_request("m")
    assert feed(conn, line({"id": 0, "result": result})) == [Response(0, result, "m")]


def test_responses_out_of_order() -> None:
    conn = JsonRpcConnection()
    for method in ("a", "b", "c"):
        conn.send_request(method)
    events = feed(
        conn,
        line({"id": 2, "result": "C"}),
        line({"id": 0, "error": {"code": -1, "message": "A"}}),
        line({"id": 1, "result": "B"}),
    )
    assert events == [
        Response(2, "C", "c"),
        ErrorResponse(0, -1, "A", None, "a"),
        Response(1, "B", "b"),
    ]
    assert dict(conn.pending) == {}


def test_error_response() -> None:
    conn = JsonRpcConnection()
    conn.send_request("turn/start")
    error = {"code": -32001, "message": "Server overloaded; retry later.", "data": {"x": 1}}
    assert feed(conn, line({"id": 0, "error": error})) == [
        ErrorResponse(0, -32001, "Server overloaded; retry later.", {"x": 1}, "turn/start")
    ]
    assert dict(conn.pending) == {}


def test_error_response_without_data() -> None:
    conn = JsonRpcConnection()
    conn.send_request("m")
    assert feed(conn, line({"id": 0, "error": {"code": 1, "message": "no"}})) == [
        ErrorResponse(0, 1, "no", None, "m")
    ]


def test_error_takes_precedence_over_result() -> None:
    conn = JsonRpcConnection()
    conn.send_request("m")
    events = feed(conn, line({"id": 0, "result": 1, "error": {"code": 2, "message": "e"}}))
    assert events == [ErrorResponse(0, 2, "e", None, "m")]


@pytest.mark.parametrize("error", ["boom", None, 42, [1, 2], True])
def test_error_that_is_not_an_object(error: Any) -> None:
    conn = JsonRpcConnection()
    conn.send_request("m")
    assert feed(conn, line({"id": 0, "error": error})) == [
        ErrorResponse(0, INTERNAL_ERROR, repr(error), None, "m")
    ]
    assert dict(conn.pending) == {}


@pytest.mark.parametrize(
    ("error", "code"),
    [
        ({"code": "-32600", "message": "m"}, INTERNAL_ERROR),
        ({"code": 1.0, "message": "m"}, INTERNAL_ERROR),
        ({"code": 1.5, "message": "m"}, INTERNAL_ERROR),
        ({"code": None, "message": "m"}, INTERNAL_ERROR),
        ({"code": [1], "message": "m"}, INTERNAL_ERROR),
        ({"message": "m"}, INTERNAL_ERROR),
        ({"code": True, "message": "m"}, INTERNAL_ERROR),
        ({"code": False, "message": "m"}, INTERNAL_ERROR),
        ({"code": 0, "message": "m"}, 0),
        ({"code": -32001, "message": "m"}, -32001),
    ],
)
def test_error_code_must_be_a_real_integer(error: dict[str, Any], code: int) -> None:
    conn = JsonRpcConnection()
    conn.send_request("m")
    event = single(feed(conn, line({"id": 0, "error": error})))
    assert event == ErrorResponse(0, code, "m", None, "m")
    assert isinstance(event, ErrorResponse)
    assert type(event.code) is int


@pytest.mark.parametrize("text", [None, 3, ["x"], {"a": 1}, False])
def test_error_message_must_be_a_string(text: Any) -> None:
    conn = JsonRpcConnection()
    conn.send_request("m")
    assert feed(conn, line({"id": 0, "error": {"code": 9, "message": text, "data": "d"}})) == [
        ErrorResponse(0, 9, repr(text), "d", "m")
    ]


def test_error_message_missing() -> None:
    conn = JsonRpcConnection()
    conn.send_request("m")
    assert feed(conn, line({"id": 0, "error": {"code": 9}})) == [
        ErrorResponse(0, 9, "None", None, "m")
    ]


@pytest.mark.parametrize("answer", [{"result": 1}, {"error": {"code": 1, "message": "x"}}])
def test_answer_to_unknown_id_is_a_protocol_error(answer: dict[str, Any]) -> None:
    conn = JsonRpcConnection()
    conn.send_request("m")
    data = line({"id": 99, **answer})
    error = protocol_error(feed(conn, data))
    assert "99" in error.reason
    assert error.preview == data.strip()
    assert dict(conn.pending) == {0: "m"}


def test_answer_id_type_must_match() -> None:
    conn = JsonRpcConnection()
    conn.send_request("m")
    protocol_error(feed(conn, line({"id": "0", "result": 1})))
    assert dict(conn.pending) == {0: "m"}
    assert feed(conn, line({"id": 0, "result": 1})) == [Response(0, 1, "m")]


def test_answer_after_forget_is_a_protocol_error() -> None:
    conn = JsonRpcConnection()
    conn.send_request("slow")
    conn.forget(0)
    protocol_error(feed(conn, line({"id": 0, "result": "late"})))
    protocol_error(feed(conn, line({"id": 0, "error": {"code": 1, "message": "late"}})))


def test_second_answer_to_the_same_id_is_a_protocol_error() -> None:
    conn = JsonRpcConnection()
    conn.send_request("m")
    events = feed(conn, line({"id": 0, "result": 1}) + line({"id": 0, "result": 2}))
    assert events[0] == Response(0, 1, "m")
    assert isinstance(events[1], ProtocolError)
    assert len(events) == 2


@pytest.mark.parametrize("bad_id", [None, True, False, 0.0, 1.5, 1e3, [], [0], {}, {"id": 0}])
@pytest.mark.parametrize(
    "rest",
    [{"method": "m"}, {"method": "m", "params": {}}, {"result": 1}, {"error": {"code": 1}}],
)
def test_invalid_id_is_a_protocol_error(bad_id: Any, rest: dict[str, Any]) -> None:
    conn = JsonRpcConnection()
    conn.send_request("m")
    error = protocol_error(feed(conn, line({"id": bad_id, **rest})))
    assert "invalid id" in error.reason
    # Nothing was answered: 0 == 0.0 == False must not resolve our request 0.
    assert dict(conn.pending) == {0: "m"}
    assert feed(conn, NOTIFY) == [NOTIFY_EVENT]


@pytest.mark.parametrize("bad_method", ["", 0, 1, True, False, [], ["m"], {}, {"m": 1}])
@pytest.mark.parametrize("with_id", [False, True])
def test_invalid_method_is_a_protocol_error(bad_method: Any, with_id: bool) -> None:
    conn = JsonRpcConnection()
    conn.send_request("m")
    message: dict[str, Any] = {"method": bad_method, "params": {}}
    if with_id:
        message["id"] = 0
    error = protocol_error(feed(conn, line(message)))
    assert "invalid method" in error.reason
    assert dict(conn.pending) == {0: "m"}


@pytest.mark.parametrize(
    "message",
    [{}, {"params": {}}, {"result": 1}, {"error": {"code": 1, "message": "m"}}, {"method": None}],
)
def test_neither_method_nor_id_is_a_protocol_error(message: dict[str, Any]) -> None:
    conn = JsonRpcConnection()
    conn.send_request("m")
    error = protocol_error(feed(conn, line(message)))
    assert "neither a method nor an id" in error.reason
    assert dict(conn.pending) == {0: "m"}


def test_answer_with_neither_result_nor_error_stays_pending() -> None:
    conn = JsonRpcConnection()
    conn.send_request("first")
    conn.send_request("second")
    error = protocol_error(feed(conn, line({"id": 0, "jsonrpc": "2.0", "data": 1})))
    assert "neither result nor error" in error.reason
    assert dict(conn.pending) == {0: "first", 1: "second"}
    # The call itself can still be answered properly afterwards.
    assert feed(conn, line({"id": 0, "result": "ok"})) == [Response(0, "ok", "first")]
    assert dict(conn.pending) == {1: "second"}


@pytest.mark.parametrize("jsonrpc", [True, False])
def test_jsonrpc_member_is_optional(jsonrpc: bool) -> None:
    header = {"jsonrpc": "2.0"} if jsonrpc else {}
    conn = JsonRpcConnection()
    conn.send_request("a")
    conn.send_request("b")
    notification = {**header, "method": "n", "params": [1]}
    events = feed(
        conn,
        line(notification),
        line({**header, "id": "s", "method": "r"}),
        line({**header, "id": 0, "result": 1}),
        line({**header, "id": 1, "error": {"code": 2, "message": "x"}}),
    )
    assert events == [
        Notification("n", [1], notification),
        ServerRequest("s", "r", None),
        Response(0, 1, "a"),
        ErrorResponse(1, 2, "x", None, "b"),
    ]


# --------------------------------------------------------------------------- lines


@pytest.mark.parametrize("blank", [b"\n", b"\r\n", b"   \n", b"\t \r\n", b"\x0b\x0c\n", b"\n\n\n"])
def test_blank_lines_are_skipped(blank: bytes) -> None:
    conn = JsonRpcConnection()
    assert feed(conn, blank) == []
    assert feed(conn, blank + NOTIFY + blank) == [NOTIFY_EVENT]


def test_crlf_line_endings() -> None:
    conn = JsonRpcConnection()
    conn.send_request("m")
    events = feed(conn, b'{"method":"a"}\r\n{"id":0,"result":[]}\r\n{"id":1,"method":"b"}\r\n')
    assert events == [
        Notification("a", None, {"method": "a"}),
        Response(0, [], "m"),
        ServerRequest(1, "b", None),
    ]


def test_surrounding_whitespace_is_ignored() -> None:
    assert feed(JsonRpcConnection(), b'  \t{"method": "a"} \r\n') == [
        Notification("a", None, {"method": "a"})
    ]


def test_several_lines_in_one_chunk_and_one_line_in_several_chunks() -> None:
    conn = JsonRpcConnection()
    data = line({"method": "a"}) + line({"method": "b"}) + line({"method": "c"})
    assert [e.method for e in feed(conn, data) if isinstance(e, Notification)] == ["a", "b", "c"]
    assert feed(conn, b'{"met', b'hod":', b' "d"}') == []
    assert feed(conn, b"\n") == [Notification("d", None, {"method": "d"})]


def test_multibyte_utf8_split_across_chunks() -> None:
    text = "\u00e9\u20ac\U0001f600\u65e5"
    data = line({"method": "m", "params": text})
    expected = [Notification("m", text, {"method": "m", "params": text})]
    raw = encode_message({"method": "m", "params": text})
    assert text.encode() in raw
    for stream in (data, raw):
        for cut in range(len(stream) + 1):
            conn = JsonRpcConnection()
            assert feed(conn, stream[:cut], stream[cut:]) == expected, cut
        conn = JsonRpcConnection()
        assert feed(conn, *(stream[i : i + 1] for i in range(len(stream)))) == expected


@pytest.mark.parametrize(
    "bad",
    [
        b"{",
        b"not json",
        b"{'method': 'm'}",
        b'{"method": "m",}',
        b'{"method": "m"} trailing',
        b'{"method": "m"}{"method": "n"}',
        b'{"method": "\xff\xfe"}',  # invalid UTF-8
        b"\x00\x01\x02",
        b"\xc3",  # truncated UTF-8 sequence
    ],
)
def test_invalid_json_is_a_protocol_error_and_the_stream_goes_on(bad: bytes) -> None:
    conn = JsonRpcConnection()
    events = feed(conn, bad + b"\n" + NOTIFY)
    assert len(events) == 2
    error = protocol_error(events[:1])
    assert error.reason.startswith("invalid JSON")
    assert error.preview == bad.strip()[:PREVIEW_BYTES]
    assert events[1] == NOTIFY_EVENT


@pytest.mark.parametrize(
    ("data", "type_name"),
    [
        (b"[]", "list"),
        (b'[{"method": "m"}]', "list"),
        (b"1", "int"),
        (b"-2.5", "float"),
        (b'"{\\"method\\": \\"m\\"}"', "str"),
        (b"null", "NoneType"),
        (b"true", "bool"),
    ],
)
def test_json_that_is_not_an_object_is_a_protocol_error(data: bytes, type_name: str) -> None:
    conn = JsonRpcConnection()
    events = feed(conn, data + b"\n" + NOTIFY)
    error = protocol_error(events[:1])
    assert type_name in error.reason
    assert error.preview == data
    assert events[1:] == [NOTIFY_EVENT]


@pytest.mark.parametrize(
    "deep",
    [
        b"[" * 100_000,
        b"[" * 5_000 + b"]" * 5_000,
        b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
        b'{"method": "m", "params": ' + b"[" * 5_000 + b"]" * 5_000 + b"}",
    ],
)
def test_deeply_nested_json_is_a_protocol_error(deep: bytes) -> None:
    conn = JsonRpcConnection()
    events = feed(conn, deep + b"\n" + NOTIFY)
    error = protocol_error(events[:1])
    assert error.reason.startswith("invalid JSON")
    assert error.preview == deep[:PREVIEW_BYTES]
    assert len(error.preview) == PREVIEW_BYTES
    assert events[1:] == [NOTIFY_EVENT]


def test_preview_is_bounded() -> None:
    bad = b"x" * 10_000
    error = protocol_error(feed(JsonRpcConnection(), bad + b"\n"))
    assert error.preview == b"x" * PREVIEW_BYTES


def test_short_preview_is_the_whole_line() -> None:
    error = protocol_error(feed(JsonRpcConnection(), b"  oops \r\n"))
    assert error.preview == b"oops"


# --------------------------------------------------------------------------- oversized lines


def sized_line(size: int) -> bytes:
    """A valid notification line of exactly `size` bytes, newline excluded."""
    base = b'{"method":"m","params":""}'
    assert size >= len(base)
    data = base[:-2] + b"x" * (size - len(base)) + b'"}'
    assert len(data) == size
    return data + b"\n"


def test_line_of_exactly_max_line_bytes_is_accepted() -> None:
    data = sized_line(100)
    expected = Notification("m", "x" * 74, {"method": "m", "params": "x" * 74})
    assert feed(JsonRpcConnection(max_line_bytes=100), data) == [expected]
    # Also when it arrives in pieces, and when the newline comes alone.
    conn = JsonRpcConnection(max_line_bytes=100)
    assert feed(conn, *(data[i : i + 1] for i in range(len(data)))) == [expected]
    conn = JsonRpcConnection(max_line_bytes=100)
    assert feed(conn, data[:-1]) == []
    assert feed(conn, b"\n") == [expected]
    # And as a final unterminated line.
    conn = JsonRpcConnection(max_line_bytes=100)
    assert feed(conn, data[:-1]) == []
    assert conn.receive_eof() == [expected]


def test_complete_oversized_line_is_one_protocol_error() -> None:
    conn = JsonRpcConnection(max_line_bytes=100)
    data = sized_line(101)
    events = feed(conn, data + NOTIFY)
    error = protocol_error(events[:1])
    assert "exceeds the limit of 100 bytes" in error.reason
    assert error.preview == data[:-1]
    assert events[1:] == [NOTIFY_EVENT]


def test_oversized_line_preview_is_bounded() -> None:
    conn = JsonRpcConnection(max_line_bytes=300)
    data = sized_line(1000)
    error = protocol_error(feed(conn, data))
    assert error.preview == data[:PREVIEW_BYTES]


def test_oversized_short_line_preview_does_not_leak_the_next_lines() -> None:
    # With a limit below PREVIEW_BYTES, the preview is still only the offending line.
    conn = JsonRpcConnection(max_line_bytes=5)
    events = feed(conn, b'{"method":"a"}\n{"id":1,"method":"b"}\n1\n')
    assert [e.preview for e in events if isinstance(e, ProtocolError)] == [
        b'{"method":"a"}',
        b'{"id":1,"method":"b"}',
        b"1",
    ]
    assert len(events) == 3


@pytest.mark.parametrize("chunk_size", [1, 2, 7, 64, 99, 100, 101, 150])
def test_oversized_line_in_small_chunks_is_one_protocol_error(chunk_size: int) -> None:
    conn = JsonRpcConnection(max_line_bytes=100)
    data = sized_line(1000) + NOTIFY
    chunks = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)]
    events: list[Event] = []
    for chunk in chunks:
        events.extend(conn.receive_data(chunk))
        # Memory stays bounded by the limit while the line is skipped.
        assert len(conn._buffer) <= 100
    assert len(events) == 2
    error = protocol_error(events[:1])
    # The preview is what was buffered when the limit was crossed, at most PREVIEW_BYTES.
    assert data.startswith(error.preview)
    assert len(error.preview) > 100
    assert events[1] == NOTIFY_EVENT
    assert conn.receive_eof() == []


def test_oversized_partial_line_is_reported_before_its_newline_arrives() -> None:
    conn = JsonRpcConnection(max_line_bytes=30)
    assert feed(conn, b"x" * 30) == []
    error = protocol_error(feed(conn, b"x"))
    assert error.preview == b"x" * 31
    assert "at least 31 bytes" in error.reason
    assert feed(conn, b"x" * 50) == []
    assert feed(conn, b"x" * 5 + b"\n" + NOTIFY) == [NOTIFY_EVENT]


def test_several_oversized_lines_each_give_one_error() -> None:
    conn = JsonRpcConnection(max_line_bytes=50)
    big = sized_line(200)
    data = big + NOTIFY + big + big + NOTIFY
    for chunked in (False, True):
        conn = JsonRpcConnection(max_line_bytes=50)
        chunks = [data[i : i + 3] for i in range(0, len(data), 3)] if chunked else [data]
        events = feed(conn, *chunks)
        assert [type(e) for e in events] == [
            ProtocolError,
            Notification,
            ProtocolError,
            ProtocolError,
            Notification,
        ]


# --------------------------------------------------------------------------- end of stream


def test_eof_with_nothing_buffered() -> None:
    conn = JsonRpcConnection()
    assert conn.receive_eof() == []
    feed(conn, NOTIFY)
    assert conn.receive_eof() == []


def test_eof_parses_a_valid_trailing_line() -> None:
    conn = JsonRpcConnection()
    conn.send_request("m")
    assert feed(conn, NOTIFY + b'{"id": 0, "res', b'ult": 5}') == [NOTIFY_EVENT]
    assert conn.receive_eof() == [Response(0, 5, "m")]
    assert conn.receive_eof() == []
    assert dict(conn.pending) == {}


def test_eof_trailing_line_with_carriage_return() -> None:
    conn = JsonRpcConnection()
    feed(conn, b'{"method": "x"}\r')
    assert conn.receive_eof() == [Notification("x", None, {"method": "x"})]


def test_eof_with_an_invalid_trailing_line() -> None:
    conn = JsonRpcConnection()
    feed(conn, b'{"method": "trunc')
    error = protocol_error(conn.receive_eof())
    assert error.preview == b'{"method": "trunc'
    assert conn.receive_eof() == []


def test_eof_with_only_whitespace_buffered() -> None:
    conn = JsonRpcConnection()
    feed(conn, b"  \r")
    assert conn.receive_eof() == []


def test_eof_in_discard_mode_reports_nothing_more() -> None:
    conn = JsonRpcConnection(max_line_bytes=30)
    protocol_error(feed(conn, b'{"method": "far too long, really far"'))
    assert feed(conn, b'"}') == []  # still part of the discarded line
    assert conn.receive_eof() == []
    # The discard state does not outlive the end of the stream.
    assert feed(conn, NOTIFY) == [NOTIFY_EVENT]
