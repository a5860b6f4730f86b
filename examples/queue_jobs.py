"""Background jobs: register a job type, enqueue, watch, wait, cancel, list, and run an
`agent_instruction` job on a hidden worker session.

    python examples/queue_jobs.py                    # offline: real codex, scripted model
    python examples/queue_jobs.py --backend trio     # the same, on trio

It needs no account: codex talks to a local scripted model (as in
examples/embedded_quickstart.py --demo). Everything lives in a temporary folder that is
removed on exit. See docs/queue.md for the queue, and "How to add a job type" there.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import anyio
import attrs

from codex_manager_core import Event, Manager, ManagerConfig
from codex_manager_core.queue.agents import AgentDefinition
from codex_manager_core.queue.model import session_owner
from codex_manager_core.queue.policies import (
    CancelPolicy,
    DedupeMode,
    DedupePolicy,
    RetryPolicy,
)
from codex_manager_core.services.job_context import JobContext
from codex_manager_core.testing import (
    RecordedRequest,
    Reply,
    ScriptedModel,
    Step,
    offline_env,
    write_offline_config,
)

ORIENTATION = "You are the reviewer of the queue example. Reply with the single word: ready."
ANSWER = "Next step: add a test for the empty file."
WAIT = 60.0

# --------------------------------------------------------------------- the demo "model"


def demo_script(request: RecordedRequest) -> Step:
    """The worker's first turn is its orientation ("ready"); then the instruction's answer."""
    if ORIENTATION in (request.last_user_text or ""):
        return Reply("ready")
    return Reply(ANSWER, chunks=4, delay=0.05)


# --------------------------------------------------------------------- a job type


@attrs.frozen
class CountWords:
    """The payload (over HTTP and in the store its keys are camelCase: `failFirst`)."""

    name: str
    text: str
    fail_first: bool = False
    hold: bool = False


@attrs.frozen
class WordCount:
    """The result."""

    name: str
    words: int


class Flaky(Exception):
    """A failure worth another attempt (the retry policy below names it)."""


def register_word_count(manager: Manager, gate: anyio.Event) -> None:
    # Registration is synchronous: do it right after Manager.open, before the first await
    # that could let the runner start (recovered) jobs of this type.
    @manager.jobs.job_type(
        "word_count",
        payload=CountWords,
        result=WordCount,
        # One live job per (owner, name): enqueueing it again while it is queued or
        # running joins the live job instead of adding one.
        dedupe=DedupePolicy(mode=DedupeMode.SINGLE_FLIGHT, key=lambda p: p.name),
        # Three attempts at most; only Flaky earns another one, after 0.05 s, 0.1 s, ...
        retry=RetryPolicy(max_attempts=3, retryable=(Flaky,), base_delay=0.05),
        timeout=30.0,
        cancel=CancelPolicy(strategy="mark_canceled"),  # no turn to interrupt
    )
    async def word_count(ctx: JobContext, payload: CountWords) -> WordCount:
        await ctx.progress({"phase": "waiting", "attempt": ctx.attempt})
        await gate.wait()  # held until everything is enqueued, so dedupe is visible
        if payload.hold:
            await anyio.sleep_forever()  # until canceled
        if payload.fail_first and ctx.attempt == 1:
            raise Flaky("the disk hiccuped")
        await ctx.progress({"phase": "counting", "attempt": ctx.attempt})
        return WordCount(name=payload.name, words=len(payload.text.split()))


# --------------------------------------------------------------------- the manager part


async def run(data_dir: Path, config: ManagerConfig) -> int:
    async with Manager.open(data_dir, config=config) as manager:
        gate = anyio.Event()
        register_word_count(manager, gate)

        # Every job change is an event: orchestrator_job_queued / started / progress /
        # completed / failed / canceled, with {jobId, projectId (the owner), jobType, ...}.
        @manager.events.on("orchestrator_job_")
        async def show(event: Event) -> None:
            payload = event.payload
            if payload.get("jobType") != "word_count":
                return
            what = event.type.removeprefix("orchestrator_job_")
            if what == "progress":
                progress = payload["progress"]
                what += f" {progress['phase']} (attempt {progress['attempt']})"
            elif what == "queued" and payload.get("retry"):
                what = f"retry after {payload['error']}"
            print(f"[event] {payload['jobId'][:8]} {what}")

        await manager.runtime.wait_ready(timeout=WAIT)

        # Two owners (a project id, or "session:<id>"): at most one job of an owner runs at
        # a time, and owners take turns.
        jobs = {}
        for owner, name, text, more in [
            ("alice", "draft.md", "one two three", {}),
            ("alice", "notes.md", "four five", {"failFirst": True}),
            ("bob", "todo.md", "six seven eight nine", {}),
            ("bob", "huge.log", "never counted", {"hold": True}),
        ]:
            enqueued = await manager.jobs.enqueue(
                "word_count", {"name": name, "text": text, **more}, owner=owner
            )
            jobs[name] = enqueued.job.job_id
            print(f"enqueue {owner}/{name}: {enqueued.outcome}")
        again = await manager.jobs.enqueue(
            "word_count", CountWords(name="draft.md", text="one two three"), owner="alice"
        )
        same = again.job.job_id == jobs["draft.md"]
        print(f"enqueue alice/draft.md again: {again.outcome} (the same job: {same})")

        canceled = await manager.jobs.cancel(jobs.pop("huge.log"))
        print(f"cancel huge.log: {canceled.state}")
        gate.set()

        for name, job_id in jobs.items():
            job = await manager.jobs.wait(job_id, timeout=WAIT)
            print(f"{name}: {job.state} after {job.attempts} attempt(s), result {job.result}")

        page = await manager.jobs.list(types=["word_count"])
        listed = sorted(f"{job.owner}/{job.payload['name']}:{job.state}" for job in page.items)
        print("listed: " + ", ".join(listed))
        counts = await manager.jobs.counts()
        print("counts: " + ", ".join(f"{s}={n}" for s, n in sorted(counts.items()) if n))

        # ------------------------------------------------ an agent_instruction job
        # The built-in job type: one instruction turn on the hidden worker session of
        # (owner, agent), made on first use and oriented once. `assistant_text` keeps the
        # answer: the job's result, its progress, and a transcript row of the source session.
        manager.agents.register(AgentDefinition(name="reviewer", orientation=ORIENTATION))
        chat = await manager.sessions.create(title="Queue example")
        enqueued = await manager.jobs.enqueue(
            "agent_instruction",
            {
                "agent": "reviewer",
                "jobKind": "next_step",
                "instructionText": "What should I do next? One sentence.",
                "sourceSessionId": chat.session_id,
                "expectResponse": "assistant_text",
            },
            owner=session_owner(chat.session_id),
        )
        job = await manager.jobs.wait(enqueued.job.job_id, timeout=WAIT)
        print(f"agent_instruction: {job.state}, steps {sorted(job.steps or {})}")
        if job.result is None:
            print(f"no answer: {job.error}")
            return 1
        workers = await manager.workers.list(session_owner(chat.session_id))
        hidden = {s.session_id for s in (await manager.sessions.list()).items}
        print(f"worker {workers[0].agent}, hidden: {workers[0].session_id not in hidden}")
        transcript = await manager.transcript.get(chat.session_id)
        row = next(r for r in transcript.entries if r["messageId"].startswith("agent-job-output"))
        print(f"transcript row: {row['type']} {row['status']}")
        print(f"Answer: {job.result['text']}")
        return 0


async def main() -> int:
    with tempfile.TemporaryDirectory(prefix="codex-manager-queue-") as tmp:
        root = Path(tmp)
        workdir = root / "work"
        workdir.mkdir()
        async with ScriptedModel(demo_script) as model:
            codex_home = root / "codex-home"
            write_offline_config(codex_home, base_url=model.base_url)
            env = offline_env(codex_home)  # CODEX_HOME set, OPENAI_API_KEY removed
            env["HOME"] = str(root)  # codex never sees your ~/.codex
            config = ManagerConfig(
                codex_home=codex_home,
                runtime_env=env,
                import_user_auth=False,
                default_cwd=workdir,
            )
            return await run(root / "data", config)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    args = parser.parse_args()
    sys.exit(anyio.run(main, backend=args.backend))
