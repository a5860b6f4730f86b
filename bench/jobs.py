"""Queue figures: a no-op job type (no runtime involved), enqueue to completion.

One `Manager` over a SqliteStore in a temporary folder and an in-process runtime
(`testing.MemoryRuntime`: the queue never calls it for these jobs). A job type `noop` whose
handler returns at once is registered through `manager.jobs.job_type`.

- Throughput: `--jobs` jobs over `--owners` owners are enqueued as fast as possible; from
  the first enqueue until the last one completed (`manager.jobs.wait`), jobs/s. Each job
  is queued, started and completed through the store, each transition one transaction with
  its event.
- Latency at low load: `--samples` jobs one after the other (enqueue, then wait for it):
  enqueue-to-completed p50/p99, in ms.

Targets (issue 9): at least 2,000 jobs/s; p50 at most 5 ms at low load. (The issue calls
this script bench/queue.py; a script named queue.py would shadow the standard library's
`queue` module, which anyio imports, when it is run.)

    python bench/jobs.py [--jobs 2000] [--owners 20] [--samples 200] [--backend asyncio|trio]
                          [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import attrs

from codex_manager_core import Manager, ManagerConfig
from codex_manager_core.store.sqlite import SqliteStore
from codex_manager_core.testing import MemoryRuntime

TARGET_JOBS_PER_S = 2000.0
TARGET_P50_MS = 5.0


@attrs.frozen
class Noop:
    n: int = 0


@attrs.frozen
class Done:
    n: int


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


async def run(jobs: int, owners: int, samples: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="cm-bench-queue-") as tmp:
        # Capacity above the burst: this measures throughput, not the 429 path.
        config = ManagerConfig(
            default_cwd=Path(tmp),
            import_user_auth=False,
            queue_max_total=jobs + samples,
            queue_max_per_owner=jobs + samples,
        )
        store = SqliteStore(Path(tmp) / "manager.sqlite3")
        async with Manager.open(store=store, transport=MemoryRuntime(), config=config) as m:
            await m.runtime.wait_ready(10)

            @m.jobs.job_type("noop", payload=Noop, result=Done)
            async def noop(ctx: Any, payload: Noop) -> Done:
                return Done(payload.n)

            # Throughput: everything enqueued at once, then waited for.
            started = time.perf_counter()
            ids = [
                (await m.jobs.enqueue("noop", {"n": i}, owner=f"owner-{i % owners}")).job.job_id
                for i in range(jobs)
            ]
            for job_id in ids:
                await m.jobs.wait(job_id, timeout=120)
            elapsed = time.perf_counter() - started

            # Latency at low load: one job at a time.
            latencies = []
            for i in range(samples):
                begin = time.perf_counter()
                enqueued = await m.jobs.enqueue("noop", {"n": i}, owner="latency")
                await m.jobs.wait(enqueued.job.job_id, timeout=30)
                latencies.append((time.perf_counter() - begin) * 1000)
    return {
        "jobs": jobs,
        "owners": owners,
        "jobs_per_s": jobs / elapsed,
        "latency_p50_ms": statistics.median(latencies),
        "latency_p99_ms": percentile(latencies, 0.99),
        "samples": samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--owners", type=int, default=20)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = anyio.run(run, args.jobs, args.owners, args.samples, backend=args.backend)
    if args.json:
        print(json.dumps(figures))
        return
    verdict = "ok" if figures["jobs_per_s"] >= TARGET_JOBS_PER_S else "BELOW TARGET"
    print(
        f"throughput: {figures['jobs_per_s']:,.0f} jobs/s over {figures['jobs']} jobs and "
        f"{figures['owners']} owners (target >= {TARGET_JOBS_PER_S:,.0f}: {verdict})"
    )
    verdict = "ok" if figures["latency_p50_ms"] <= TARGET_P50_MS else "ABOVE TARGET"
    print(
        f"latency at low load: p50 {figures['latency_p50_ms']:.2f} ms, p99 "
        f"{figures['latency_p99_ms']:.2f} ms over {figures['samples']} jobs "
        f"(target p50 <= {TARGET_P50_MS:g} ms: {verdict})"
    )


if __name__ == "__main__":
    main()
