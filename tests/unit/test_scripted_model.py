"""ScriptedModel and the offline config helpers, driven by a raw anyio TCP client.

Every step's exact event sequence, the recording, the script modes, the HTTP edge cases
(keep-alive, chunked and compressed bodies, garbage) and the lifecycle, on asyncio and trio.
"""

from __future__ import annotations

import gzip
import json
import os
import tomllib
import zlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from codex_manager_core.testing import (
    CallTool,
    CutStream,
    Delay,
    Fail,
    FailResponse,
    RecordedRequest,
    Reply,
    ScriptedModel,
    Stall,
    Step,
    exec_command,
    offline_env,
    write_offline_config,
)
from codex_manager_core.testing.offline_config import toml_string
from codex_manager_core.testing.scripted_model import USAGE
from codex_manager_core.testing.scripted_model._responses_api import split_evenly

TIMEOUT = 5.0
Event = dict[str, Any]


# ------------------------------------------------------------------ a raw HTTP client


@attrs.define
class Response:
    status: int
    headers: dict[str, str]
    body: bytes = b""

    def events(self) -> list[Event]:
        return parse_sse(self.body)


class ServerClosed(Exception):
    """The server closed the connection."""


class RawClient:
    """A deliberately dumb HTTP/1.1 client: bytes in, parsed bytes out."""

    def __init__(self, stream: anyio.abc.SocketStream) -> None:
        self.stream = stream
        self.buffer = bytearray()

    async def send(self, data: bytes) -> None:
        await self.stream.send(data)

    async def _fill(self) -> None:
        try:
            data = await self.stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError) as exc:
            raise ServerClosed from exc
        self.buffer += data

    async def read_until(self, delimiter: bytes) -> bytes:
        while (index := self.buffer.find(delimiter)) < 0:
            await self._fill()
        data = bytes(self.buffer[:index])
        del self.buffer[: index + len(delimiter)]
        return data

    async def read_exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            await self._fill()
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    async def read_head(self) -> Response:
        head = await self.read_until(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        version, status, _reason = status_line.split(" ", 2)
        assert version == "HTTP/1.1", status_line
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.lower()] = value.strip()
        return Response(int(status), headers)

    async def read_chunk(self) -> bytes | None:
        """The next chunk of a chunked body, None after the last one."""
        size = int(await self.read_until(b"\r\n"), 16)
        if size == 0:
            assert await self.read_until(b"\r\n") == b""
            return None
        data = await self.read_exactly(size)
        assert await self.read_exactly(2) == b"\r\n"
        return data

    async def read_events(self, count: int) -> list[Event]:
        """The next `count` SSE events of a chunked event stream (one event per chunk)."""
        events: list[Event] = []
        while len(events) < count:
            chunk = await self.read_chunk()
            assert chunk is not None, f"the stream ended after {events}"
            events += parse_sse(chunk)
        return events

    async def read_response(self) -> Response:
        response = await self.read_head()
        if response.headers.get("transfer-encoding") == "chunked":
            chunks = []
            while (chunk := await self.read_chunk()) is not None:
                chunks.append(chunk)
            response.body = b"".join(chunks)
        elif "content-length" in response.headers:
            response.body = await self.read_exactly(int(response.headers["content-length"]))
        else:
            response.body = await self.read_to_eof()
        return response

    async def read_to_eof(self) -> bytes:
        try:
            while True:
                await self._fill()
        except ServerClosed:
            pass
        data = bytes(self.buffer)
        self.buffer.clear()
        return data

    async def expect_closed(self) -> None:
        """Assert that the server closes the connection without sending anything more."""
        assert await self.read_to_eof() == b""


@asynccontextmanager
async def connect(model: ScriptedModel) -> AsyncIterator[RawClient]:
    stream = await anyio.connect_tcp("127.0.0.1", model.port)
    async with stream:
        yield RawClient(stream)


def post(
    body: Mapping[str, Any] | bytes | None = None,
    *,
    path: str = "/v1/responses",
    method: str = "POST",
    headers: Mapping[str, str] | None = None,
    version: str = "HTTP/1.1",
) -> bytes:
    """The bytes of a request; a mapping body is JSON-encoded, with a Content-Length."""
    if body is None:
        body = user_body("hi")
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    all_headers = {"host": "127.0.0.1", "content-type": "application/json"}
    if not any(name.lower() == "transfer-encoding" for name in headers or {}):
        all_headers["content-length"] = str(len(payload))
    all_headers.update(headers or {})
    head = f"{method} {path} {version}\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in all_headers.items()
    )
    return head.encode("latin-1") + b"\r\n" + payload


def user_body(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "model": "mock-model",
        "stream": True,
        "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
        ],
        **extra,
    }


def parse_sse(data: bytes) -> list[Event]:
    """Parse `event: T\\ndata: JSON\\n\\n` frames, checking that T is the payload's type."""
    events = []
    text = data.decode()
    assert text == "" or text.endswith("\n\n"), text
    for frame in filter(None, text.split("\n\n")):
        event_line, data_line = frame.split("\n")
        assert event_line.startswith("event: "), frame
        assert data_line.startswith("data: "), frame
        payload = json.loads(data_line.removeprefix("data: "))
        assert payload["type"] == event_line.removeprefix("event: ")
        events.append(payload)
    return events


async def exchange(model: ScriptedModel, request: bytes | None = None) -> Response:
    """One request on a fresh connection, its complete response."""
    async with connect(model) as client:
        await client.send(request if request is not None else post())
        with anyio.fail_after(TIMEOUT):
            return await client.read_response()


