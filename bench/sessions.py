"""Session figures through the Manager: create latency (real codex) and list latency.

Part 1, create: the real `codex app-server` offline (ScriptedModel + write_offline_config +
offline_env), one `Manager` on a temporary data dir (SqliteStore). `--creates` calls of
`manager.sessions.create()` (after `--warmup` unmeasured ones), interleaved with the same
`thread/start` sent directly through `manager.supervisor.request` (the floor: the runtime's
own time plus our JSON-RPC client). Reported: p50/p90 of both, and the part of each create
spent outside its own `thread/start` call ("ours": validation, controls, the store write of
the session and its event through the ledger), measured per call by timing the
`thread/start` request inside it.

Part 2, list: for SqliteStore and MemoryStore, a Manager on an idle in-process runtime (it
only answers `initialize`), whose store is filled directly with `SessionRecord` rows
(`store.apply(Batch((PutSession(...), ...)))`, 1,000 per batch; 10% archived, 5%
system-owned, `updated_at` spread so ties happen as in real lists). At each size of
`--sizes`, `manager.sessions.list(limit=100)` is timed `--calls` times (after 10 unmeasured
calls): p50/p99.

Targets: create <= 50 ms (judged on p50), list <= 2 ms at 10,000 sessions (p50 and p99
judged separately).

    python bench/sessions.py [--creates 30] [--sizes 10,1000,10000] [--backend asyncio|trio]
                             [--json] [--skip-create] [--skip-list]
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
from offline import open_manager

from codex_manager_core import Manager, ManagerConfig, SessionRecord, rpc
from codex_manager_core.models import Controls, TitleSource
from codex_manager_core.ports import ExitStatus, RuntimeProcess, Store
from codex_manager_core.ports.store import Batch, PutSession
from codex_manager_core.runtime.supervisor import Supervisor
from codex_manager_core.services.controls import approval_wire
from codex_manager_core.store.memory import MemoryStore
from codex_manager_core.store.sqlite import SqliteStore
from codex_manager_core.testing import Reply, ScriptedModel

TARGET_CREATE_MS = 50.0
TARGET_LIST_MS = 2.0
TARGET_LIST_SIZE = 10_000
POPULATE_BATCH = 1000
LIST_WARMUP = 10
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def summary_ms(values: Sequence[float]) -> dict[str, float]:
    ms = [value * 1000 for value in values]
    return {
        "p50": statistics.median(ms),
        "p90": percentile(ms, 0.90),
        "p99": percentile(ms, 0.99),
        "min": min(ms),
        "max": max(ms),
        "n": len(ms),
    }


# --------------------------------------------------------------------------- create


class TimedSupervisor:
    """Times the `thread/start` calls that go through a Supervisor (wraps `request`)."""

    def __init__(self, supervisor: Supervisor) -> None:
        self._request = supervisor.request
        self.thread_start: list[float] = []

    async def request(self, method: str, params: Any = None, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return await self._request(method, params, **kwargs)
        finally:
            if method == "thread/start":
                self.thread_start.append(time.perf_counter() - start)


async def bench_create(root: Path, creates: int, warmup: int) -> dict[str, Any]:
    model = ScriptedModel(lambda request: Reply("ok"))
    async with model, open_manager(root, model) as manager:
        health = manager.runtime.health
        timed = TimedSupervisor(manager.supervisor)
        # An instance attribute shadows the method: create_session's own thread/start
        # goes through the timer.
        manager.supervisor.request = timed.request  # type: ignore[method-assign]
        controls = await manager.controls.defaults()
        params: dict[str, Any] = {
            "cwd": str(root / "work"),
            "approvalPolicy": approval_wire(controls.approval_policy),
            "sandbox": controls.filesystem_sandbox,
        }
        if controls.model:
            params["model"] = controls.model

        async def create() -> tuple[float, float, float]:
            calls = len(timed.thread_start)
            cpu = time.process_time()
            start = time.perf_counter()
            await manager.sessions.create()
            elapsed = time.perf_counter() - start
            assert len(timed.thread_start) == calls + 1
            return elapsed, timed.thread_start[-1], time.process_time() - cpu

        async def direct() -> float:
            start = time.perf_counter()
            await manager.supervisor.request("thread/start", params)
            return time.perf_counter() - start

        create_s: list[float] = []
        inner_s: list[float] = []
        cpu_s: list[float] = []
        direct_s: list[float] = []
        for index in range(warmup + creates):
            # ABBA: neither side always runs right after the other.
            order = ("create", "direct") if index % 2 == 0 else ("direct", "create")
            for side in order:
                if side == "create":
                    elapsed, inner, cpu = await create()
                    if index >= warmup:
                        create_s.append(elapsed)
                        inner_s.append(inner)
                        cpu_s.append(cpu)
                else:
                    elapsed = await direct()
                    if index >= warmup:
                        direct_s.append(elapsed)
        ours = [total - inner for total, inner in zip(create_s, inner_s, strict=True)]
        return {
            "codex_version": health.codex_version,
            "creates": creates,
            "warmup": warmup,
            "create_ms": summary_ms(create_s),
            "thread_start_inside_create_ms": summary_ms(inner_s),
            "ours_ms": summary_ms(ours),
            "direct_thread_start_ms": summary_ms(direct_s),
            "create_cpu_ms": statistics.mean(cpu_s) * 1000,
            "model_requests": len(model.requests),
            "target_ms": TARGET_CREATE_MS,
            "target_met": statistics.median(create_s) * 1000 <= TARGET_CREATE_MS,
        }


# ----------------------------------------------------------------------------- list


class IdleProcess:
    """A `RuntimeProcess` that answers `initialize` and nothing else (list_sessions never
    calls the runtime)."""

    def __init__(self) -> None:
        self._pending = bytearray()
        self._outgoing: collections.deque[bytes] = collections.deque()
        self._wakeup = anyio.Event()
        self._closed = False

    @property
    def pid(self) -> int | None:
        return None

    async def send(self, data: bytes) -> None:
        await anyio.lowlevel.checkpoint()
        self._pending += data
        while (newline := self._pending.find(b"\n")) >= 0:
            message = json.loads(bytes(self._pending[:newline]))
            del self._pending[: newline + 1]
            if "id" not in message or "method" not in message:
                continue
            if message["method"] == "initialize":
                answer: dict[str, Any] = {
                    "id": message["id"],
                    "result": {"userAgent": "cm_bench/0.163.0 (idle)"},
                }
            else:
                error = {"code": rpc.METHOD_NOT_FOUND, "message": "idle bench runtime"}
                answer = {"id": message["id"], "error": error}
            self._outgoing.append(rpc.encode_message(answer))
            self._wakeup.set()

    async def receive(self) -> bytes:
        while True:
            if self._closed:
                await anyio.lowlevel.checkpoint()
                return b""
            if self._outgoing:
                await anyio.lowlevel.checkpoint()
                return self._outgoing.popleft()
            await self._wakeup.wait()
            self._wakeup = anyio.Event()

    async def wait(self) -> ExitStatus:
        while not self._closed:
            await self._wakeup.wait()
            self._wakeup = anyio.Event()
        return ExitStatus(0)

    async def stop(self) -> ExitStatus:
        self._closed = True
        self._wakeup.set()
        await anyio.lowlevel.checkpoint()
        return ExitStatus(0)


class IdleTransport:
    def open(self) -> AbstractAsyncContextManager[RuntimeProcess]:
        return self._open()

    @asynccontextmanager
    async def _open(self) -> AsyncIterator[RuntimeProcess]:
        process = IdleProcess()
        try:
            yield process
        finally:
            with anyio.CancelScope(shield=True):
                await process.stop()


def session_record(index: int, controls: Controls) -> SessionRecord:
    stamp = T0 + timedelta(seconds=index // 3)  # equal updated_at values, as in real lists
    return SessionRecord(
        session_id=f"019a0000-0000-7000-8000-{index:012d}",
        title=f"Session {index}",
        title_source=TitleSource.USER,
        cwd="/home/user/project",
        project_id=None,
        archived=index % 10 == 9,
        system_owned=index % 20 == 7,
        materialized=True,
        status="idle",
        model="gpt-5",
        preview="Refactor the parser and add tests for the edge cases",
        created_at=stamp,
        updated_at=stamp,
        controls=controls,
    )


async def populate(store: Store, start: int, stop: int, controls: Controls) -> None:
    for first in range(start, stop, POPULATE_BATCH):
        last = min(stop, first + POPULATE_BATCH)
        await store.apply(
            Batch(tuple(PutSession(session_record(i, controls)) for i in range(first, last)))
        )


async def bench_list(
    root: Path, kind: str, sizes: Sequence[int], calls: int
) -> list[dict[str, Any]]:
    store: Store = MemoryStore() if kind == "memory" else SqliteStore(root / "list.sqlite3")
    config = ManagerConfig(import_user_auth=False, default_cwd=root, delta_retention=None)
    results: list[dict[str, Any]] = []
    async with Manager.open(
        root / f"data-{kind}", store=store, config=config, transport=IdleTransport()
    ) as manager:
        await manager.runtime.wait_ready(10)
        present = 0
        for size in sizes:
            await populate(manager.store, present, size, config.default_controls)
            present = max(present, size)
            for _ in range(LIST_WARMUP):
                page = await manager.sessions.list(limit=100)
            samples: list[float] = []
            for _ in range(calls):
                start = time.perf_counter()
                page = await manager.sessions.list(limit=100)
                samples.append(time.perf_counter() - start)
            stats = summary_ms(samples)
            results.append(
                {
                    "store": kind,
                    "sessions": size,
                    "returned": len(page.items),
                    "list_ms": stats,
                    "target_met": None
                    if size < TARGET_LIST_SIZE
                    else {key: stats[key] <= TARGET_LIST_MS for key in ("p50", "p99")},
                }
            )
    return results


# ------------------------------------------------------------------------------ run


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {
        "backend": args.backend,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average": os.getloadavg(),
        },
    }
    with tempfile.TemporaryDirectory(prefix="cm-bench-sessions-") as tmp:
        root = Path(tmp)
        if not args.skip_create:
            (root / "create").mkdir()
            result["create"] = await bench_create(root / "create", args.creates, args.warmup)
        if not args.skip_list:
            lists: list[dict[str, Any]] = []
            for kind in ("sqlite", "memory"):
                (root / kind).mkdir()
                lists.extend(await bench_list(root / kind, kind, args.sizes, args.calls))
            result["list"] = lists
    return result


def _ok(met: bool | None) -> str:
    return "" if met is None else ("OK" if met else "MISSED")


def _list_verdict(met: dict[str, bool] | None) -> str:
    if met is None:
        return ""
    return ", ".join(f"{key} {_ok(value)}" for key, value in met.items())


def print_table(result: dict[str, Any]) -> None:
    machine = result["machine"]
    print(
        f"sessions bench: backend {result['backend']}, {machine['cpus']} CPUs, "
        f"load average {machine['load_average'][0]:.2f}"
    )
    create = result.get("create")
    if create is not None:
        print(
            f"\ncreate_session: {create['creates']} creates (+{create['warmup']} warm-up), "
            f"codex {create['codex_version']}"
        )
        header = f"{'':34}{'p50 ms':>9}{'p90 ms':>9}{'min ms':>9}{'max ms':>9}"
        print(header)
        print("-" * len(header))
        for key, label in (
            ("create_ms", "manager.sessions.create()"),
            ("thread_start_inside_create_ms", "  its thread/start call"),
            ("ours_ms", "  ours (the rest)"),
            ("direct_thread_start_ms", "thread/start direct (supervisor)"),
        ):
            row = create[key]
            print(f"{label:34}{row['p50']:9.2f}{row['p90']:9.2f}{row['min']:9.2f}{row['max']:9.2f}")
        print(f"client CPU per create: {create['create_cpu_ms']:.2f} ms")
        print(f"target: create p50 <= {create['target_ms']:g} ms: {_ok(create['target_met'])}")
    lists = result.get("list")
    if lists is not None:
        print("\nlist_sessions(limit=100)")
        header = f"{'store':8}{'sessions':>10}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}  target"
        print(header)
        print("-" * len(header))
        for row in lists:
            stats = row["list_ms"]
            print(
                f"{row['store']:8}{row['sessions']:>10,}{stats['p50']:9.3f}{stats['p99']:9.3f}"
                f"{stats['max']:9.3f}  {_list_verdict(row['target_met'])}"
            )
        print(f"target: <= {TARGET_LIST_MS:g} ms at {TARGET_LIST_SIZE:,} sessions")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--creates", type=int, default=30, help="measured creates")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured creates first")
    parser.add_argument(
        "--sizes",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[10, 1000, 10_000],
        help="comma-separated store sizes for the list part",
    )
    parser.add_argument("--calls", type=int, default=200, help="list calls per size")
    parser.add_argument("--skip-create", action="store_true", help="no real runtime part")
    parser.add_argument("--skip-list", action="store_true")
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    if args.creates < 1 or args.warmup < 0 or args.calls < 1:
        parser.error("--creates and --calls must be >= 1, --warmup >= 0")
    if any(size < 1 for size in args.sizes) or args.sizes != sorted(args.sizes):
        parser.error("--sizes must be positive and ascending")
    result = anyio.run(bench, args, backend=args.backend)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
