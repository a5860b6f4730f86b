"""How a step becomes an answer of the OpenAI Responses API: Server-Sent Events, in order.

The event sequences follow what `codex app-server` expects of a `wire_api = "responses"`
provider (see shared/runtime-notes.md): `response.created`, the output items with their
deltas, then `response.completed` with usage, or `response.failed`; or, on purpose, a plain
HTTP error, a stream cut short, or a stream that stalls. The HTTP framing is
`_http.HttpConnection`'s; this module decides only what is said and when.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Final

import anyio

from codex_manager_core.testing.scripted_model._http import HttpConnection
from codex_manager_core.testing.scripted_model._steps import (
    CallTool,
    CutStream,
    Delay,
    Fail,
    FailResponse,
    Reply,
    Stall,
    Step,
)

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

#: Makes a new id with the given prefix (`resp`, `msg`, `fc`, `call`), unique per server.
NewId = Callable[[str], str]


def sse_frame(payload: Mapping[str, Any]) -> bytes:
    """One event: its `type` as the SSE event name, the payload as JSON data."""
    return f"event: {payload['type']}\ndata: {json.dumps(payload)}\n\n".encode()


async def perform(conn: HttpConnection, step: Step, *, keep_alive: bool, new_id: NewId) -> None:
    """Carry out `step` as the answer on `conn`. Whether the connection can serve another
    request afterwards is for `conn.next_cycle()` to say: a cut or stalled stream leaves its
    answer unfinished, so it cannot."""
    if isinstance(step, Delay):
        await anyio.sleep(step.seconds)
        await perform(conn, step.step, keep_alive=keep_alive, new_id=new_id)
        return
    if isinstance(step, Fail):
        await conn.send_simple(step.status, step.body, keep_alive=keep_alive)
        return

    async def send(payload: Mapping[str, Any]) -> None:
        await conn.send_body(sse_frame(payload))

    await conn.start_stream(keep_alive=keep_alive)
    response_id = new_id("resp")
    await send({"type": "response.created", "response": {"id": response_id}})
    completed = {
        "type": "response.completed",
        "response": {"id": response_id, "usage": dict(USAGE)},
    }

    if isinstance(step, Reply):
        message_id = await _start_message(send, new_id)
        for index, piece in enumerate(split_evenly(step.text, step.chunks)):
            if index and step.delay:
                await anyio.sleep(step.delay)
            await send(_text_delta(message_id, piece))
        await send(
            {
                "type": "response.output_item.done",
                "output_index": 0,
                "item": _message_item(message_id, step.text),
            }
        )
        await send(completed)
        await conn.end_body()
        return

    if isinstance(step, CallTool):
        item = {
            "type": "function_call",
            "id": new_id("fc"),
            "call_id": step.call_id if step.call_id is not None else new_id("call"),
            "name": step.name,
            "arguments": step.arguments,
        }
        await send(
            {
                "type": "response.output_item.added",
                "output_index": 0,
                "item": {**item, "arguments": ""},
            }
        )
        await send({"type": "response.output_item.done", "output_index": 0, "item": item})
        await send(completed)
        await conn.end_body()
        return

    if isinstance(step, FailResponse):
        await send(
            {
                "type": "response.failed",
                "response": {
                    "id": response_id,
                    "status": "failed",
                    "error": {"code": step.code, "message": step.message},
                },
            }
        )
        await conn.end_body()
        return

    # CutStream and Stall: a reply that never completes; the connection is then dropped.
    if isinstance(step, CutStream | Stall) and step.text:
        message_id = await _start_message(send, new_id)
        await send(_text_delta(message_id, step.text))
    if isinstance(step, Stall):
        if step.seconds is None:
            await anyio.sleep_forever()
        else:
            await anyio.sleep(step.seconds)


async def _start_message(send: Callable[[Mapping[str, Any]], Any], new_id: NewId) -> str:
    message_id = new_id("msg")
    await send(
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


def split_evenly(text: str, chunks: int) -> list[str]:
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