def types(events: list[Event]) -> list[str]:
    return [event["type"] for event in events]


# ----------------------------------------------------------------------- the steps


@pytest.mark.anyio
async def test_reply_streams_the_exact_event_sequence() -> None:
    async with ScriptedModel([Reply("Hello world", chunks=3)]) as model:
        response = await exchange(model)

    assert response.status == 200
    assert response.headers["content-type"] == "text/event-stream"
    assert response.headers["transfer-encoding"] == "chunked"
    events = response.events()
    response_id = events[0]["response"]["id"]
    message_id = events[1]["item"]["id"]
    assert response_id != message_id
    delta = {
        "type": "response.output_text.delta",
        "item_id": message_id,
        "output_index": 0,
        "content_index": 0,
    }
    assert events == [
        {"type": "response.created", "response": {"id": response_id}},
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {"type": "message", "role": "assistant", "id": message_id, "content": []},
        },
        {**delta, "delta": "Hell"},
        {**delta, "delta": "o wo"},
        {**delta, "delta": "rld"},
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": {
                "type": "message",
                "role": "assistant",
                "id": message_id,
                "content": [{"type": "output_text", "text": "Hello world"}],
            },
        },
        {"type": "response.completed", "response": {"id": response_id, "usage": dict(USAGE)}},
    ]
    assert USAGE["total_tokens"] == USAGE["input_tokens"] + USAGE["output_tokens"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("text", "chunks", "deltas"),
    [("x", 1, ["x"]), ("abcdefg", 3, ["abc", "de", "fg"]), ("ab", 5, ["a", "b"]), ("", 3, [])],
)
async def test_reply_splits_text_evenly(text: str, chunks: int, deltas: list[str]) -> None:
    async with ScriptedModel([Reply(text, chunks=chunks)]) as model:
        events = (await exchange(model)).events()
    assert [e["delta"] for e in events if e["type"] == "response.output_text.delta"] == deltas
    assert events[-2]["item"]["content"] == [{"type": "output_text", "text": text}]
    assert events[-1]["type"] == "response.completed"


@given(st.text(max_size=50), st.integers(min_value=1, max_value=60))
def test_split_evenly_properties(text: str, chunks: int) -> None:
    pieces = split_evenly(text, chunks)
    assert "".join(pieces) == text
    assert len(pieces) == min(chunks, len(text))
    assert all(pieces)
    if pieces:
        assert max(map(len, pieces)) - min(map(len, pieces)) <= 1


@pytest.mark.anyio
async def test_reply_delay_paces_the_deltas() -> None:
    model = ScriptedModel([Reply("abcd", chunks=4, delay=0.05)])
    async with model, connect(model) as client:
        await client.send(post())
        with anyio.fail_after(TIMEOUT):
            await client.read_head()
            await client.read_events(3)  # created, added, first delta
            started = anyio.current_time()
            await client.read_events(3)  # the other deltas, 0.05 s apart
            elapsed = anyio.current_time() - started
            assert types(await client.read_events(2)) == [
                "response.output_item.done",
                "response.completed",
            ]
    assert elapsed >= 0.14


@pytest.mark.anyio
async def test_call_tool_streams_a_function_call() -> None:
    async with ScriptedModel([CallTool("my_tool", {"x": 1})]) as model:
        events = (await exchange(model)).events()

    response_id = events[0]["response"]["id"]
    item = events[2]["item"]
    assert item == {
        "type": "function_call",
        "id": item["id"],
        "call_id": item["call_id"],
        "name": "my_tool",
        "arguments": '{"x": 1}',
    }
    assert json.loads(item["arguments"]) == {"x": 1}
    assert item["id"].startswith("fc_")
    assert item["call_id"].startswith("call_")
    assert events == [
        {"type": "response.created", "response": {"id": response_id}},
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {**item, "arguments": ""},
        },
        {"type": "response.output_item.done", "output_index": 0, "item": item},
        {"type": "response.completed", "response": {"id": response_id, "usage": dict(USAGE)}},
    ]


@pytest.mark.anyio
async def test_call_tool_ids_are_unique_and_explicit_ones_are_kept() -> None:
    steps: list[Step] = [CallTool("a"), CallTool("a"), CallTool("b", '{"raw": ', call_id="mine")]
    async with ScriptedModel(steps) as model, ScriptedModel(steps[:1]) as other:
        items = [(await exchange(model)).events()[2]["item"] for _ in steps]
        other_item = (await exchange(other)).events()[2]["item"]

    ids = [item["id"] for item in [*items, other_item]]
    call_ids = [item["call_id"] for item in [*items, other_item]]
    assert len(set(ids)) == 4
    assert len(set(call_ids)) == 4  # unique across servers too
    assert call_ids[2] == "mine"
    assert items[0]["arguments"] == "{}"
    assert items[2]["arguments"] == '{"raw": '  # a str is sent verbatim, even malformed


def test_exec_command_builds_the_escalated_call() -> None:
    step = exec_command("rm -rf build", justification="clean the build", call_id="c1")
    assert (step.name, step.call_id) == ("exec_command", "c1")
    assert json.loads(step.arguments) == {
        "cmd": "rm -rf build",
        "sandbox_permissions": "require_escalated",
        "justification": "clean the build",
    }
    plain = exec_command("ls", escalate=False)
    assert json.loads(plain.arguments) == {"cmd": "ls"}
    assert plain.call_id is None
    assert "justification" in json.loads(exec_command("ls").arguments)


