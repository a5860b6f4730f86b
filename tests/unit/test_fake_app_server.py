"""The fault-injection fake app-server, driven as a real subprocess over stdio."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import attrs
import pytest

from codex_manager_core.testing.fake_app_server import (
    DEFAULT_USER_AGENT,
    FakeAppServer,
    FakeConfigError,
)

WAIT = 10.0  # generous bound for anything that should take milliseconds


@contextlib.contextmanager
def deadline(seconds: float, what: str) -> Iterator[None]:
    try:
        with anyio.fail_after(seconds):
            yield
    except TimeoutError:
        raise AssertionError(f"timed out after {seconds}s waiting for {what}") from None


class LineReader:
    """Splits a byte stream into lines (without the newline); None at end of stream."""

    def __init__(self, stream: anyio.abc.ByteReceiveStream) -> None:
        self._stream = stream
        self._buffer = bytearray()
        self._eof = False

    async def line(self) -> bytes | None:
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[: end + 1]
                return line
            if self._eof:
                rest = bytes(self._buffer)
                self._buffer.clear()
                return rest or None
            try:
                self._buffer += await self._stream.receive(1 << 16)
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                self._eof = True


def stat_of(pid: int) -> dict[str, int]:
    """ppid, pgid and sid from /proc/<pid>/stat."""
    raw = Path(f"/proc/{pid}/stat").read_bytes()
    fields = raw[raw.rfind(b")") + 2 :].split()
    return {"ppid": int(fields[1]), "pgid": int(fields[2]), "sid": int(fields[3])}


def sigterm_ignored(pid: int) -> bool:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    raise AssertionError(f"no SigIgn line for pid {pid}")


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                if stat_of(int(entry))["ppid"] == pid:
                    found.append(int(entry))
    return found


@attrs.define
class Running:
    """One fake app-server process, with a JSON-RPC client just big enough to test it."""

    process: anyio.abc.Process
    lines: LineReader
    stderr: bytearray = attrs.Factory(bytearray)
    stderr_changed: anyio.Event = attrs.Factory(anyio.Event)
    next_id: int = 0

    async def send_raw(self, data: bytes) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.send(data)

    async def request(self, method: str, params: Any = None) -> int:
        request_id = self.next_id
        self.next_id += 1
        message: dict[str, Any] = {"id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        await self.send_raw(json.dumps(message).encode() + b"\n")
        return request_id

    async def raw_line(self, what: str) -> bytes | None:
        with deadline(WAIT, what):
            return await self.lines.line()

    async def message(self, what: str) -> dict[str, Any]:
        line = await self.raw_line(what)
        assert line is not None, f"stdout closed while waiting for {what}"
        message = json.loads(line)
        assert isinstance(message, dict), line[:200]
        return message

    async def response(self, request_id: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The answer to `request_id`, and the other messages read before it."""
        others: list[dict[str, Any]] = []
        while True:
            message = await self.message(f"the answer to request {request_id}")
            if message.get("id") == request_id and "method" not in message:
                return message, others
            others.append(message)

    async def call(self, method: str, params: Any = None) -> dict[str, Any]:
        answer, _ = await self.response(await self.request(method, params))
        return answer

    async def initialize(self, **capabilities: Any) -> dict[str, Any]:
        params = {
            "clientInfo": {"name": "test", "title": None, "version": "0"},
            "capabilities": capabilities,
        }
        answer = await self.call("initialize", params)
        assert "result" in answer, answer
        assert self.process.stdin is not None
        await self.send_raw(b'{"method":"initialized"}\n')
        result: dict[str, Any] = answer["result"]
        return result

    async def expect_eof(self, what: str) -> None:
        line = await self.raw_line(what)
        assert line is None, f"expected stdout to close ({what}), got {line[:200]!r}"

    async def wait(self, what: str, seconds: float = WAIT) -> int:
        with deadline(seconds, what):
            return await self.process.wait()

    async def wait_stderr(self, predicate: Callable[[bytes], bool], what: str) -> None:
        with deadline(WAIT, what):
            while not predicate(bytes(self.stderr)):
                event = self.stderr_changed
                await event.wait()

    async def drain_stderr(self) -> None:
        assert self.process.stderr is not None
        with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
            async for chunk in self.process.stderr:
                self.stderr += chunk
                self.stderr_changed.set()
                self.stderr_changed = anyio.Event()


