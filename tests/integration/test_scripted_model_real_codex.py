"""ScriptedModel against the REAL `codex app-server` (offline, loopback only).

These tests prove that what ScriptedModel streams is what codex understands: a Reply becomes
agentMessage deltas and a completed turn, a CallTool reaches a dynamic tool and its output
comes back in the next request, `exec_command(...)` triggers an approval request, and the
failure steps fail (or, with an interrupt, end) the turn. The JSON-RPC driver below is
deliberately tiny and local; the real client lives elsewhere.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import codex_cli_bin
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

from codex_manager_core.testing import (
    CallTool,
    CutStream,
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

pytestmark = [pytest.mark.anyio, pytest.mark.real_runtime]

Message = dict[str, Any]
TIMEOUT = 15.0


class AppServer:
    """Just enough of a newline-delimited JSON-RPC driver for these tests."""

    def __init__(self, process: anyio.abc.Process, workdir: Path, stderr_path: Path) -> None:
        assert process.stdin is not None
        assert process.stdout is not None
        self.workdir = workdir
        self._stdin = process.stdin
        self._stdout = BufferedByteReceiveStream(process.stdout)
        self._stderr_path = stderr_path
        self._backlog: list[Message] = []
        self._next_id = 1

    def stderr_tail(self) -> str:
        text = self._stderr_path.read_text(errors="replace") if self._stderr_path.exists() else ""
        return text[-2000:]

    @contextlib.contextmanager
    def deadline(self, what: str, seconds: float = TIMEOUT) -> Iterator[None]:
        try:
            with anyio.fail_after(seconds):
                yield
        except TimeoutError:
            raise TimeoutError(
                f"codex app-server: no {what} within {seconds:g} s; stderr tail:\n"
                + self.stderr_tail()
            ) from None

    async def close_stdin(self) -> None:
        await self._stdin.aclose()

    async def send(self, message: Message) -> None:
        await self._stdin.send(json.dumps(message).encode() + b"\n")

    async def _receive(self) -> Message:
        if self._backlog:
            return self._backlog.pop(0)
        try:
            line = await self._stdout.receive_until(b"\n", 64 * 1024 * 1024)
        except anyio.IncompleteRead:
            raise AssertionError(
                "codex app-server closed its stdout; stderr tail:\n" + self.stderr_tail()
            ) from None
        message = json.loads(line)
        assert isinstance(message, dict), message
        return message

    async def request(self, method: str, params: Message) -> Any:
        request_id = self._next_id
        self._next_id += 1
        await self.send({"id": request_id, "method": method, "params": params})
        skipped: list[Message] = []
        with self.deadline(f"answer to {method}"):
            while True:
                message = await self._receive()
                if message.get("id") == request_id and "method" not in message:
                    break
                skipped.append(message)
        self._backlog[:0] = skipped  # notifications that came first stay readable, in order
        assert "error" not in message, f"{method} failed: {message['error']}"
        return message["result"]

    async def collect_until(self, predicate: Callable[[Message], bool], what: str) -> list[Message]:
        """Every message up to and including the first one matching `predicate`."""
        seen: list[Message] = []
        with self.deadline(what):
            while True:
                seen.append(await self._receive())
                if predicate(seen[-1]):
                    return seen

    async def start_thread(self, **params: Any) -> str:
        result = await self.request("thread/start", {"cwd": str(self.workdir), **params})
        return str(result["thread"]["id"])

    async def start_turn(self, thread_id: str, text: str) -> str:
        result = await self.request(
            "turn/start", {"threadId": thread_id, "input": [{"type": "text", "text": text}]}
        )
        return str(result["turn"]["id"])


def is_method(method: str) -> Callable[[Message], bool]:
    return lambda message: message.get("method") == method


@contextlib.asynccontextmanager
async def running_codex(tmp_path: Path, model: ScriptedModel) -> AsyncIterator[AppServer]:
    """A real `codex app-server` with its own CODEX_HOME, pointed at `model`, initialized."""
    codex_home = tmp_path / "codex-home"
    write_offline_config(codex_home, base_url=model.base_url)
    workdir = tmp_path / "work"
    workdir.mkdir()
    stderr_path = tmp_path / "codex-stderr.log"
    with stderr_path.open("wb") as stderr:
        process = await anyio.open_process(
            [str(codex_cli_bin.bundled_codex_path()), "app-server", "--strict-config"],
            env=offline_env(codex_home),
            cwd=workdir,
            stderr=stderr,
        )
        server = AppServer(process, workdir, stderr_path)
        try:
            result = await server.request(
                "initialize",
                {
                    "clientInfo": {
                        "name": "cm-tests",
                        "title": "codex-manager tests",
                        "version": "0",
                    },
                    "capabilities": {"experimentalApi": True},
                },
            )
            assert result["codexHome"] == str(codex_home)
            await server.send({"method": "initialized"})
            yield server
        finally:
            with anyio.CancelScope(shield=True):
                await server.close_stdin()  # app-server exits when its stdin closes
                with anyio.move_on_after(5):
                    await process.wait()
                if process.returncode is None:
                    process.kill()
                    await process.wait()
                await process.aclose()


def agent_deltas(messages: list[Message]) -> list[str]:
    return [m["params"]["delta"] for m in messages if m.get("method") == "item/agentMessage/delta"]


def completed_agent_texts(messages: list[Message]) -> list[str]:
    return [
        m["params"]["item"]["text"]
        for m in messages
        if m.get("method") == "item/completed" and m["params"]["item"]["type"] == "agentMessage"
    ]


async def test_reply_streams_as_agent_message_deltas(tmp_path: Path) -> None:
    text = "Hello from the scripted model"
    async with ScriptedModel([Reply(text, chunks=3)]) as model:
        async with running_codex(tmp_path, model) as codex:
            thread_id = await codex.start_thread()
            turn_id = await codex.start_turn(thread_id, "say hello")
            messages = await codex.collect_until(is_method("turn/completed"), "turn/completed")

        turn = messages[-1]["params"]["turn"]
        assert (turn["id"], turn["status"]) == (turn_id, "completed")
        deltas = agent_deltas(messages)
        assert deltas == ["Hello from", " the scrip", "ted model"]
        assert completed_agent_texts(messages) == [text]

        [request] = model.requests
        assert (request.method, request.path) == ("POST", "/v1/responses")
        assert request.model == "mock-model"
        assert request.body["stream"] is True
        assert request.last_user_text == "say hello"
        assert "exec_command" in request.tool_names
        assert request.headers["content-type"] == "application/json"
        assert request.headers["thread-id"] == thread_id
        assert model.errors == []
        assert model.remaining_steps == 0


async def test_function_script_drives_a_dynamic_tool_round_trip(tmp_path: Path) -> None:
    def script(request: RecordedRequest) -> Step:
        outputs = request.function_call_outputs
        if outputs:
            return Reply(f"the tool said: {request.output_for(outputs[-1]['call_id'])}")
        return CallTool("lookup", {"key": request.last_user_text})

    lookup_tool = {
        "type": "function",
        "name": "lookup",
        "description": "Look a key up.",
        "inputSchema": {
            "type": "object",
            "properties": {"key": {"type": "string"}},
            "required": ["key"],
        },
    }
    async with ScriptedModel(script) as model:
        async with running_codex(tmp_path, model) as codex:
            thread_id = await codex.start_thread(dynamicTools=[lookup_tool])
            await codex.start_turn(thread_id, "answer-key")
            before_call = await codex.collect_until(is_method("item/tool/call"), "item/tool/call")
            call = before_call[-1]
            assert call["params"]["tool"] == "lookup"
            assert call["params"]["arguments"] == {"key": "answer-key"}
            await codex.send(
                {
                    "id": call["id"],
                    "result": {
                        "success": True,
                        "contentItems": [{"type": "inputText", "text": "value-42"}],
                    },
                }
            )
            messages = await codex.collect_until(is_method("turn/completed"), "turn/completed")

        assert messages[-1]["params"]["turn"]["status"] == "completed"
        assert completed_agent_texts(messages) == ["the tool said: value-42"]
        first, second = model.requests
        assert "lookup" in first.tool_names
        assert first.function_call_outputs == []
        assert second.output_for(call["params"]["callId"]) == "value-42"
        assert second.last_user_text == "answer-key"
        assert model.errors == []


async def test_exec_command_helper_asks_for_approval(tmp_path: Path) -> None:
    marker = tmp_path / "work" / "should-not-exist"
    async with ScriptedModel(
        [exec_command(f"touch {marker}", call_id="call_touch"), Reply("understood")]
    ) as model:
        async with running_codex(tmp_path, model) as codex:
            thread_id = await codex.start_thread(approvalPolicy="on-request")
            await codex.start_turn(thread_id, "make a file")
            before = await codex.collect_until(
                is_method("item/commandExecution/requestApproval"), "approval request"
            )
            approval = before[-1]
            assert "touch" in json.dumps(approval["params"]["command"])
            await codex.send({"id": approval["id"], "result": {"decision": "decline"}})
            messages = await codex.collect_until(is_method("turn/completed"), "turn/completed")

        assert messages[-1]["params"]["turn"]["status"] == "completed"
        assert completed_agent_texts(messages) == ["understood"]
        assert not marker.exists()
        assert model.requests[1].output_for("call_touch") is not None
        assert model.errors == []


@pytest.mark.parametrize(
    "step",
    [Fail(500, "scripted outage"), FailResponse("scripted failure"), CutStream("partial")],
    ids=["Fail", "FailResponse", "CutStream"],
)
async def test_failure_steps_fail_the_turn(tmp_path: Path, step: Step) -> None:
    async with ScriptedModel([step]) as model:
        async with running_codex(tmp_path, model) as codex:
            thread_id = await codex.start_thread()
            await codex.start_turn(thread_id, "please fail")
            messages = await codex.collect_until(is_method("turn/completed"), "turn/completed")
        assert messages[-1]["params"]["turn"]["status"] == "failed"
        assert len(model.requests) == 1
        assert model.errors == []


async def test_stall_keeps_the_turn_running_until_interrupted(tmp_path: Path) -> None:
    async with ScriptedModel([Stall("thinking...")]) as model:
        async with running_codex(tmp_path, model) as codex:
            thread_id = await codex.start_thread()
            turn_id = await codex.start_turn(thread_id, "think forever")
            before = await codex.collect_until(
                is_method("item/agentMessage/delta"), "the stalled reply's delta"
            )
            assert before[-1]["params"]["delta"] == "thinking..."
            await codex.request("turn/interrupt", {"threadId": thread_id, "turnId": turn_id})
            messages = await codex.collect_until(is_method("turn/completed"), "turn/completed")
        assert messages[-1]["params"]["turn"]["status"] == "interrupted"
        assert model.errors == []