@pytest.mark.anyio
async def test_fail_answers_a_plain_http_error_and_keeps_the_connection() -> None:
    async with ScriptedModel([Fail(503, "down for maintenance"), Fail(), Reply("ok")]) as model:
        async with connect(model) as client:
            with anyio.fail_after(TIMEOUT):
                await client.send(post())
                first = await client.read_response()
                await client.send(post())
                second = await client.read_response()
                await client.send(post())
                third = await client.read_response()
        assert model.errors == []  # scripted failures are not problems

    assert (first.status, first.body) == (503, b"down for maintenance")
    assert first.headers["content-type"] == "text/plain; charset=utf-8"
    assert first.headers["connection"] == "keep-alive"
    assert (second.status, second.body) == (500, b"scripted failure")
    assert third.status == 200
    assert third.events()[-1]["type"] == "response.completed"


@pytest.mark.anyio
async def test_fail_with_a_json_body_says_so() -> None:
    body = json.dumps({"error": {"message": "quota", "type": "insufficient_quota"}})
    async with ScriptedModel([Fail(429, body)]) as model:
        response = await exchange(model)
    assert response.status == 429
    assert response.headers["content-type"] == "application/json"
    assert json.loads(response.body) == json.loads(body)


@pytest.mark.anyio
async def test_fail_response_streams_response_failed() -> None:
    async with ScriptedModel(
        [FailResponse("the model broke", code="rate_limit_exceeded")]
    ) as model:
        response = await exchange(model)
    events = response.events()
    response_id = events[0]["response"]["id"]
    assert response.status == 200
    assert events == [
        {"type": "response.created", "response": {"id": response_id}},
        {
            "type": "response.failed",
            "response": {
                "id": response_id,
                "status": "failed",
                "error": {"code": "rate_limit_exceeded", "message": "the model broke"},
            },
        },
    ]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (
            CutStream(),
            ["response.created", "response.output_item.added", "response.output_text.delta"],
        ),
        (CutStream(""), ["response.created"]),
    ],
)
async def test_cut_stream_drops_the_connection_mid_body(
    step: CutStream, expected: list[str]
) -> None:
    async with ScriptedModel([step]) as model, connect(model) as client:
        await client.send(post())
        with anyio.fail_after(TIMEOUT):
            assert (await client.read_head()).status == 200
            events = await client.read_events(len(expected))
            await client.expect_closed()  # no response.completed, no last chunk
    assert types(events) == expected
    if step.text:
        assert events[-1]["delta"] == step.text


@pytest.mark.anyio
async def test_stall_hangs_until_the_client_disconnects() -> None:
    async with ScriptedModel([Stall("thinking")]) as model:
        async with connect(model) as client:
            await client.send(post())
            with anyio.fail_after(TIMEOUT):
                await client.read_head()
                events = await client.read_events(3)
            with anyio.move_on_after(0.2) as quiet:
                await client.read_events(1)
            assert quiet.cancelled_caught, "a stall must not send anything more"
            assert model.open_connections == 1
        # The client is gone: the server notices and ends the stall and the connection.
        assert await model._wait_until(lambda: model.open_connections == 0, TIMEOUT), (
            "the server did not notice that the client of a stalled answer went away"
        )
    assert types(events) == [
        "response.created",
        "response.output_item.added",
        "response.output_text.delta",
    ]
    assert events[2]["delta"] == "thinking"


@pytest.mark.anyio
async def test_stall_with_seconds_drops_the_connection_afterwards() -> None:
    async with ScriptedModel([Stall(seconds=0.1)]) as model, connect(model) as client:
        # Timed from the request: the stall begins once the first event is sent, which may be
        # well before this client (on a loaded machine) gets to read it.
        started = anyio.current_time()
        await client.send(post())
        with anyio.fail_after(TIMEOUT):
            await client.read_head()
            assert types(await client.read_events(1)) == ["response.created"]
            await client.expect_closed()
            assert anyio.current_time() - started >= 0.1


@pytest.mark.anyio
async def test_closing_the_server_ends_a_stall() -> None:
    model = ScriptedModel([Stall()])
    with anyio.fail_after(TIMEOUT):  # aclose must not hang on the stalled answer
        await model.start()
        async with connect(model) as client:
            await client.send(post())
            await client.read_head()
            await client.read_events(1)
            await model.aclose()
            await client.expect_closed()
    assert model.open_connections == 0


@pytest.mark.anyio
async def test_delay_waits_before_the_step() -> None:
    async with ScriptedModel([Delay(0.15, Delay(0.05, Reply("late")))]) as model:
        started = anyio.current_time()
        response = await exchange(model)
        elapsed = anyio.current_time() - started
    assert elapsed >= 0.19
    assert response.events()[-2]["item"]["content"][0]["text"] == "late"


def test_steps_validate_their_fields() -> None:
    with pytest.raises(ValueError, match="chunks"):
        Reply("x", chunks=0)
    with pytest.raises(ValueError, match="delay"):
        Reply("x", delay=-1)
    with pytest.raises(ValueError, match="status"):
        Fail(200)
    with pytest.raises(ValueError, match="seconds"):
        Delay(float("nan"), Reply("x"))
    with pytest.raises(ValueError, match="seconds"):
        Stall(seconds=-0.5)
    with pytest.raises(TypeError):
        CallTool("t", {"not json": object()})
    with pytest.raises(TypeError, match="not a step"):
        ScriptedModel([Reply("x"), "Hello"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="iterable of steps"):
        ScriptedModel(Reply("x"))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="function"):
        ScriptedModel(lambda request: Reply("x")).add(Reply("y"))
    assert CallTool("t", {"a": [1, 2]}) == CallTool("t", '{"a": [1, 2]}')