@contextlib.asynccontextmanager
async def run_fake(
    fake: FakeAppServer,
    *,
    drain_stderr: bool = True,
    env: Mapping[str, str] | None = None,
) -> AsyncIterator[Running]:
    process = await anyio.open_process(
        fake.command(),
        start_new_session=True,  # its own process group (pgid == pid) to kill at the end
        env={**os.environ, **(env or {})},
    )
    assert process.stdout is not None
    running = Running(process, LineReader(process.stdout))
    try:
        async with anyio.create_task_group() as tg:
            if drain_stderr:
                tg.start_soon(running.drain_stderr)
            try:
                yield running
            finally:
                tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            # Children that left the group (fakeDetachedPid) are found through their parent.
            for pid in [*children_of(process.pid), process.pid]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            with deadline(WAIT, "the killed fake to be reaped"):
                await process.aclose()


# --------------------------------------------------------------------- protocol basics


@pytest.mark.anyio
async def test_initialize_echo_and_already_initialized() -> None:
    async with run_fake(FakeAppServer(), env={"CODEX_HOME": "/somewhere/codex"}) as fake:
        result = await fake.initialize(experimentalApi=True)
        assert result == {
            "userAgent": DEFAULT_USER_AGENT,
            "codexHome": "/somewhere/codex",
            "platformFamily": "unix",
            "platformOs": sys.platform,
        }
        echo = await fake.call("echo", {"a": [1, "two"]})
        assert echo == {"id": 1, "result": {"a": [1, "two"]}}  # no "jsonrpc" field
        again = await fake.call("initialize", {"capabilities": {}})
        assert again["error"] == {"code": -32600, "message": "Already initialized"}


@pytest.mark.anyio
async def test_errors_before_initialize_unknown_method_and_bad_json() -> None:
    async with run_fake(FakeAppServer(user_agent="ua/1.2.3", codex_home="/h")) as fake:
        answer = await fake.call("thread/start", {})
        assert answer["error"] == {"code": -32600, "message": "Not initialized"}
        answer = await fake.call("no/such")
        assert answer["error"]["code"] == -32600
        assert answer["error"]["message"].startswith("Invalid request: unknown variant `no/such`")
        await fake.send_raw(b"{not json\n")
        parse_error = await fake.message("the parse error")
        assert parse_error["id"] is None
        assert parse_error["error"]["code"] == -32700
        result = await fake.initialize()  # the stream goes on after a bad line
        assert (result["userAgent"], result["codexHome"]) == ("ua/1.2.3", "/h")
        answer = await fake.call("no/such")
        assert "unknown variant `no/such`" in answer["error"]["message"]


@pytest.mark.anyio
async def test_reject_experimental_allows_a_fallback() -> None:
    async with run_fake(FakeAppServer(reject_experimental=True)) as fake:
        answer = await fake.call("initialize", {"capabilities": {"experimentalApi": True}})
        assert answer["error"] == {"code": -32600, "message": "experimentalApi is not supported"}
        result = await fake.initialize(experimentalApi=False)
        assert result["userAgent"] == DEFAULT_USER_AGENT


