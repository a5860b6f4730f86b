"""Does a slow extension slow a foreground turn? A turn's latency with an extension whose
handler sleeps its whole timeout on every notification, against none, as a ratio (issue 10:
target <= 1.05).

Two `Manager`s, each over its own real `codex app-server` offline (ScriptedModel +
write_offline_config + offline_env, one scripted model for both) on its own temporary data
dir (SqliteStore), one user session each. One has the extension ("the sleeper") loaded:
one async handler subscribed to `app_server.*`, so it gets every notification of every turn
(turn started, items, deltas, turn completed), which sleeps until the dispatcher cancels it
at its timeout (`--timeout`, default 0.05 s: short, so that it is called, sleeps and is
cancelled many times during the measured turns; with a long one it is called once and
sleeps through them). The other has no extension. Dispatch is sequential and off the
notification path: the sleeper's Manager falls further behind with every turn (its backlog
read back from the ledger), and its foreground stream must not notice.

- Warm-up: one turn on each.
- `--turns` rounds, each one turn on either Manager (the order alternating every round):
  `manager.turns.send_and_wait` of a short prompt answered by a scripted reply streamed in
  a few chunks.
- Reported: p50 / p90 of each side in ms, the ratio p50(with) / p50(without) (the issue's
  figure), the spread of the per-round ratios (two codex processes differ by a few % from
  run to run: the noise to read the ratio against), and how many times the sleeper was
  called (each call ran until its timeout cancelled it).

    python bench/extensions.py [--turns 30] [--timeout 0.05] [--backend asyncio|trio] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import anyio
from offline import open_manager

from codex_manager_core import Manager
from codex_manager_core.extensions import ExtensionEvent, ExtensionRegistry, Subscription, Toolbox
from codex_manager_core.extensions.dispatch import allow_all
from codex_manager_core.extensions.model import (
    LoadedExtension,
    Manifest,
    Origin,
    OriginType,
    TrustMode,
    TrustReport,
)
from codex_manager_core.testing import RecordedRequest, Reply, ScriptedModel, Step

TARGET_RATIO = 1.05
WAIT = 60.0
ANSWER = "The tests pass; next, document the parser's error messages."


def answer(request: RecordedRequest) -> Step:
    return Reply(ANSWER, chunks=4)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def summary_ms(values: list[float]) -> dict[str, float]:
    ms = [value * 1000 for value in values]
    return {"p50": statistics.median(ms), "p90": percentile(ms, 0.9), "n": len(ms)}


class Sleeper:
    """The extension: one handler on `app_server.*` that sleeps past its timeout."""

    def __init__(self, timeout: float) -> None:
        self.calls = 0
        registry = ExtensionRegistry("sleeper")
        registry.on("app_server.*", self.handle, timeout=timeout)
        self.loaded = LoadedExtension(
            module_name="sleeper",
            manifest=Manifest("sleeper", "1.0.0", "sleeper", "Sleeper"),
            origin=Origin(OriginType.EMBEDDED, "bench/extensions.py"),
            manifest_path=None,
            entrypoint_path=None,
            subscriptions=tuple(registry.subscriptions),
            trust=TrustReport(TrustMode.DISABLED, "accepted"),
        )

    async def handle(self, event: ExtensionEvent, tools: Toolbox) -> None:
        self.calls += 1
        await anyio.sleep(3600)  # cancelled by the dispatcher at the handler's timeout

    def subscriptions_for(self, event_type: str) -> Sequence[tuple[LoadedExtension, Subscription]]:
        if not event_type.startswith("app_server."):
            return ()
        return [(self.loaded, sub) for sub in self.loaded.subscriptions]


async def run(turns: int, timeout: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="cm-bench-extensions-") as tmp:
        root = Path(tmp)
        async with ScriptedModel(answer) as model, contextlib.AsyncExitStack() as stack:
            sleeper = Sleeper(timeout)
            sides: dict[str, Callable[[int], Awaitable[float]]] = {}
            for name in ("with", "without"):
                manager = await stack.enter_async_context(open_manager(root / name, model))
                if name == "with":
                    manager.extension_dispatcher.set_providers(sleeper.subscriptions_for, allow_all)
                session = (await manager.sessions.create()).session_id
                sides[name] = functools.partial(turn, manager, session)
                await sides[name](-1)  # warm-up
            times: dict[str, list[float]] = {name: [] for name in sides}
            names = list(sides)
            for i in range(turns):
                for name in names[i % 2 :] + names[: i % 2]:
                    times[name].append(await sides[name](i))
            calls = sleeper.calls
    figures: dict[str, Any] = {"turns": turns, "timeout_s": timeout}
    for name, values in times.items():
        figures[f"{name}_ms"] = summary_ms(values)
    figures["ratio"] = figures["with_ms"]["p50"] / figures["without_ms"]["p50"]
    paired = sorted(w / wo for w, wo in zip(times["with"], times["without"], strict=True))
    figures["round_ratio"] = {"p50": statistics.median(paired), "min": paired[0], "max": paired[-1]}
    figures["handler_calls"] = calls
    return figures


async def turn(manager: Manager, session: str, i: int) -> float:
    start = time.perf_counter()
    result = await manager.turns.send_and_wait(session, f"Run the tests ({i})", timeout=WAIT)
    elapsed = time.perf_counter() - start
    if result.status != "completed" or result.final_text != ANSWER:
        raise RuntimeError(f"turn {i}: {result.status}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=30)
    parser.add_argument("--timeout", type=float, default=0.05)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = anyio.run(run, args.turns, args.timeout, backend=args.backend)
    if args.json:
        print(json.dumps(figures))
        return
    for name, label in (("with", "with the sleeper"), ("without", "no extension")):
        side = figures[f"{name}_ms"]
        print(f"{label:>18}: p50 {side['p50']:6.1f} ms, p90 {side['p90']:6.1f} ms")
    verdict = "ok" if figures["ratio"] <= TARGET_RATIO else "ABOVE TARGET"
    print(
        f"ratio with/without (p50): {figures['ratio']:.3f} over {figures['turns']} turns "
        f"(target <= {TARGET_RATIO:.2f}: {verdict}); the sleeper was called "
        f"{figures['handler_calls']} times, each for its {figures['timeout_s']:g} s timeout"
    )
    rounds = figures["round_ratio"]
    print(
        f"per-round ratios (the noise to read it against): median {rounds['p50']:.3f}, "
        f"min {rounds['min']:.3f}, max {rounds['max']:.3f}"
    )


if __name__ == "__main__":
    main()
