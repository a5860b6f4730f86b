"""How much does our runtime layer add to a codex turn? A benchmark against the floor.

Runs the real `codex app-server` offline against a ScriptedModel that always answers
Reply("ok") (served from a separate process, so the model's Python work never sits on the
measuring event loop), and measures, in the same run and interleaved:

- (a) "ours": trivial turns (`turn/start` -> `turn/completed`, one thread) through our
  `Supervisor` / `RuntimeClient` / `StdioTransport`, the way the manager drives the runtime;
- (b) "direct": the same turns through a minimal loop over a plain `anyio.open_process`
  (write JSON lines, read lines until `turn/completed`): the floor.

Turns alternate between the two runtimes in ABBA order (warm-up turns excluded), spawns
alternate too. Reported: median and p90 turn latency for each side and the ratio
ours/direct (target <= 1.05), spawn -> initialized time (median of several spawns on a warm
CODEX_HOME, plus the first spawn on a fresh one), and the runtime's RSS (VmRSS) after
`initialize` and after the turns.

    python bench/runtime_turns.py [--turns 30] [--backend asyncio|trio] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
from anyio.streams.buffered import BufferedByteReceiveStream

from codex_manager_core import rpc
from codex_manager_core.runtime import (
    LogSettings,
    Supervisor,
    codex_app_server_transport,
)
from codex_manager_core.runtime.binary import find_codex_binary
from codex_manager_core.testing import Reply, ScriptedModel, offline_env, write_offline_config

Message = dict[str, Any]
CALL_TIMEOUT = 30.0
TURN_TIMEOUT = 30.0
CLIENT_INFO = {"name": "cm_bench", "title": "codex-manager bench", "version": "0"}


# --------------------------------------------------------------------------- helpers


def rss_mib(pid: int | None) -> float | None:
    """VmRSS of `pid` in MiB (None when unknown)."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def summary_ms(values: list[float]) -> dict[str, float]:
    ms = [value * 1000 for value in values]
    return {
        "median": statistics.median(ms),
        "p90": percentile(ms, 0.9),
        "min": min(ms),
        "max": max(ms),
        "n": len(ms),
    }


def prepare_home(root: Path, name: str, base_url: str) -> tuple[Path, dict[str, str]]:
    """A CODEX_HOME with the offline config, and the child environment (own HOME too)."""
    codex_home = root / name / "codex-home"
    home = root / name / "home"
    home.mkdir(parents=True)
    write_offline_config(codex_home, base_url=base_url)
    env = offline_env(codex_home)
    env["HOME"] = str(home)
    return codex_home, env


# --------------------------------------------------------------------- scripted model


def serve_model_forever(backend: str) -> None:
    """`--serve-model`: run a ScriptedModel answering Reply("ok") until stdin closes."""

    async def main() -> None:
        async with ScriptedModel(lambda request: Reply("ok")) as model:
            print(model.base_url, flush=True)
            # Parent gone or done: stdin reaches EOF.
            await anyio.to_thread.run_sync(sys.stdin.buffer.read)

    anyio.run(main, backend=backend)


@asynccontextmanager
async def model_process(backend: str) -> AsyncIterator[str]:
    process = await anyio.open_process(
        [sys.executable, __file__, "--serve-model", "--backend", backend],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=None,
    )
    assert process.stdout is not None
    assert process.stdin is not None
    try:
        with anyio.fail_after(20):
            line = await BufferedByteReceiveStream(process.stdout).receive_until(b"\n", 4096)
        yield line.decode().strip()
    finally:
        with anyio.CancelScope(shield=True):
            await process.stdin.aclose()
            with anyio.move_on_after(5):
                await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()


# ------------------------------------------------------------------------- ours