@pytest.mark.anyio
async def test_turn_start_streams_the_notifications_of_a_turn() -> None:
    async with run_fake(FakeAppServer()) as fake:
        await fake.initialize()
        started = await fake.call("thread/start", {"cwd": "/"})
        thread = started["result"]["thread"]
        assert thread == {"id": "thr_1", "status": {"type": "idle"}, "turns": []}
        assert started["result"]["model"] == "fake-model"
        input_ = [{"type": "text", "text": "Hello there"}]
        params = {"threadId": "thr_1", "input": input_, "deltas": 4}
        answer, before = await fake.response(await fake.request("turn/start", params))
        assert answer["result"] == {"turn": {"id": "turn_1", "status": "inProgress", "items": []}}
        notes = list(before)
        while not notes or notes[-1]["method"] != "turn/completed":
            notes.append(await fake.message("the turn's notifications"))
        assert [n["method"] for n in notes] == [
            "turn/started",
            "item/started",
            *["item/agentMessage/delta"] * 4,
            "item/completed",
            "turn/completed",
        ]
        assert all(isinstance(n["emittedAtMs"], int) for n in notes)
        assert "".join(n["params"]["delta"] for n in notes[2:6]) == "Hello there"
        assert notes[-2]["params"]["item"]["text"] == "Hello there"
        completed = notes[-1]["params"]
        assert completed["threadId"] == "thr_1"
        assert completed["turn"]["status"] == "completed"
        assert completed["turn"]["items"] == [notes[-2]["params"]["item"]]
        unknown = await fake.call("turn/start", {"threadId": "thr_9", "input": input_})
        assert unknown["error"]["code"] == -32600


@pytest.mark.anyio
async def test_fake_notify_then_answers() -> None:
    async with run_fake(FakeAppServer()) as fake:
        await fake.initialize()
        answer, ticks = await fake.response(
            await fake.request("fake/notify", {"count": 300, "size": 5})
        )
        assert answer["result"] == {"sent": 300}
        assert [t["params"]["n"] for t in ticks] == list(range(300))
        assert {t["params"]["pad"] for t in ticks} == {"xxxxx"}
        assert all(t["method"] == "fake/tick" and "emittedAtMs" in t for t in ticks)


@pytest.mark.anyio
async def test_server_request_round_trip() -> None:
    async with run_fake(FakeAppServer()) as fake:
        await fake.initialize()
        seen = []
        for expected_id in (0, 1):
            params = {"method": "item/tool/call", "params": {"n": expected_id}}
            answer, before = await fake.response(await fake.request("fake/serverRequest", params))
            assert answer["result"] == {"requestId": expected_id}
            seen.extend(before)
        assert seen == [
            {"id": 0, "method": "item/tool/call", "params": {"n": 0}},
            {"id": 1, "method": "item/tool/call", "params": {"n": 1}},
        ]
        await fake.send_raw(b'{"id":1,"error":{"code":-1,"message":"no"}}\n')
        await fake.send_raw(b'{"id":0,"result":{"success":true}}\n')
        first = await fake.message("the first serverRequestAnswered")
        second = await fake.message("the second serverRequestAnswered")
        assert first["method"] == second["method"] == "fake/serverRequestAnswered"
        assert first["params"] == {"requestId": 1, "error": {"code": -1, "message": "no"}}
        assert second["params"] == {"requestId": 0, "result": {"success": True}}


@pytest.mark.anyio
async def test_fake_exit_answers_then_exits_with_the_code() -> None:
    async with run_fake(FakeAppServer()) as fake:
        await fake.initialize()
        assert (await fake.call("fake/exit", {"code": 7}))["result"] == {}
        await fake.expect_eof("stdout to close after fake/exit")
        assert await fake.wait("the fake to exit") == 7


# --------------------------------------------------------------------------- crashes


@pytest.mark.anyio
async def test_crash_on_method_exits_before_answering() -> None:
    async with run_fake(FakeAppServer(crash_on="slow/thing", exit_code=3)) as fake:
        await fake.initialize()
        assert "result" in await fake.call("echo", {})
        await fake.request("slow/thing")
        await fake.expect_eof("the crash on slow/thing")
        assert await fake.wait("the crashed fake") == 3
        await fake.wait_stderr(lambda err: b"crashing on purpose" in err, "the crash log line")