# ------------------------------------------------------------------- the recording


@pytest.mark.anyio
async def test_requests_are_recorded_with_lower_cased_headers() -> None:
    body = user_body("hello there", tools=[{"type": "function", "name": "exec_command"}])
    request = post(body, path="/v1/responses?trace=1", headers={"Session-ID": "s-1", "X-Dup": "a"})
    request = request.replace(b"X-Dup: a\r\n", b"X-Dup: a\r\nx-dup: b\r\n")
    async with ScriptedModel([Reply("one")]) as model:
        assert (await exchange(model, request)).status == 200
        [recorded] = await model.wait_for_requests(1, timeout=TIMEOUT)

    assert recorded.method == "POST"
    assert recorded.path == "/v1/responses?trace=1"
    assert recorded.body == body
    assert recorded.headers["session-id"] == "s-1"
    assert recorded.headers["x-dup"] == "a, b"
    assert recorded.headers["content-type"] == "application/json"
    assert all(name == name.lower() for name in recorded.headers)
    assert recorded.model == "mock-model"
    assert recorded.tool_names == ["exec_command"]
    assert recorded.last_user_text == "hello there"
    assert model.requests == [recorded]


def test_recorded_request_convenience_properties() -> None:
    body = {
        "model": "mock-model",
        "tools": [
            {"type": "function", "name": "exec_command", "parameters": {}},
            {"type": "web_search"},
            "junk",
        ],
        "input": [
            {
                "type": "message",
                "role": "developer",
                "content": [{"type": "input_text", "text": "rules"}],
            },
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "<env/>"}],
            },
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "first "},
                    {"type": "input_image", "image_url": "data:..."},
                    {"type": "input_text", "text": "second"},
                ],
            },
            {"type": "function_call", "call_id": "c1", "name": "exec_command", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "exit 0"},
            {"type": "function_call", "call_id": "c2", "name": "lookup", "arguments": "{}"},
            {
                "type": "function_call_output",
                "call_id": "c2",
                "output": [
                    {"type": "input_text", "text": "v1"},
                    {"type": "input_text", "text": "v2"},
                ],
            },
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "ok"}],
            },
        ],
    }
    request = RecordedRequest("POST", "/v1/responses", {}, body)
    assert request.model == "mock-model"
    assert request.tools == body["tools"][:2]
    assert request.tool_names == ["exec_command", "web_search"]
    assert request.input == body["input"]
    assert request.last_user_text == "first second"
    assert [item["call_id"] for item in request.function_call_outputs] == ["c1", "c2"]
    assert request.output_for("c1") == "exit 0"
    assert request.output_for("c2") == "v1v2"
    assert request.output_for("nope") is None

    empty = RecordedRequest("POST", "/v1/responses", {}, {"input": "not a list", "model": 3})
    assert (empty.model, empty.tools, empty.tool_names, empty.input) == (None, [], [], [])
    assert empty.last_user_text is None
    assert empty.function_call_outputs == []


# ---------------------------------------------------------------- the script modes


@pytest.mark.anyio
async def test_function_script_answers_each_request() -> None:
    seen: list[RecordedRequest] = []

    def echo(request: RecordedRequest) -> Step:
        seen.append(request)
        return Reply(f"echo: {request.last_user_text}")

    async with ScriptedModel(echo) as model:
        texts = [
            (await exchange(model, post(user_body(word)))).events()[-2]["item"]["content"][0][
                "text"
            ]
            for word in ("one", "two")
        ]
        assert model.remaining_steps is None
        assert model.requests == seen
    assert texts == ["echo: one", "echo: two"]


@pytest.mark.anyio
async def test_async_function_script() -> None:
    async def script(request: RecordedRequest) -> Step:
        await anyio.lowlevel.checkpoint()
        return CallTool("lookup", {"q": request.last_user_text})

    async with ScriptedModel(script) as model:
        item = (await exchange(model, post(user_body("abc")))).events()[2]["item"]
    assert json.loads(item["arguments"]) == {"q": "abc"}


@pytest.mark.anyio
async def test_a_failing_function_script_answers_500_and_is_recorded() -> None:
    def script(request: RecordedRequest) -> Step:
        if request.last_user_text == "boom":
            raise RuntimeError("kaput")
        return "not a step"  # type: ignore[return-value]

    async with ScriptedModel(script) as model:
        raised = await exchange(model, post(user_body("boom")))
        wrong = await exchange(model, post(user_body("other")))
        errors = model.errors
        assert len(model.requests) == 2

    assert (raised.status, wrong.status) == (500, 500)
    assert "RuntimeError('kaput')" in errors[0]
    assert "'boom'" in errors[0]
    assert "not a step" in errors[1]
    assert raised.body.decode().strip() == errors[0]


@pytest.mark.anyio
async def test_exhausted_script_answers_500_and_records_an_error() -> None:
    async with ScriptedModel([Reply("only one")]) as model:
        assert model.remaining_steps == 1
        assert (await exchange(model)).status == 200
        assert model.remaining_steps == 0
        exhausted = await exchange(model, post(user_body("one more")))
        assert exhausted.status == 500
        assert b"script exhausted" in exhausted.body
        assert len(model.errors) == 1
        assert "script exhausted" in model.errors[0]
        assert "'one more'" in model.errors[0]
        assert len(model.requests) == 2  # the request itself is still recorded

        model.add(Reply("refilled"))
        assert (await exchange(model)).status == 200
        assert len(model.errors) == 1


