"""What does the HTTP host cost? Figures for `codex-manager serve`, against targets.

Against a real `codex-manager serve --demo` started as a subprocess (its own data dir and
HOME, CODEX_MANAGER_DEMO_CHUNK_DELAY=0 so the demo model streams without pauses), from this
process with a raw HTTP/1.1 client (one keep-alive connection, requests written and
responses parsed by hand on asyncio streams: no client library in the figure) and a raw
WebSocket client (same idea):

- GET /api (a static banner: the stack's floor), GET /api/health, and GET /api/sessions
  with 10 and with 1,000 sessions: p50/p99 over `--requests` sequential requests on one
  connection (sessions made via POST /api/sessions);
- POST /api/sessions: p50/p90 over the first `--creates` creates (real codex `thread/start`),
  and over the rest, made after the turns below;
- a trivial turn: POST /api/sessions/{id}/messages -> the `turn/completed` frame on the
  WebSocket, median over `--turns`, against the floor measured in the same run and
  interleaved (ABBA): the same codex driven directly over stdio (bench/runtime_turns.py's
  `Direct`, sending the manager's thread/start and turn/start parameters) with a
  ScriptedModel giving the same demo answer in the same 6 chunks (in a model process of its
  own: in demo mode the model shares the server's event loop). Again once all sessions
  exist (`--turns-after`), and against the host with the model in its own process, the
  floor's (`--turns-external`). With codex's own `durationMs` on both sides, the server's
  CPU per turn, and the floor codex's thread/start and thread/read after its turns;
- cold start: spawn `serve --demo` -> first 200 from /api/health (median of `--cold-starts`,
  each on a fresh data dir), and the idle RSS (VmRSS) of the serve process (the Python
  process alone, not its app-server child) after start and a few requests;
- fan-out: one turn streaming `--deltas` deltas to `--clients` WebSocket clients. The server
  runs in a process of its own (create_app + running_server + Manager, this file's
  `--serve-host`), the model in a third (Reply with `--deltas` chunks), the clients here,
  all on the same machine. Reported: total time from POST to the last client's
  `turn/completed`, and emit -> receive per delta frame and client (emit: the frame's `at`,
  the server's event time in ms; receive: when the client read it), p50/p99.

Targets: health p50 <= 0.3 ms, create session p50 <= 50 ms, cold start <= 400 ms, idle RSS
<= 60 MiB, turn ratio (median, ours/floor) <= 1.05.

    python bench/http_api.py [--requests 1000] [--sessions 1000] [--turns 30] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import re
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from runtime_turns import Direct, percentile, prepare_home, rss_mib

ROOT = Path(__file__).resolve().parent.parent
CLI = ROOT / ".venv" / "bin" / "codex-manager"
TARGETS = {
    "health_p50_ms": 0.3,
    "create_p50_ms": 50.0,
    "cold_start_ms": 400.0,
    "idle_rss_mib": 60.0,
    "turn_ratio": 1.05,
}
START_TIMEOUT = 30.0
TURN_TIMEOUT = 30.0
LISTENING = re.compile(rb"listening on http://([\d.]+):(\d+)")


def ms(values: list[float]) -> dict[str, float]:
    out = [v * 1000 for v in values]
    return {
        "p50": statistics.median(out),
        "p90": percentile(out, 0.90),
        "p99": percentile(out, 0.99),
        "min": min(out),
        "max": max(out),
        "n": len(out),
    }


# ------------------------------------------------------------------- raw HTTP/1.1


class RawHttp:
    """One keep-alive HTTP/1.1 connection; requests written and answers parsed by hand."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str):
        self.reader, self.writer, self.host = reader, writer, host

    @classmethod
    async def open(cls, host: str, port: int) -> RawHttp:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer, f"{host}:{port}")

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n"
        data = b""
        if body is not None:
            data = json.dumps(body).encode()
            head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + data)
        try:
            headers = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                raise
            # The server closed the idle connection (uvicorn's keep-alive timeout): reopen.
            host, port = self.host.rsplit(":", 1)
            self.writer.close()
            self.reader, self.writer = await asyncio.open_connection(host, int(port))
            self.writer.write(head.encode() + b"\r\n" + data)
            headers = await self.reader.readuntil(b"\r\n\r\n")
        status = int(headers[9:12])
        lowered = headers.lower()
        at = lowered.find(b"content-length:")
        if at >= 0:
            end = lowered.index(b"\r\n", at)
            return status, await self.reader.readexactly(int(lowered[at + 15 : end]))
        if b"transfer-encoding: chunked" not in lowered:
            return status, b""
        chunks = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n"))[:-2], 16)
            chunk = await self.reader.readexactly(size + 2)
            if size == 0:
                return status, b"".join(chunks)
            chunks.append(chunk[:-2])

    async def json(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        status, data = await self.request(method, path, body)
        if status != expect:
            raise RuntimeError(f"{method} {path}: {status} {data[:300]!r}")
        return json.loads(data)

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


# -------------------------------------------------------------------- raw WebSocket


class RawWebSocket:
    """A minimal RFC 6455 client: masked text frames out, unmasked frames in, parsed from a
    buffer (every frame of one read shares the read's timestamp)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.buffer = bytearray()

    @classmethod
    async def open(cls, host: str, port: int, path: str = "/api/stream") -> RawWebSocket:
        reader, writer = await asyncio.open_connection(host, port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise RuntimeError(f"WebSocket upgrade refused: {head[:200]!r}")
        return cls(reader, writer)

    def send(self, message: Any, opcode: int = 1) -> None:
        data = json.dumps(message).encode() if opcode == 1 else message
        mask = os.urandom(4)
        length = len(data)
        if length < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
        elif length < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.writer.write(head + mask + masked)

    async def frames(self) -> tuple[float, list[bytes]]:
        """The complete text frames of the next read, and when it returned."""
        while True:
            chunk = await self.reader.read(1 << 18)
            received = time.time()
            if not chunk:
                raise ConnectionError("WebSocket closed")
            self.buffer += chunk
            out: list[bytes] = []
            buffer, at = self.buffer, 0
            while len(buffer) - at >= 2:
                opcode, length = buffer[at] & 0x0F, buffer[at + 1] & 0x7F
                start = at + 2
                if length == 126:
                    if len(buffer) - start < 2:
                        break
                    (length,) = struct.unpack_from("!H", buffer, start)
                    start += 2
                elif length == 127:
                    if len(buffer) - start < 8:
                        break
                    (length,) = struct.unpack_from("!Q", buffer, start)
                    start += 8
                if len(buffer) - start < length:
                    break
                payload = bytes(buffer[start : start + length])
                at = start + length
                if opcode == 1:
                    out.append(payload)
                elif opcode == 9:  # ping
                    self.send(payload, opcode=10)
                elif opcode == 8:
                    raise ConnectionError("WebSocket closed by the server")
            del buffer[:at]
            if out:
                return received, out

    async def until(self, predicate: Callable[[dict[str, Any]], bool], needle: bytes) -> None:
        """Read until a frame containing `needle` satisfies `predicate` (parsed as JSON)."""
        while True:
            _, frames = await self.frames()
            for frame in frames:
                if needle in frame and predicate(json.loads(frame)):
                    return

    async def subscribe(self, thread_id: str) -> None:
        self.send({"type": "subscribe", "threadIds": [thread_id]})
        await self.until(lambda frame: frame.get("type") == "subscribed", b"subscribed")

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


def completed_turn(frame: dict[str, Any]) -> str | None:
    payload = frame.get("payload")
    if not isinstance(payload, dict) or payload.get("method") != "turn/completed":
        return None
    turn = (payload.get("params") or {}).get("turn") or {}
    return turn.get("id")


# ------------------------------------------------------------------- serve --demo


class Served:
    """`codex-manager serve --demo --port 0` as a subprocess."""

    def __init__(self, root: Path, *, demo_delay: float = 0.0) -> None:
        self.root = root
        home = root / "home"
        home.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "HOME": str(home),
            "CODEX_MANAGER_DEMO_CHUNK_DELAY": str(demo_delay),
        }
        for name in ("OPENAI_API_KEY", "CODEX_API_KEY"):
            self.env.pop(name, None)
        # Sessions default to the server's working directory, and codex looks at it on every
        # turn (a git repository costs it several ms): an empty one, like the floor's.
        self.workdir = root / "work"
        self.workdir.mkdir(exist_ok=True)
        self.process: asyncio.subprocess.Process | None = None
        self.host, self.port = "", 0
        self.stderr = bytearray()

    async def start(self) -> float:
        """Spawn, wait for "listening on", then for the first 200 from /api/health.
        Returns the seconds from spawn to that 200."""
        started = time.perf_counter()
        self.process = await asyncio.create_subprocess_exec(
            str(CLI),
            "serve",
            "--demo",
            "--port",
            "0",
            "--data-dir",
            str(self.root / "data"),
            "--log-level",
            "warning",
            env=self.env,
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        assert self.process.stderr is not None
        async with asyncio.timeout(START_TIMEOUT):
            while True:
                line = await self.process.stderr.readline()
                if not line:
                    raise RuntimeError(f"serve exited: {bytes(self.stderr).decode()[-2000:]}")
                self.stderr += line
                if found := LISTENING.search(line):
                    self.host, self.port = found.group(1).decode(), int(found.group(2))
                    break
            self._drain = asyncio.ensure_future(self._drain_stderr())
            while True:  # it listens already: the first answer is normally a 200
                http = await RawHttp.open(self.host, self.port)
                status, _ = await http.request("GET", "/api/health")
                await http.close()
                if status == 200:
                    return time.perf_counter() - started
                await asyncio.sleep(0.001)

    async def _drain_stderr(self) -> None:
        assert self.process is not None
        assert self.process.stderr is not None
        while line := await self.process.stderr.readline():
            self.stderr += line

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def rss_mib(self) -> float | None:
        return rss_mib(self.process.pid if self.process else None)

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(20):
                await self.process.wait()
        except TimeoutError:
            self.process.kill()
            await self.process.wait()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Served]:
        try:
            await self.start()
            yield self
        finally:
            await self.stop()


# ------------------------------------------------------------- helper processes


def serve_model_forever(kind: str, deltas: int) -> None:
    """`--serve-model`: a ScriptedModel (the demo's answers, or one answer in `deltas`
    chunks) until stdin closes; prints its base URL."""
    import anyio

    from codex_manager_core.testing import Reply, ScriptedModel
    from codex_manager_http.demo import demo_script

    def fanout(request: Any) -> Reply:
        return Reply("x" * deltas, chunks=deltas)

    script = fanout if kind == "fanout" else (lambda request: demo_script(request, chunk_delay=0))

    async def main() -> None:
        async with ScriptedModel(script) as model:
            print(model.base_url, flush=True)
            await anyio.to_thread.run_sync(sys.stdin.buffer.read)

    anyio.run(main)


def serve_host_forever(base_url: str, root: str) -> None:
    """`--serve-host`: create_app + running_server + Manager on the real codex, with the
    model at `base_url`; prints the server's URL, serves until stdin closes."""
    import anyio

    from codex_manager_core import Manager, ManagerConfig
    from codex_manager_core.testing import offline_env, write_offline_config
    from codex_manager_http.app import create_app
    from codex_manager_http.serve import running_server
    from codex_manager_http.settings import ServerSettings

    async def main() -> None:
        data = Path(root)
        codex_home = data / "codex-home"
        write_offline_config(codex_home, base_url=base_url, approval_policy="on-request")
        env = offline_env(codex_home)
        env["HOME"] = str(data)
        config = ManagerConfig(codex_home=codex_home, runtime_env=env, import_user_auth=False)
        async with Manager.open(data / "data", config=config) as manager:
            await manager.runtime.wait_ready(START_TIMEOUT)
            app = create_app(manager, ServerSettings(data_dir=data / "data", log_level="warning"))
            async with running_server(app) as server:
                print(server.url, flush=True)
                await anyio.to_thread.run_sync(sys.stdin.buffer.read)

    anyio.run(main)


@asynccontextmanager
async def helper(*args: str, cwd: Path | None = None) -> AsyncIterator[tuple[str, int]]:
    """This file with `args` as a child process (in `cwd`); yields the first line it prints
    and the child's pid."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        *args,
        cwd=cwd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=None,
    )
    assert process.stdout is not None
    assert process.stdin is not None
    try:
        async with asyncio.timeout(START_TIMEOUT):
            line = await process.stdout.readline()
        if not line:
            raise RuntimeError(f"helper {args} exited")
        yield line.decode().strip(), process.pid
    finally:
        process.stdin.close()
        try:
            async with asyncio.timeout(20):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()


# --------------------------------------------------------------------- measures


async def timed_requests(http: RawHttp, path: str, count: int) -> list[float]:
    for _ in range(20):  # warm-up
        await http.request("GET", path)
    out = []
    for _ in range(count):
        start = time.perf_counter()
        status, _ = await http.request("GET", path)
        out.append(time.perf_counter() - start)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status}")
    return out


async def create_sessions(http: RawHttp, count: int) -> tuple[list[str], list[float]]:
    ids, took = [], []
    for _ in range(count):
        start = time.perf_counter()
        answer = await http.json("POST", "/api/sessions", {})
        took.append(time.perf_counter() - start)
        ids.append(answer["session"]["sessionId"])
    return ids, took


#: What the manager's turn/start carries for a session with the default controls
#: (codex_manager_core.config: untrusted, read-only, restricted network); the floor sends the
#: same, so that codex does the same work on both sides.
TURN_OVERRIDES = {
    "approvalPolicy": "untrusted",
    "sandboxPolicy": {"type": "readOnly", "networkAccess": False},
}
#: And its thread/start (codex_manager_core.sessions) for those controls.
THREAD_PARAMS = {"approvalPolicy": "untrusted", "sandbox": "read-only"}


class Floor(Direct):
    """The same turns driven directly over stdio (bench/runtime_turns.py's `Direct`), with
    the demo's config and the manager's turn/start parameters."""

    def __init__(self, root: Path, base_url: str) -> None:
        from codex_manager_core.testing import write_offline_config

        codex_home, env = prepare_home(root, "floor", base_url)
        write_offline_config(codex_home, base_url=base_url, approval_policy="on-request")
        workdir = root / "floor" / "work"
        workdir.mkdir()
        super().__init__(codex_home, env, workdir, root / "floor" / "stderr.log")
        self.codex_ms: Any = None

    async def start_thread(self) -> None:
        params = {"cwd": str(self.workdir)} | THREAD_PARAMS
        self.thread_id = (await self._request("thread/start", params))["thread"]["id"]

    async def turn(self, text: str) -> float:
        start = time.perf_counter()
        params = {"threadId": self.thread_id, "input": [{"type": "text", "text": text}]}
        await self._send(
            {"id": self._next_id, "method": "turn/start", "params": params | TURN_OVERRIDES}
        )
        self._next_id += 1
        done = await self._read_until(lambda m: m.get("method") == "turn/completed")
        self.codex_ms = done["params"]["turn"].get("durationMs")
        return time.perf_counter() - start


async def turns(
    address: tuple[str, int],
    base_url: str,
    root: Path,
    count: int,
    warmup: int,
    session: str | None = None,
    server_pid: int | None = None,
) -> dict[str, Any]:
    """Trivial turns, ours (HTTP + WebSocket on `address`) and the floor (stdio, against the
    model at `base_url`) interleaved ABBA. Also codex's own `durationMs` of each turn, to
    tell codex's time from ours, and, after the turns, the floor's own `thread/start` and
    `thread/read` (what a create costs codex once it has run turns)."""
    import anyio

    floor = Floor(root / f"turns-{time.monotonic_ns()}", base_url)
    http = await RawHttp.open(*address)
    ws = await RawWebSocket.open(*address)
    if session is None:
        session = (await http.json("POST", "/api/sessions", {}))["session"]["sessionId"]
    await ws.subscribe(session)
    codex_ms: dict[str, list[float]] = {"ours": [], "floor": []}
    last: dict[str, Any] = {}

    async def ours(text: str) -> float:
        start = time.perf_counter()
        answer = await http.json(
            "POST", f"/api/sessions/{session}/messages", {"text": text}, expect=202
        )
        turn_id = answer["turnId"]
        async with asyncio.timeout(TURN_TIMEOUT):
            while True:
                _, frames = await ws.frames()
                for raw in frames:
                    if b"turn/completed" not in raw:
                        continue
                    frame = json.loads(raw)
                    if completed_turn(frame) == turn_id:
                        took = time.perf_counter() - start
                        turn = frame["payload"]["params"]["turn"]
                        last["ours"] = turn.get("durationMs")
                        return took

    latency: dict[str, list[float]] = {"ours": [], "floor": []}
    server_cpu: list[float] = []
    # `Direct` is written for anyio; this runs on asyncio, which anyio drives as is.
    creates: dict[str, list[float]] = {"thread/start": [], "thread/read": []}
    async with floor.running():
        await floor.start_thread()
        for index in range(warmup + count):
            order = ("ours", "floor") if index % 2 == 0 else ("floor", "ours")
            for name in order:
                text = f"turn {index}"
                cpu = cpu_seconds(server_pid) if server_pid else 0.0
                with anyio.fail_after(TURN_TIMEOUT):
                    took = await ours(text) if name == "ours" else await floor.turn(text)
                if server_pid and name == "ours" and index >= warmup:
                    server_cpu.append(cpu_seconds(server_pid) - cpu)
                if name == "floor":
                    last["floor"] = floor.codex_ms
                if index >= warmup:
                    latency[name].append(took)
                    if isinstance(codex := last.get(name), int | float):
                        codex_ms[name].append(codex)
        for _ in range(10):
            begin = time.perf_counter()
            started = await floor._request("thread/start", {"cwd": str(floor.workdir)})
            creates["thread/start"].append(time.perf_counter() - begin)
            begin = time.perf_counter()
            read = {"threadId": started["thread"]["id"], "includeTurns": False}
            await floor._request("thread/read", read)
            creates["thread/read"].append(time.perf_counter() - begin)
    await ws.close()
    await http.close()
    result: dict[str, Any] = {"ours_ms": ms(latency["ours"]), "floor_ms": ms(latency["floor"])}
    result["ratio_median"] = result["ours_ms"]["p50"] / result["floor_ms"]["p50"]
    differences = [(a - b) * 1000 for a, b in zip(latency["ours"], latency["floor"], strict=True)]
    result["paired_difference_ms"] = {
        "median": statistics.median(differences),
        "mean": statistics.fmean(differences),
    }
    result["codex_duration_ms_median"] = {
        name: statistics.median(values) if values else None for name, values in codex_ms.items()
    }
    if server_cpu:
        # /proc counts in clock ticks (10 ms): only the mean over many turns means anything.
        result["server_cpu_per_turn_ms"] = statistics.fmean(server_cpu) * 1000
    result["floor_create_after_turns_ms"] = {
        name: statistics.median(values) * 1000 for name, values in creates.items()
    }
    return result


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` (and of its waited-for children), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(value) for value in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


_AT_CACHE: dict[bytes, float] = {}
DELTA_FRAME = b'{"type":"app_server.item.agent_message.delta"'


def frame_time(frame: bytes) -> float | None:
    """The frame's `at` (server event time, ms resolution) as epoch seconds."""
    index = frame.find(b'"at":"')
    if index < 0:
        return None
    raw = frame[index + 6 : index + 30]
    value = _AT_CACHE.get(raw)
    if value is None:
        value = datetime.fromisoformat(raw.decode().replace("Z", "+00:00")).timestamp()
        _AT_CACHE[raw] = value
    return value


async def fanout(root: Path, clients: int, deltas: int) -> dict[str, Any]:
    async with (
        helper("--serve-model", "fanout", "--deltas", str(deltas)) as (base_url, model_pid),
        helper("--serve-host", base_url, str(root / "fanout"), cwd=root) as (url, server_pid),
    ):
        host, port = url.removeprefix("http://").rsplit(":", 1)
        http = await RawHttp.open(host, int(port))
        session = (await http.json("POST", "/api/sessions", {}))["session"]["sessionId"]
        sockets = [await RawWebSocket.open(host, int(port)) for _ in range(clients)]
        for ws in sockets:
            await ws.subscribe(session)
        lags: list[list[float]] = [[] for _ in sockets]
        counts = [0] * clients
        done_at = [0.0] * clients

        async def read(index: int, ws: RawWebSocket) -> None:
            lag, count = lags[index], 0
            while True:
                received, frames = await ws.frames()
                for frame in frames:
                    # One delta is two frames (`app_server.*` and the raw `notification`).
                    if frame.startswith(DELTA_FRAME):
                        count += 1
                        at = frame_time(frame)
                        if at is not None:
                            lag.append(received - at)
                    elif b'"turn/completed"' in frame and completed_turn(json.loads(frame)):
                        counts[index] = count
                        done_at[index] = time.perf_counter()
                        return

        readers = [asyncio.ensure_future(read(i, ws)) for i, ws in enumerate(sockets)]
        cpu_before = {
            "server": cpu_seconds(server_pid),
            "model": cpu_seconds(model_pid),
            "clients": time.process_time(),
        }
        start = time.perf_counter()
        await http.json("POST", f"/api/sessions/{session}/messages", {"text": "go"}, expect=202)
        async with asyncio.timeout(300):
            await asyncio.gather(*readers)
        total = max(done_at) - start
        cpu = {
            "server": cpu_seconds(server_pid) - cpu_before["server"],
            "model": cpu_seconds(model_pid) - cpu_before["model"],
            "clients": time.process_time() - cpu_before["clients"],
        }
        for ws in sockets:
            await ws.close()
        await http.close()
    everything = [value for lag in lags for value in lag]
    return {
        "clients": clients,
        "deltas": deltas,
        "delta_frames_per_client": {"min": min(counts), "max": max(counts)},
        "total_s": total,
        "delta_frames_per_s": sum(counts) / total,
        "cpu_s": cpu,
        "emit_to_receive_ms": ms(everything),
    }


async def cold_starts(root: Path, count: int) -> list[float]:
    out = []
    for index in range(count):
        served = Served(root / f"cold-{index}")
        try:
            out.append(await served.start())
        finally:
            await served.stop()
    return out


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="cm-http-bench-") as tmp:
        root = Path(tmp)
        result: dict[str, Any] = {
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
                "load_average_at_start": os.getloadavg(),
            },
            "client": "raw HTTP/1.1 and WebSocket over asyncio streams (no client library)",
        }
        if not args.skip_cold:
            starts = await cold_starts(root, args.cold_starts)
            result["cold_start_ms"] = {
                "median": statistics.median(starts) * 1000,
                "all": [s * 1000 for s in starts],
            }
        async with (
            Served(root / "main").running() as served,
            helper("--serve-model", "demo") as (base_url, _),
        ):
            address = (served.host, served.port)
            result["rss_after_start_mib"] = served.rss_mib
            http = await RawHttp.open(*address)
            result["banner_ms"] = ms(await timed_requests(http, "/api", args.requests))
            result["health_ms"] = ms(await timed_requests(http, "/api/health", args.requests))
            result["idle_rss_mib"] = served.rss_mib
            ids, created = await create_sessions(http, 10)
            result["sessions_10_ms"] = ms(
                await timed_requests(http, "/api/sessions", args.requests)
            )
            more, took = await create_sessions(http, max(0, args.creates - 10))
            ids += more
            result["create_ms"] = ms((created + took)[: args.creates])
            if not args.skip_turns:
                result["turn"] = await turns(
                    address, base_url, root, args.turns, args.warmup, ids[0], served.pid
                )
            more, took = await create_sessions(http, max(0, args.sessions - len(ids)))
            ids += more
            result["create_after_turns_ms"] = ms(took) if took else None
            result[f"sessions_{len(ids)}_ms"] = ms(
                await timed_requests(http, "/api/sessions", args.requests)
            )
            _status, body = await http.request("GET", "/api/sessions")
            result["sessions_page_size"] = len(json.loads(body)["sessions"])
            await http.close()
            if not args.skip_turns and args.turns_after:
                result["turn_after"] = await turns(
                    address, base_url, root, args.turns_after, args.warmup, ids[0], served.pid
                )
                result["turn_after"]["sessions"] = len(ids)
            result["rss_after_all_mib"] = served.rss_mib
        workdir = root / "empty"
        workdir.mkdir()
        if not args.skip_turns and args.turns_external:
            # The host alone: the same server code with the model in its own process (the
            # floor's), instead of inside the server's event loop as in demo mode.
            async with (
                helper("--serve-model", "demo") as (base_url, _),
                helper("--serve-host", base_url, str(root / "external"), cwd=workdir) as (
                    url,
                    pid,
                ),
            ):
                host, port = url.removeprefix("http://").rsplit(":", 1)
                result["turn_external"] = await turns(
                    (host, int(port)), base_url, root, args.turns_external, args.warmup, None, pid
                )
        if not args.skip_fanout:
            result["fanout"] = await fanout(root, args.clients, args.deltas)
    return result