@pytest.mark.anyio
async def test_crash_at_nth_request_counts_initialize() -> None:
    async with run_fake(FakeAppServer(crash_at=3)) as fake:
        await fake.initialize()  # request 1
        assert "result" in await fake.call("echo", {})  # request 2
        await fake.request("echo", {})  # request 3
        await fake.expect_eof("the crash on the 3rd request")
        assert await fake.wait("the crashed fake") == 1


@pytest.mark.anyio
async def test_crash_times_with_state_dir_only_crashes_the_first_start(tmp_path: Path) -> None:
    fake_config = FakeAppServer(crash_on="slow/thing", crash_times=1, state_dir=tmp_path)
    async with run_fake(fake_config) as first:
        await first.initialize()
        await first.request("slow/thing")
        await first.expect_eof("the first start to crash")
        assert await first.wait("the first start") == 1
    async with run_fake(fake_config) as second:
        await second.initialize()
        answer = await second.call("slow/thing")
        assert "unknown variant `slow/thing`" in answer["error"]["message"]


@pytest.mark.anyio
async def test_crash_without_state_dir_crashes_every_start() -> None:
    for start in (1, 2):
        async with run_fake(FakeAppServer(crash_on="echo", exit_code=5)) as fake:
            await fake.initialize()
            await fake.request("echo")
            await fake.expect_eof(f"start {start} to crash")
            assert await fake.wait(f"start {start}") == 5


@pytest.mark.anyio
async def test_crash_by_signal() -> None:
    fake_config = FakeAppServer(crash_on="echo", crash_by_signal=signal.SIGUSR1)
    async with run_fake(fake_config) as fake:
        await fake.initialize()
        await fake.request("echo")
        await fake.expect_eof("the signal crash")
        assert await fake.wait("the killed fake") == -signal.SIGUSR1


# ----------------------------------------------------------- hangs, delays, overload


@pytest.mark.anyio
async def test_hang_on_never_answers_but_others_are_answered() -> None:
    async with run_fake(FakeAppServer(hang_on=["thread/start"])) as fake:
        await fake.initialize()
        hung = await fake.request("thread/start", {})
        # Without slow_ms the fake answers in order, so an answer to thread/start would
        # come before the echo's.
        answer, before = await fake.response(await fake.request("echo", {"x": 1}))
        assert answer["result"] == {"x": 1}
        assert all(message.get("id") != hung for message in before)
        await fake.wait_stderr(lambda err: b"hanging on thread/start" in err, "the hang log")


@pytest.mark.anyio
async def test_slow_answers_concurrently() -> None:
    async with run_fake(FakeAppServer(slow_ms=400)) as fake:
        await fake.initialize()
        started = time.monotonic()
        ids = [await fake.request("echo", {"n": n}) for n in range(4)]
        answered: set[int] = set()
        with deadline(WAIT, "four slow answers"):
            while len(answered) < 4:
                answered.add((await fake.message("a slow answer"))["id"])
        elapsed = time.monotonic() - started
        assert answered == set(ids)
        # Serially it would take 4 x 0.4 s.
        assert 0.35 <= elapsed < 1.2, elapsed


@pytest.mark.anyio
async def test_overload_counts_per_process_and_across_processes(tmp_path: Path) -> None:
    async with run_fake(FakeAppServer(overload={"echo": 2})) as fake:
        await fake.initialize()
        codes = [(await fake.call("echo", {})).get("error", {}).get("code") for _ in range(3)]
        assert codes == [-32001, -32001, None]
        overloaded = await fake.call("thread/start", {})
        assert "result" in overloaded  # other methods are not overloaded
    shared = FakeAppServer(overload={"echo": 2}, state_dir=tmp_path)
    async with run_fake(shared) as first:
        await first.initialize()
        answer = await first.call("echo", {})
        assert answer["error"] == {"code": -32001, "message": "Server overloaded; retry later."}
    async with run_fake(shared) as second:
        await second.initialize()
        codes = [(await second.call("echo", {})).get("error", {}).get("code") for _ in range(2)]
        assert codes == [-32001, None]