@pytest.mark.anyio
async def test_steps_are_consumed_in_arrival_order() -> None:
    async with ScriptedModel([Reply("first"), Fail(502), CallTool("x")]) as model:
        statuses = [(await exchange(model)).status for _ in range(3)]
        assert statuses == [200, 502, 200]


# ----------------------------------------------------------------------- HTTP details


@pytest.mark.anyio
async def test_keep_alive_serves_many_requests_on_one_connection() -> None:
    async with ScriptedModel(
        [Reply("a", chunks=2), CallTool("t"), FailResponse(), Reply("b")]
    ) as model:
        async with connect(model) as client:
            with anyio.fail_after(TIMEOUT):
                answers = []
                for _ in range(4):
                    await client.send(post())
                    answers.append(await client.read_response())
        assert model.open_connections <= 1
        assert len(model.requests) == 4
    assert [a.headers["connection"] for a in answers] == ["keep-alive"] * 4
    assert [a.events()[-1]["type"] for a in answers] == [
        "response.completed",
        "response.completed",
        "response.failed",
        "response.completed",
    ]


@pytest.mark.anyio
async def test_pipelined_requests_are_answered_in_order() -> None:
    model = ScriptedModel(lambda request: Reply(str(request.last_user_text)))
    async with model, connect(model) as client:
        await client.send(post(user_body("one")) + post(user_body("two")))
        with anyio.fail_after(TIMEOUT):
            first = await client.read_response()
            second = await client.read_response()
    assert first.events()[-2]["item"]["content"][0]["text"] == "one"
    assert second.events()[-2]["item"]["content"][0]["text"] == "two"


@pytest.mark.anyio
async def test_pipelined_requests_wait_for_a_streamed_answer_then_an_error_answer() -> None:
    # The second and third requests arrive while the first answer is still streaming; h11
    # keeps them until that answer is complete, then each is answered in turn.
    async with ScriptedModel([Reply("slow", chunks=4, delay=0.05), Fail(503)]) as model:
        async with connect(model) as client:
            await client.send(post(user_body("one")))
            with anyio.fail_after(TIMEOUT):
                first_head = await client.read_head()
                first_events = await client.read_events(2)
                await client.send(post(user_body("two")) + post(path="/v1/other"))
                while (chunk := await client.read_chunk()) is not None:
                    first_events += parse_sse(chunk)
                second = await client.read_response()
                third = await client.read_response()
                await client.send(post(user_body("four")))  # the script is now exhausted
                fourth = await client.read_response()
        assert [request.last_user_text for request in model.requests] == ["one", "two", "four"]
        assert model.errors[0] == "unexpected request POST /v1/other: answered 404"
        assert model.errors[1].startswith("script exhausted: request #3")
    assert first_head.status == 200
    assert "".join(e["delta"] for e in first_events if "delta" in e) == "slow"
    assert first_events[-1]["type"] == "response.completed"
    assert (second.status, third.status, fourth.status) == (503, 404, 500)
    assert [r.headers["connection"] for r in (second, third, fourth)] == ["keep-alive"] * 3


@pytest.mark.anyio
async def test_a_pipelined_request_after_connection_close_is_not_answered() -> None:
    async with ScriptedModel([Reply("last"), Reply("unused")]) as model:
        async with connect(model) as client:
            await client.send(post(headers={"Connection": "close"}) + post())
            with anyio.fail_after(TIMEOUT):
                response = await client.read_response()
                await client.expect_closed()
        assert response.headers["connection"] == "close"
        assert len(model.requests) == 1
        assert model.remaining_steps == 1
        assert model.errors == []


@pytest.mark.anyio
async def test_a_malformed_request_after_a_good_one_closes_only_that_connection() -> None:
    async with ScriptedModel([Reply("first"), Reply("elsewhere")]) as model:
        async with connect(model) as client, connect(model) as other:
            with anyio.fail_after(TIMEOUT):
                await client.send(post())
                assert (await client.read_response()).status == 200
                await client.send(b"NOT HTTP AT ALL\r\n\r\n")
                refused = await client.read_response()
                await client.expect_closed()
                await other.send(post())  # opened before the bad request, still served
                assert (await other.read_response()).status == 200
        assert refused.status == 400
        assert refused.headers["connection"] == "close"
        assert b"illegal request line: b'NOT HTTP AT ALL'" in refused.body
        assert model.errors == [
            "bad request answered 400: malformed request: illegal request line: b'NOT HTTP AT ALL'"
        ]


@pytest.mark.anyio
async def test_a_client_that_disconnects_mid_stream_ends_the_answer_quietly() -> None:
    # A reply paced slowly enough that the client leaves after the first delta: the server
    # stops (no error: clients abandon answers on interrupt), frees the connection and
    # keeps serving.
    async with ScriptedModel([Reply("abcdefghij", chunks=10, delay=0.2), Reply("next")]) as model:
        async with connect(model) as client:
            await client.send(post())
            with anyio.fail_after(TIMEOUT):
                await client.read_head()
                events = await client.read_events(3)
        assert types(events)[-1] == "response.output_text.delta"
        assert await model._wait_until(lambda: model.open_connections == 0, TIMEOUT), (
            "the server did not notice that the client went away mid-stream"
        )
        assert model.errors == []
        response = await exchange(model)
        assert response.events()[-2]["item"]["content"][0]["text"] == "next"