def verdict(value: float | None, target: float) -> str:
    if value is None:
        return "n/a"
    return "OK" if value <= target else "ABOVE TARGET"


def print_table(result: dict[str, Any]) -> None:
    machine = result["machine"]
    load = ", ".join(f"{value:.1f}" for value in machine["load_average_at_start"])
    print(f"HTTP host ({machine['cpus']} CPUs, load average {load} at start)")
    print(f"client: {result['client']}")
    rows: list[tuple[str, str, str]] = []
    health, banner = result["health_ms"], result["banner_ms"]
    rows.append(
        (
            "GET /api (static banner) p50 / p99 (ms)",
            f"{banner['p50']:.3f} / {banner['p99']:.3f}",
            "the stack's own floor",
        )
    )
    rows.append(
        (
            "GET /api/health p50 / p99 (ms)",
            f"{health['p50']:.3f} / {health['p99']:.3f}",
            f"p50 <= 0.3: {verdict(health['p50'], TARGETS['health_p50_ms'])}",
        )
    )
    for key in sorted(k for k in result if k.startswith("sessions_") and k.endswith("_ms")):
        figure = result[key]
        rows.append(
            (
                f"GET /api/sessions, {key.split('_')[1]} sessions p50 / p99 (ms)",
                f"{figure['p50']:.3f} / {figure['p99']:.3f}",
                f"(page of {result['sessions_page_size']})" if key != "sessions_10_ms" else "",
            )
        )
    create = result["create_ms"]
    rows.append(
        (
            f"POST /api/sessions p50 / p90 (ms, first {create['n']})",
            f"{create['p50']:.1f} / {create['p90']:.1f}",
            f"p50 <= 50: {verdict(create['p50'], TARGETS['create_p50_ms'])}",
        )
    )
    if every := result.get("create_after_turns_ms"):
        rows.append(
            (
                f"  the next {every['n']} creates, after the turns, p50 / p90 (ms)",
                f"{every['p50']:.1f} / {every['p90']:.1f}",
                "",
            )
        )
    for key, where in (
        ("turn", "demo, 50 sessions"),
        ("turn_after", "demo, all sessions"),
        ("turn_external", "model in its own process"),
    ):
        if not (turn := result.get(key)):
            continue
        codex = turn["codex_duration_ms_median"]
        rows.append(
            (
                f"turn ours / floor median (ms, {turn['ours_ms']['n']} each, {where})",
                f"{turn['ours_ms']['p50']:.1f} / {turn['floor_ms']['p50']:.1f}",
                f"ratio {turn['ratio_median']:.3f} (<= 1.05: "
                f"{verdict(turn['ratio_median'], TARGETS['turn_ratio'])})",
            )
        )
        rows.append(
            (
                "  paired difference median / mean (ms)",
                f"{turn['paired_difference_ms']['median']:+.2f} / "
                f"{turn['paired_difference_ms']['mean']:+.2f}",
                f"codex's own durationMs median: ours {codex['ours']} / floor {codex['floor']}",
            )
        )
        if (cpu := turn.get("server_cpu_per_turn_ms")) is not None:
            rows.append(("  server CPU per turn, mean (ms)", f"{cpu:.1f}", ""))
        floor_create = turn["floor_create_after_turns_ms"]
        rows.append(
            (
                "  floor codex thread/start / thread/read after them (ms)",
                f"{floor_create['thread/start']:.1f} / {floor_create['thread/read']:.1f}",
                "what a create costs codex itself by then",
            )
        )
    if cold := result.get("cold_start_ms"):
        rows.append(
            (
                f"cold start -> first 200 median (ms, of {len(cold['all'])})",
                f"{cold['median']:.0f}",
                f"<= 400: {verdict(cold['median'], TARGETS['cold_start_ms'])}",
            )
        )
    rows.append(
        (
            "idle RSS of serve (MiB)",
            f"{result['idle_rss_mib']:.1f}",
            f"<= 60: {verdict(result['idle_rss_mib'], TARGETS['idle_rss_mib'])}",
        )
    )
    rows.append(("  RSS after everything (MiB)", f"{result['rss_after_all_mib']:.1f}", ""))
    if fan := result.get("fanout"):
        lag = fan["emit_to_receive_ms"]
        rows.append(
            (
                f"fan-out {fan['deltas']} deltas x {fan['clients']} clients: total (s)",
                f"{fan['total_s']:.2f}",
                f"{fan['delta_frames_per_s']:.0f} delta events/s received (x2 frames)",
            )
        )
        rows.append(
            (
                "  emit -> receive p50 / p99 (ms)",
                f"{lag['p50']:.1f} / {lag['p99']:.1f}",
                f"frames per client {fan['delta_frames_per_client']['min']}"
                f"-{fan['delta_frames_per_client']['max']}",
            )
        )
        cpu = fan["cpu_s"]
        rows.append(
            (
                "  CPU during it: server / clients / model (s)",
                f"{cpu['server']:.2f} / {cpu['clients']:.2f} / {cpu['model']:.2f}",
                "",
            )
        )
    width = max(len(row[0]) for row in rows)
    for label, value, note in rows:
        print(f"{label:<{width}}  {value:>16}  {note}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="sequential GETs per figure")
    parser.add_argument("--sessions", type=int, default=1000, help="sessions for the big list")
    parser.add_argument("--creates", type=int, default=50, help="creates in the create figure")
    parser.add_argument("--turns", type=int, default=30, help="measured turns per side")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up turns per side")
    parser.add_argument(
        "--turns-after", type=int, default=10, help="turns again once all sessions exist"
    )
    parser.add_argument(
        "--turns-external",
        type=int,
        default=30,
        help="turns against the host with the model in its own process",
    )
    parser.add_argument("--cold-starts", type=int, default=5)
    parser.add_argument("--clients", type=int, default=50, help="fan-out WebSocket clients")
    parser.add_argument("--deltas", type=int, default=5000, help="fan-out deltas")
    parser.add_argument("--skip-turns", action="store_true")
    parser.add_argument("--skip-fanout", action="store_true")
    parser.add_argument("--skip-cold", action="store_true")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--serve-model", choices=["demo", "fanout"], help=argparse.SUPPRESS)
    parser.add_argument("--serve-host", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_model:
        serve_model_forever(args.serve_model, args.deltas)
        return 0
    if args.serve_host:
        serve_host_forever(*args.serve_host)
        return 0
    if args.sessions < 10 or args.creates < 1 or args.requests < 1 or args.turns < 1:
        parser.error("--sessions >= 10, --creates, --requests and --turns >= 1")
    args.creates = min(args.creates, args.sessions)
    result = asyncio.run(bench(args))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