# ----------------------------------------------------------------- malformed output


@pytest.mark.anyio
async def test_garbage_lines_before_the_answer() -> None:
    async with run_fake(FakeAppServer(garbage_on=["echo"])) as fake:
        await fake.initialize()
        await fake.request("echo", {"k": "v"})
        assert await fake.raw_line("the garbage line") == b"this is not json {"
        assert await fake.raw_line("the non-object line") == b"[1,2,3]"
        assert (await fake.message("the answer"))["result"] == {"k": "v"}


@pytest.mark.anyio
async def test_oversized_line_before_the_answer() -> None:
    async with run_fake(FakeAppServer(oversized_on={"echo": 200_000})) as fake:
        await fake.initialize()
        await fake.request("echo", {})
        line = await fake.raw_line("the oversized line")
        assert line is not None
        assert len(line) >= 200_000
        notification = json.loads(line)
        assert notification["method"] == "fake/oversized"
        assert "emittedAtMs" in notification
        assert (await fake.message("the answer"))["result"] == {}


# ------------------------------------------------------------ processes and signals


@pytest.mark.anyio
async def test_children_share_the_group_and_the_detached_child_does_not() -> None:
    async with run_fake(FakeAppServer(spawn_children=2, spawn_detached_child=True)) as fake:
        result = await fake.initialize()
        fake_pid = fake.process.pid
        children = result["fakeChildPids"]
        assert len(children) == 2
        for pid in children:
            info = stat_of(pid)
            assert info["pgid"] == fake_pid, info  # the fake leads its group
            assert info["ppid"] == fake_pid
        detached = stat_of(result["fakeDetachedPid"])
        assert detached["ppid"] == fake_pid
        assert detached["sid"] == result["fakeDetachedPid"] != stat_of(fake_pid)["sid"]
        assert detached["pgid"] != fake_pid


@pytest.mark.anyio
@pytest.mark.parametrize("ignore", [True, False])
async def test_sigterm(ignore: bool) -> None:
    async with run_fake(FakeAppServer(ignore_sigterm=ignore, spawn_children=1)) as fake:
        result = await fake.initialize()
        assert sigterm_ignored(fake.process.pid) is ignore
        # Children keep the default disposition: only the fake ignores SIGTERM.
        assert sigterm_ignored(result["fakeChildPids"][0]) is False
        fake.process.send_signal(signal.SIGTERM)
        if ignore:
            assert (await fake.call("echo", {"alive": True}))["result"] == {"alive": True}
            fake.process.kill()
            assert await fake.wait("SIGKILL to end it") == -signal.SIGKILL
        else:
            assert await fake.wait("SIGTERM to end it") == -signal.SIGTERM


@pytest.mark.anyio
async def test_stdin_eof_exits_promptly() -> None:
    async with run_fake(FakeAppServer()) as fake:
        await fake.initialize()
        assert fake.process.stdin is not None
        started = time.monotonic()
        await fake.process.stdin.aclose()
        assert await fake.wait("the exit on stdin EOF") == 0
        assert time.monotonic() - started < 1.0


@pytest.mark.anyio
async def test_ignore_stdin_eof_keeps_running() -> None:
    async with run_fake(FakeAppServer(ignore_stdin_eof=True)) as fake:
        await fake.initialize()
        assert fake.process.stdin is not None
        await fake.process.stdin.aclose()
        await fake.wait_stderr(lambda err: b"ignore_stdin_eof" in err, "the EOF log line")
        with anyio.move_on_after(0.3):  # a bounded check that it does NOT exit
            await fake.process.wait()
        assert fake.process.returncode is None