@pytest.mark.anyio
async def test_identical_content_length_values_are_accepted() -> None:
    # RFC 9112 6.3 lets a recipient take `Content-Length: 2, 2` as 2 (h11 does); different
    # values are refused (see the malformed-request table).
    payload = json.dumps(user_body("twice")).encode()
    length = len(payload)
    request = (
        b"POST /v1/responses HTTP/1.1\r\nHost: x\r\n"
        + f"Content-Length: {length}, {length}\r\n\r\n".encode()
        + payload
    )
    async with ScriptedModel([Reply("ok")]) as model:
        assert (await exchange(model, request)).status == 200
        assert model.requests[0].last_user_text == "twice"


@pytest.mark.anyio
async def test_connection_close_is_honoured() -> None:
    async with ScriptedModel([Reply("bye")]) as model, connect(model) as client:
        await client.send(post(headers={"Connection": "close"}))
        with anyio.fail_after(TIMEOUT):
            response = await client.read_response()
            await client.expect_closed()
    assert response.headers["connection"] == "close"
    assert response.events()[-1]["type"] == "response.completed"


@pytest.mark.anyio
async def test_http_1_0_gets_a_close_delimited_stream() -> None:
    async with ScriptedModel([Reply("old client")]) as model:
        response = await exchange(model, post(version="HTTP/1.0"))
    assert "transfer-encoding" not in response.headers
    assert response.headers["connection"] == "close"
    assert types(response.events()) == [
        "response.created",
        "response.output_item.added",
        "response.output_text.delta",
        "response.output_item.done",
        "response.completed",
    ]


@pytest.mark.anyio
async def test_chunked_request_bodies_are_read() -> None:
    payload = json.dumps(user_body("chunked hello")).encode()
    parts = [payload[:10], payload[10:30], payload[30:]]
    body = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(part), part) for part in parts)
    body += b"0\r\nx-trailer: yes\r\n\r\n"
    request = post(body, headers={"Transfer-Encoding": "chunked"})
    async with ScriptedModel([Reply("ok"), Reply("again")]) as model:
        async with connect(model) as client:
            with anyio.fail_after(TIMEOUT):
                await client.send(request)
                assert (await client.read_response()).status == 200
                await client.send(post())  # the connection survived the chunked body
                assert (await client.read_response()).status == 200
        assert model.requests[0].last_user_text == "chunked hello"
        assert model.errors == []


@pytest.mark.anyio
async def test_expect_100_continue_is_answered() -> None:
    payload = json.dumps(user_body("after continue")).encode()
    head = post(payload, headers={"Expect": "100-continue"})[: -len(payload)]
    async with ScriptedModel([Reply("ok")]) as model:
        async with connect(model) as client:
            await client.send(head)
            with anyio.fail_after(TIMEOUT):
                interim = await client.read_head()
                assert interim.status == 100
                await client.send(payload)
                assert (await client.read_response()).status == 200
        assert model.requests[0].last_user_text == "after continue"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data, wbits=-zlib.MAX_WBITS)),
        ("identity", lambda data: data),
    ],
    ids=["gzip", "deflate", "raw-deflate", "identity"],
)
async def test_compressed_request_bodies_are_decoded(encoding: str, compress: Any) -> None:
    body = user_body("compressed hello")
    request = post(compress(json.dumps(body).encode()), headers={"Content-Encoding": encoding})
    async with ScriptedModel([Reply("ok")]) as model:
        assert (await exchange(model, request)).status == 200
        assert model.requests[0].body == body
        assert model.errors == []