class Ours:
    """The runtime driven through our Supervisor (-> RuntimeClient -> StdioTransport)."""

    def __init__(self, codex_home: Path, env: dict[str, str], workdir: Path, log: Path) -> None:
        self.transport = codex_app_server_transport(
            codex_home=codex_home,
            env=env,
            cwd=workdir,
            strict_config=True,
            log=LogSettings(path=log),
        )
        self.workdir = workdir
        self.supervisor: Supervisor | None = None
        self._completed: dict[str, anyio.Event] = {}
        self.thread_id = ""

    async def _on_notification(self, epoch: int, notification: rpc.Notification) -> None:
        if notification.method == "turn/completed":
            turn_id = notification.params["turn"]["id"]
            self._completed.setdefault(turn_id, anyio.Event()).set()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Ours]:
        supervisor = Supervisor(
            self.transport,
            call_timeout=CALL_TIMEOUT,
            on_notification=self._on_notification,
        )
        async with supervisor:
            await supervisor.wait_ready(timeout=CALL_TIMEOUT)
            self.supervisor = supervisor
            try:
                yield self
            finally:
                self.supervisor = None

    @property
    def pid(self) -> int | None:
        return self.supervisor.health.pid if self.supervisor else None

    async def spawn_to_initialized(self) -> float:
        start = time.perf_counter()
        async with Supervisor(self.transport, call_timeout=CALL_TIMEOUT) as supervisor:
            await supervisor.wait_ready(timeout=CALL_TIMEOUT)
            elapsed = time.perf_counter() - start
        return elapsed

    async def start_thread(self) -> None:
        assert self.supervisor is not None
        result = await self.supervisor.request("thread/start", {"cwd": str(self.workdir)})
        self.thread_id = result["thread"]["id"]

    async def turn(self, text: str) -> float:
        assert self.supervisor is not None
        start = time.perf_counter()
        result = await self.supervisor.request(
            "turn/start",
            {"threadId": self.thread_id, "input": [{"type": "text", "text": text}]},
        )
        turn_id = result["turn"]["id"]
        done = self._completed.setdefault(turn_id, anyio.Event())
        with anyio.fail_after(TURN_TIMEOUT):
            await done.wait()
        elapsed = time.perf_counter() - start
        del self._completed[turn_id]
        return elapsed


# ----------------------------------------------------------------------- direct


class Direct:
    """The floor: codex app-server on a plain anyio process, JSON lines by hand."""

    def __init__(self, codex_home: Path, env: dict[str, str], workdir: Path, log: Path) -> None:
        binary = find_codex_binary(environ=env)
        self.command = [str(binary.path), "app-server", "--strict-config"]
        self.env = env
        self.workdir = workdir
        self.log = log
        self.process: anyio.abc.Process | None = None
        self._stdout: BufferedByteReceiveStream | None = None
        self._next_id = 0
        self.thread_id = ""

    async def _send(self, message: Message) -> None:
        assert self.process is not None
        assert self.process.stdin is not None
        await self.process.stdin.send(json.dumps(message).encode() + b"\n")

    async def _read_until(self, predicate: Callable[[Message], bool]) -> Message:
        assert self._stdout is not None
        while True:
            message: Message = json.loads(await self._stdout.receive_until(b"\n", 64 * 1024 * 1024))
            if predicate(message):
                return message

    async def _request(self, method: str, params: Message) -> Any:
        request_id = self._next_id
        self._next_id += 1
        await self._send({"id": request_id, "method": method, "params": params})
        with anyio.fail_after(CALL_TIMEOUT):
            answer = await self._read_until(
                lambda m: m.get("id") == request_id and "method" not in m
            )
        if "error" in answer:
            raise RuntimeError(f"{method} failed: {answer['error']}")
        return answer["result"]

    async def _open(self) -> None:
        with self.log.open("ab") as stderr:
            self.process = await anyio.open_process(
                self.command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=self.env,
                cwd=self.workdir,
                start_new_session=True,
            )
        assert self.process.stdout is not None
        self._stdout = BufferedByteReceiveStream(self.process.stdout)
        self._next_id = 0
        await self._request(
            "initialize",
            {"clientInfo": CLIENT_INFO, "capabilities": {"experimentalApi": True}},
        )
        await self._send({"method": "initialized"})

    async def _close(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        with anyio.CancelScope(shield=True):
            assert process.stdin is not None
            await process.stdin.aclose()
            with anyio.move_on_after(5):
                await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()
            await process.aclose()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Direct]:
        try:
            await self._open()
            yield self
        finally:
            await self._close()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    async def spawn_to_initialized(self) -> float:
        start = time.perf_counter()
        try:
            await self._open()
            elapsed = time.perf_counter() - start
        finally:
            await self._close()
        return elapsed

    async def start_thread(self) -> None:
        result = await self._request("thread/start", {"cwd": str(self.workdir)})
        self.thread_id = result["thread"]["id"]

    async def turn(self, text: str) -> float:
        start = time.perf_counter()
        await self._send(
            {
                "id": self._next_id,
                "method": "turn/start",
                "params": {"threadId": self.thread_id, "input": [{"type": "text", "text": text}]},
            }
        )
        self._next_id += 1
        with anyio.fail_after(TURN_TIMEOUT):
            await self._read_until(lambda m: m.get("method") == "turn/completed")
        return time.perf_counter() - start


