"""What do a thread's dynamic tools cost its turns? The same turn on sessions that differ
only in the dynamic tools they declare, on the real codex, as ratios in one run.

Why the worker tool is one tool (`act`, docs/queue.md "Actions and worker tools"): every
dynamic tool a thread declares makes each of its turns slower in codex, and a worker's turn
is what every `agent_instruction` job waits for.

The real `codex app-server` offline (ScriptedModel + write_offline_config + offline_env),
one `Manager`; the scripted model answers a short reply in 4 chunks. Sessions:

- "user, none": a user session (codex's own tools on): the baseline;
- "worker, none": system-owned, like a worker (codex's own tools off,
  `ManagerConfig.system_thread_config`), no dynamic tool;
- "worker, act": the same with the worker tool `act` (what workers declare);
- "worker, per kind": the same with one tool per action kind (five: what workers declared
  before `act`).

`--rounds` rounds, each session's turn once per round, the order rotating every round.
Reported: each session's p50 turn in ms and its ratio to the baseline's p50.

    python bench/dynamic_tools.py [--rounds 50] [--backend asyncio|trio] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from offline import open_manager

from codex_manager_core.testing import Reply, ScriptedModel

WAIT = 60.0
_TEXT = {"type": "string"}
_KEY = {"type": "string", "description": "The same key again returns the first result."}
#: name -> (description, properties, required): the per-kind tools of before `act`.
PER_KIND: dict[str, tuple[str, dict[str, Any], list[str]]] = {
    "transcript_upsert": (
        "Insert or replace a supplemental transcript row (by messageId) in the job's session.",
        {
            "sessionId": _TEXT,
            "messageId": _TEXT,
            "turnId": _TEXT,
            "role": {"type": "string", "enum": ["user", "assistant", "system"]},
            "type": _TEXT,
            "content": _TEXT,
            "status": {"type": "string", "enum": ["streaming", "complete", "canceled", "error"]},
            "details": _TEXT,
            "anchorItemId": _TEXT,
        },
        ["messageId", "turnId", "role", "type", "content"],
    ),
    "approval_decide": (
        "Decide a pending approval of the job's session (and turn).",
        {
            "approvalId": _TEXT,
            "decision": {"type": "string", "enum": ["accept", "acceptForSession", "decline"]},
            "scope": {"type": "string", "enum": ["turn", "session"]},
        },
        ["approvalId", "decision"],
    ),
    "turn_steer": (
        "Add input to the running turn of the job's session.",
        {"sessionId": _TEXT, "turnId": _TEXT, "text": _TEXT},
        ["text"],
    ),
    "queue_enqueue": (
        "Enqueue a job for the job's owner.",
        {
            "type": _TEXT,
            "payload": {"type": "object"},
            "priority": {"type": "string", "enum": ["interactive", "background"]},
        },
        ["type", "payload"],
    ),
    "session_rename": (
        "Rename the job's session.",
        {"sessionId": _TEXT, "title": _TEXT},
        ["title"],
    ),
}


def per_kind_specs() -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "name": name,
            "description": description,
            "inputSchema": {
                "type": "object",
                "properties": {**properties, "idempotencyKey": _KEY},
                "required": required,
                "additionalProperties": True,
            },
        }
        for name, (description, properties, required) in PER_KIND.items()
    ]


async def run(rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="cm-bench-dynamic-tools-") as tmp:
        model = ScriptedModel(lambda _request: Reply("A short answer.", chunks=4))
        async with model, open_manager(Path(tmp), model) as manager:
            create = manager.sessions.create
            sessions = {
                "user, none": (await create(), False),
                "worker, none": (await create(system_owned=True), True),
                "worker, act": (
                    await create(system_owned=True, dynamic_tools=manager.worker_tools.specs()),
                    True,
                ),
                "worker, per kind": (
                    await create(system_owned=True, dynamic_tools=per_kind_specs()),
                    True,
                ),
            }

            async def turn(name: str, i: int) -> float:
                session, system = sessions[name]
                start = time.perf_counter()
                if system:  # send_and_wait refuses a system-owned session
                    handle = await manager.turns.send_to_worker(session.session_id, f"go {i}")
                    result = await manager.turns.wait(
                        session.session_id, handle.turn_id, timeout=WAIT
                    )
                else:
                    result = await manager.turns.send_and_wait(
                        session.session_id, f"go {i}", timeout=WAIT
                    )
                elapsed = time.perf_counter() - start
                if result.status != "completed":
                    raise RuntimeError(f"{name}: the turn ended {result.status}")
                return elapsed

            names = list(sessions)
            for name in names:  # warm-up
                await turn(name, -1)
            times: dict[str, list[float]] = {name: [] for name in names}
            for i in range(rounds):
                for name in names[i % len(names) :] + names[: i % len(names)]:
                    times[name].append(await turn(name, i))
    base = statistics.median(times[names[0]])
    return {
        "rounds": rounds,
        "sessions": {
            name: {
                "p50_ms": statistics.median(values) * 1000,
                "ratio": statistics.median(values) / base,
            }
            for name, values in times.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = anyio.run(run, args.rounds, backend=args.backend)
    if args.json:
        print(json.dumps(figures))
        return
    print(f"turn p50 over {figures['rounds']} rounds, and its ratio to a user session's:")
    for name, side in figures["sessions"].items():
        print(f"{name:>18}: {side['p50_ms']:6.1f} ms  {side['ratio']:.3f}")


if __name__ == "__main__":
    main()