@pytest.mark.anyio
async def test_an_unsupported_content_encoding_is_refused_and_recorded() -> None:
    request = post(b"(\xb5/\xfd...", headers={"Content-Encoding": "zstd"})
    async with ScriptedModel([Reply("unused")]) as model:
        response = await exchange(model, request)
        assert response.status == 415
        assert model.requests == []
        assert model.remaining_steps == 1
        [error] = model.errors
    assert "'zstd'" in error
    assert "gzip and deflate" in error


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("request_bytes", "status", "error"),
    [
        (b"HELLO\r\n\r\n", 400, "illegal request line"),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400, "illegal request line"),
        (b"POST /v1/responses HTTP/2.0\r\n\r\n", 400, "unsupported HTTP version"),
        (b"POST /v1/responses HTTP/1.1\r\n\r\n", 400, "Host"),
        (
            b"POST http://x/v1/responses HTTP/1.1\r\nHost: x\r\n\r\n",
            400,
            "malformed request target",
        ),
        (b"POST /v1/responses HTTP/1.1\r\nno colon here\r\n\r\n", 400, "illegal header line"),
        (b"POST /v1/responses HTTP/1.1\r\n folded: x\r\n\r\n", 400, "continuation line"),
        (b"POST /v1/responses HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", 400, "Content-Length"),
        (b"POST /v1/responses HTTP/1.1\r\nContent-Length: 1,2\r\n\r\nx", 400, "Content-Length"),
        (
            b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            400,
            "both",
        ),
        (
            b"POST /v1/responses HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            501,
            "Transfer-Encoding",
        ),
        (
            b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            400,
            "illegal chunk header",
        ),
        (
            b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcd",
            400,
            "malformed chunk footer",
        ),
        (
            b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999999\r\n\r\n",
            413,
            "larger than 64 MiB",
        ),
        (b"POST /v1/responses HTTP/1.1\r\nX: " + b"a" * 70_000 + b"\r\n\r\n", 431, "64 KiB"),
    ],
    ids=[
        "garbage",
        "tls-hello",
        "http2",
        "no-host",
        "absolute-target",
        "no-colon",
        "obs-fold",
        "bad-length",
        "conflicting-lengths",
        "te-and-cl",
        "te-gzip",
        "bad-chunk-size",
        "bad-chunk-end",
        "huge-body",
        "huge-head",
    ],
)
async def test_malformed_requests_get_an_error_and_a_closed_connection(
    request_bytes: bytes, status: int, error: str
) -> None:
    async with ScriptedModel([Reply("still serving")]) as model:
        async with connect(model) as client:
            await client.send(request_bytes)
            with anyio.fail_after(TIMEOUT):
                response = await client.read_response()
                await client.expect_closed()
        assert response.status == status
        assert error in response.body.decode()
        assert len(model.errors) == 1
        assert error in model.errors[0]
        # One bad connection does not affect the next one.
        assert (await exchange(model)).status == 200
        assert model.requests[0].last_user_text == "hi"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("request_bytes", "status", "error"),
    [
        (post(b"{not json"), 400, "not a JSON object"),
        (post(b"[1, 2]"), 400, "not a JSON object"),
        (post(b"[" * 100_000), 400, "not a JSON object"),
        (post(path="/v1/models", method="GET", body=b""), 404, "GET /v1/models"),
        (post(path="/v1/chat/completions"), 404, "POST /v1/chat/completions"),
        (post(method="GET", body=b""), 405, "405"),
        (post(method="PUT"), 405, "405"),
    ],
    ids=["bad-json", "json-array", "deep-json", "models", "chat", "get", "put"],
)
async def test_unexpected_requests_are_answered_recorded_and_the_connection_kept(
    request_bytes: bytes, status: int, error: str
) -> None:
    async with ScriptedModel([Reply("ok")]) as model:
        async with connect(model) as client:
            with anyio.fail_after(TIMEOUT):
                await client.send(request_bytes)
                response = await client.read_response()
                await client.send(post())
                assert (await client.read_response()).status == 200
        assert response.status == status
        assert response.headers["connection"] == "keep-alive"
        if status == 405:
            assert response.headers["allow"] == "POST"
        [recorded_error] = model.errors
        assert error in recorded_error
        assert len(model.requests) == 1