# --------------------------------------------------------------------------- run


async def bench(turns: int, warmup: int, spawns: int, backend: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="cm-bench-") as tmp:
        root = Path(tmp)
        async with model_process(backend) as base_url:
            sides: dict[str, Ours | Direct] = {}
            for name, cls in (("ours", Ours), ("direct", Direct)):
                codex_home, env = prepare_home(root, name, base_url)
                workdir = root / name / "work"
                workdir.mkdir()
                sides[name] = cls(codex_home, env, workdir, root / name / "stderr.log")
            names = list(sides)

            # Spawn -> initialized, alternating; the first spawn of each is on a fresh
            # CODEX_HOME (reported apart), the rest on a warm one.
            spawn: dict[str, list[float]] = {name: [] for name in names}
            for index in range(spawns + 1):
                order = names if index % 2 == 0 else names[::-1]
                for name in order:
                    spawn[name].append(await sides[name].spawn_to_initialized())

            # Turns: both runtimes alive, one thread each, ABBA alternation.
            latency: dict[str, list[float]] = {name: [] for name in names}
            # CPU time of this (client) process during each turn: the model runs elsewhere,
            # so this is what the client itself costs, free of codex's latency noise.
            cpu: dict[str, list[float]] = {name: [] for name in names}
            rss: dict[str, dict[str, float | None]] = {name: {} for name in names}
            ours, direct = sides["ours"], sides["direct"]
            async with ours.running(), direct.running():
                for name in names:
                    rss[name]["after_initialize_mib"] = rss_mib(sides[name].pid)
                for name in names:
                    await sides[name].start_thread()
                for index in range(warmup + turns):
                    order = names if index % 2 == 0 else names[::-1]
                    for name in order:
                        cpu_start = time.process_time()
                        elapsed = await sides[name].turn(f"turn {index}")
                        if index >= warmup:
                            latency[name].append(elapsed)
                            cpu[name].append(time.process_time() - cpu_start)
                for name in names:
                    rss[name]["after_turns_mib"] = rss_mib(sides[name].pid)

    turn_stats = {name: summary_ms(values) for name, values in latency.items()}
    # Turn i of each side ran back to back, so their difference cancels most of the drift.
    differences = [(a - b) * 1000 for a, b in zip(latency["ours"], latency["direct"], strict=True)]
    quartiles = statistics.quantiles(differences, n=4) if len(differences) > 1 else [0.0] * 3
    spawn_stats = {
        name: {
            "fresh_ms": values[0] * 1000,
            "warm_median_ms": statistics.median(values[1:]) * 1000,
            "n": len(values) - 1,
        }
        for name, values in spawn.items()
    }
    return {
        "backend": backend,
        "turns": turns,
        "warmup": warmup,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "turn_ms": turn_stats,
        "ratio_median": turn_stats["ours"]["median"] / turn_stats["direct"]["median"],
        "ratio_p90": turn_stats["ours"]["p90"] / turn_stats["direct"]["p90"],
        "client_cpu_per_turn_ms": {
            name: statistics.mean(values) * 1000 for name, values in cpu.items()
        },
        "paired_difference_ms": {
            "median": statistics.median(differences),
            "q1": quartiles[0],
            "q3": quartiles[2],
            "mean": statistics.fmean(differences),
            # Normal approximation; turns are independent enough for a rough interval.
            "ci95": 1.96 * statistics.stdev(differences) / math.sqrt(len(differences))
            if len(differences) > 1
            else math.nan,
        },
        "spawn": spawn_stats,
        "rss": rss,
    }