# ------------------------------------------------------------------------------ stderr


@pytest.mark.anyio
async def test_stderr_lines_per_request() -> None:
    async with run_fake(FakeAppServer(stderr_lines_per_request=2)) as fake:
        await fake.initialize()
        await fake.call("echo", {})
        await fake.call("echo", {})
        await fake.wait_stderr(
            lambda err: err.count(b"method=echo") == 4, "two log lines per echo request"
        )
        assert fake.stderr.count(b"method=initialize") == 2


@pytest.mark.anyio
async def test_stderr_flood_is_fine_when_drained() -> None:
    flood = 1_000_000  # far more than a pipe buffer
    async with run_fake(FakeAppServer(stderr_flood_bytes=flood)) as fake:
        assert (await fake.initialize())["userAgent"] == DEFAULT_USER_AGENT
        await fake.wait_stderr(lambda err: len(err) >= flood, "the whole flood")


@pytest.mark.anyio
async def test_stderr_flood_blocks_a_client_that_does_not_drain() -> None:
    fake_config = FakeAppServer(stderr_flood_bytes=1_000_000)
    async with run_fake(fake_config, drain_stderr=False) as fake:
        await fake.request("initialize", {"capabilities": {}})
        with anyio.move_on_after(0.5) as scope:  # bounded: we expect NO answer
            await fake.lines.line()
        assert scope.cancelled_caught, "the fake answered although its stderr was full"


# ----------------------------------------------------------------------- configuration


def test_command_round_trips_the_configuration(tmp_path: Path) -> None:
    fake = FakeAppServer(
        crash_on="slow/thing",
        state_dir=tmp_path,
        hang_on=["a", "b"],
        overload={"echo": 2},
        crash_by_signal=signal.SIGTERM,
    )
    argv = fake.command()
    assert argv[0] == sys.executable
    assert argv[argv.index("-m") + 1] == "codex_manager_core.testing.fake_app_server"
    assert argv[-2] == "--config"
    loaded = FakeAppServer.from_json(argv[-1])
    assert loaded == fake
    assert loaded.state_dir == str(tmp_path)
    assert loaded.hang_on == ("a", "b")
    assert dict(loaded.overload) == {"echo": 2}
    assert FakeAppServer.from_json("{}") == FakeAppServer()


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ("[1]", "must be a JSON object"),
        ("{nope", "not valid JSON"),
        ('{"crash_onn": "x"}', "unknown option(s) crash_onn"),
        ('{"crash_at": 0}', "crash_at must be an integer >= 1"),
        ('{"crash_times": true}', "crash_times must be an integer >= 1"),
        ('{"slow_ms": -5}', "slow_ms must be an integer >= 0"),
        ('{"hang_on": "echo"}', "expected a list of method names"),
        ('{"hang_on": [1]}', "hang_on must hold method names"),
        ('{"overload": {"echo": 0}}', "overload['echo'] must be an integer >= 1"),
        ('{"oversized_on": ["echo"]}', "expected an object of method -> count"),
        ('{"crash_by_signal": 17}', "does not end a process"),
        ('{"crash_by_signal": 999}', "must be a signal number"),
        ('{"exit_code": 256}', "exit_code must be in 0..255"),
        ('{"ignore_sigterm": 1}', "ignore_sigterm must be true or false"),
    ],
)
def test_bad_configuration_is_rejected_clearly(config: str, fragment: str) -> None:
    with pytest.raises(FakeConfigError) as excinfo:
        FakeAppServer.from_json(config)
    assert fragment in str(excinfo.value)


def test_bad_config_on_the_command_line_exits_2() -> None:
    argv = [*FakeAppServer().command()[:-1], '{"slow_ms": "fast"}']
    done = subprocess.run(argv, capture_output=True, timeout=WAIT, stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    assert b"invalid --config" in done.stderr
    assert b"slow_ms must be an integer" in done.stderr