@pytest.mark.anyio
async def test_abrupt_disconnects_do_not_hurt_the_server() -> None:
    async with ScriptedModel([Reply("survivor")]) as model:
        truncated = b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{"
        for junk in (b"", b"POST /v1/resp", truncated):
            async with connect(model) as client:
                if junk:
                    await client.send(junk)
        assert (await exchange(model)).status == 200
        assert model.errors == []  # a client hanging up is not an error
        assert await model._wait_until(lambda: model.open_connections == 0, TIMEOUT)


@pytest.mark.anyio
async def test_binary_garbage_then_a_hang_up_is_recorded_and_harmless() -> None:
    # Bytes that cannot start a request line are refused as soon as they arrive (h11 does
    # not wait for a line end), so this is a malformed request, not just a hang-up.
    async with ScriptedModel([Reply("survivor")]) as model:
        async with connect(model) as client:
            await client.send(b"\x00\xff" * 100)
        assert (await exchange(model)).status == 200
        assert await model._wait_until(lambda: model.errors != [], TIMEOUT)
        assert model.errors == ["bad request answered 400: malformed request: illegal request line"]
        assert await model._wait_until(lambda: model.open_connections == 0, TIMEOUT)


@pytest.mark.anyio
async def test_concurrent_connections_are_served_independently() -> None:
    async with ScriptedModel(
        lambda request: (
            Stall() if request.last_user_text == "stall" else Reply(f"re: {request.last_user_text}")
        )
    ) as model:
        texts: dict[int, str] = {}

        async def one(index: int) -> None:
            response = await exchange(model, post(user_body(f"n{index}")))
            texts[index] = response.events()[-2]["item"]["content"][0]["text"]

        async with connect(model) as stalled:
            await stalled.send(post(user_body("stall")))
            await model.wait_for_requests(1, timeout=TIMEOUT)
            with anyio.fail_after(TIMEOUT):
                async with anyio.create_task_group() as task_group:
                    for index in range(20):
                        task_group.start_soon(one, index)
            # Only the stalled connection is left once the server saw the others close.
            assert await model._wait_until(lambda: model.open_connections == 1, TIMEOUT)
        assert len(model.requests) == 21
    assert texts == {index: f"re: n{index}" for index in range(20)}


# ------------------------------------------------------------------------ lifecycle


@pytest.mark.anyio
async def test_lifecycle_and_base_url() -> None:
    model = ScriptedModel([Reply("x")])
    with pytest.raises(RuntimeError, match="not started"):
        _ = model.base_url
    async with model:
        assert model.base_url == f"http://127.0.0.1:{model.port}/v1"
        assert model.port > 0
        with pytest.raises(RuntimeError, match="once"):
            await model.start()
    await model.aclose()  # idempotent
    with pytest.raises(OSError, match=r"(?i)connect"):  # refused: nobody listens any more
        await anyio.connect_tcp("127.0.0.1", model.port)


@pytest.mark.anyio
async def test_closing_leaves_no_task_and_no_connection_behind() -> None:
    tasks_before = len(anyio.get_running_tasks())
    model = ScriptedModel([Reply("idle afterwards"), Stall(), Delay(60, Reply("never"))])
    with anyio.fail_after(TIMEOUT):
        await model.start()
        async with connect(model) as idle, connect(model) as stalled, connect(model) as delayed:
            await idle.send(post())
            await idle.read_response()  # then stays open, idle, for keep-alive
            await stalled.send(post())
            await stalled.read_head()
            await delayed.send(post())
            await model.wait_for_requests(3, timeout=TIMEOUT)
            assert model.open_connections == 3
            await model.aclose()
            for client in (idle, stalled, delayed):
                await client.read_to_eof()  # the server closed every connection
    assert model.open_connections == 0
    assert len(anyio.get_running_tasks()) == tasks_before


@pytest.mark.anyio
async def test_wait_for_requests_returns_once_they_arrive() -> None:
    async with ScriptedModel([Reply("a"), Reply("b")]) as model:
        got: list[RecordedRequest] = []

        async def waiter() -> None:
            got.extend(await model.wait_for_requests(2, timeout=TIMEOUT))

        async with anyio.create_task_group() as task_group:
            task_group.start_soon(waiter)
            await exchange(model, post(user_body("a")))
            await exchange(model, post(user_body("b")))
    assert [request.last_user_text for request in got] == ["a", "b"]


@pytest.mark.anyio
async def test_wait_for_requests_times_out_with_a_clear_message() -> None:
    async with ScriptedModel([Reply("a")]) as model:
        await exchange(model, post(path="/wrong"))
        with pytest.raises(TimeoutError) as caught:
            await model.wait_for_requests(1, timeout=0.05)
    message = str(caught.value)
    assert "received 0 of the 1 expected request(s) within 0.05 s" in message
    assert model.base_url in message
    assert "POST /wrong" in message  # the errors so far point at the cause


# ----------------------------------------------------------------- offline config


@given(st.text())
def test_toml_string_round_trips_any_text(value: str) -> None:
    assert tomllib.loads(f"key = {toml_string(value)}") == {"key": value}


def test_write_offline_config_writes_the_runtime_notes_config(tmp_path: Path) -> None:
    home = tmp_path / "deep" / "codex-home"
    path = write_offline_config(
        home,
        base_url='http://127.0.0.1:1234/v1?"quoted"\\',
        model="mock-\nmodel",
        approval_policy="on-request",
        sandbox_mode="workspace-write",
    )
    assert path == home / "config.toml"
    assert tomllib.loads(path.read_text(encoding="utf-8")) == {
        "model": "mock-\nmodel",
        "model_provider": "scripted",
        "approval_policy": "on-request",
        "sandbox_mode": "workspace-write",
        "check_for_update_on_startup": False,
        "model_providers": {
            "scripted": {
                "name": "Scripted local model",
                "base_url": 'http://127.0.0.1:1234/v1?"quoted"\\',
                "wire_api": "responses",
                "request_max_retries": 0,
                "stream_max_retries": 0,
                "supports_websockets": False,
            }
        },
        "analytics": {"enabled": False},
        "features": {
            "plugins": False,
            "remote_plugin": False,
            "apps": False,
            "shell_snapshot": False,
            "unbounded_connection_retries": False,
        },
    }
    # Writing again replaces the file (and the existing directory is fine).
    write_offline_config(home, base_url="http://127.0.0.1:1/v1")
    assert tomllib.loads(path.read_text())["model"] == "mock-model"


def test_extra_toml_adds_top_level_keys_and_tables(tmp_path: Path) -> None:
    path = write_offline_config(
        tmp_path,
        base_url="http://127.0.0.1:1/v1",
        extra_toml='model_reasoning_effort = "low"\n\n[mcp_servers.echo]\ncommand = "echo"\n',
    )
    config = tomllib.loads(path.read_text())
    assert config["model_reasoning_effort"] == "low"
    assert config["mcp_servers"] == {"echo": {"command": "echo"}}
    assert config["features"]["plugins"] is False
    assert "model_reasoning_effort" not in config["mcp_servers"]["echo"]

    with pytest.raises(ValueError, match="extra_toml"):
        write_offline_config(tmp_path / "bad", base_url="x", extra_toml="[features]\napps = true")
    assert not (tmp_path / "bad").exists()


def test_offline_env_isolates_codex(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import codex_cli_bin

    base = {"PATH": "/usr/bin", "OPENAI_API_KEY": "sk-real", "CODEX_API_KEY": "k", "KEEP": "1"}
    env = offline_env(Path("relative-home"), base)
    assert env["CODEX_HOME"] == str(Path("relative-home").absolute())
    assert "OPENAI_API_KEY" not in env
    assert "CODEX_API_KEY" not in env
    assert env["KEEP"] == "1"
    path_dir = codex_cli_bin.bundled_path_dir()
    assert path_dir is not None
    assert env["PATH"] == f"{path_dir}{os.pathsep}/usr/bin"
    assert base["OPENAI_API_KEY"] == "sk-real"  # the input is not modified

    assert offline_env(tmp_path, {})["PATH"] == str(path_dir)

    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-os")
    monkeypatch.setenv("SOMETHING_ELSE", "yes")
    from_os = offline_env(tmp_path)
    assert "OPENAI_API_KEY" not in from_os
    assert from_os["SOMETHING_ELSE"] == "yes"
    assert from_os["CODEX_HOME"] == str(tmp_path)