def _fmt(value: float | None, unit: str = "") -> str:
    return "n/a" if value is None else f"{value:.1f}{unit}"


def print_table(result: dict[str, Any]) -> None:
    turns, spawn, rss = result["turn_ms"], result["spawn"], result["rss"]
    print(
        f"codex app-server turns: {result['turns']} per side (+{result['warmup']} warm-up), "
        f"backend {result['backend']}, {result['machine']['cpus']} CPUs"
    )
    header = f"{'':28}{'ours':>12}{'direct':>12}{'ours/direct':>14}"
    print(header)
    print("-" * len(header))
    for key, label in (("median", "turn latency median (ms)"), ("p90", "turn latency p90 (ms)")):
        ratio = turns["ours"][key] / turns["direct"][key]
        print(f"{label:28}{turns['ours'][key]:12.1f}{turns['direct'][key]:12.1f}{ratio:14.3f}")
    for key, label in (
        ("warm_median_ms", "spawn->initialized (ms)"),
        ("fresh_ms", "  first, fresh home (ms)"),
    ):
        ratio = spawn["ours"][key] / spawn["direct"][key]
        print(f"{label:28}{spawn['ours'][key]:12.1f}{spawn['direct'][key]:12.1f}{ratio:14.3f}")
    for key, label in (
        ("after_initialize_mib", "RSS after initialize (MiB)"),
        ("after_turns_mib", "RSS after turns (MiB)"),
    ):
        print(f"{label:28}{_fmt(rss['ours'][key]):>12}{_fmt(rss['direct'][key]):>12}")
    client_cpu = result["client_cpu_per_turn_ms"]
    print(
        f"{'client CPU per turn (ms)':28}{client_cpu['ours']:12.2f}{client_cpu['direct']:12.2f}"
        f"{client_cpu['ours'] / client_cpu['direct']:14.3f}"
    )
    difference = result["paired_difference_ms"]
    print(
        f"paired difference ours-direct: median {difference['median']:+.2f} ms "
        f"(IQR {difference['q1']:+.2f} .. {difference['q3']:+.2f} ms), "
        f"mean {difference['mean']:+.2f} ± {difference['ci95']:.2f} ms (95% CI)"
    )
    verdict = "OK" if result["ratio_median"] <= 1.05 else "ABOVE TARGET"
    print(f"median ratio ours/direct = {result['ratio_median']:.3f} (target <= 1.05: {verdict})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=30, help="measured turns per side")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up turns per side")
    parser.add_argument("--spawns", type=int, default=5, help="measured spawns per side")
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--serve-model", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_model:
        serve_model_forever(args.backend)
        return 0
    if args.turns < 1 or args.spawns < 1 or args.warmup < 0:
        parser.error("--turns and --spawns must be >= 1, --warmup >= 0")
    result = anyio.run(
        bench, args.turns, args.warmup, args.spawns, args.backend, backend=args.backend
    )
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
