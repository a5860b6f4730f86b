"""The issue's test 6 on the REAL codex binary: kill -9 of the manager process mid-job, then
restart. The job completes exactly once, its orientation step is not repeated, nothing is
left running.

The scripted model runs here, in the test process, so it outlives the manager: it answers
the orientation turn "ready", the first instruction request with a `Stall` (the job is
mid-turn when the manager dies), later ones with a reply. The manager runs in a child
process (`agent_job_process.py`) that enqueues an `agent_instruction` job and waits; once
the instruction reached the model the test SIGKILLs that process (only it). Its codex
app-server loses its stdin and must exit by itself. Then a Manager opened here on the same
data dir recovers the job (re-queued), runs it again, and it completes.

asyncio only: the child is an asyncio program, and the pidfd wait below uses the loop.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import anyio.abc
import pytest

from codex_manager_core.queue.agents import DEFAULT_ORIENTATION
from codex_manager_core.queue.model import JobState
from codex_manager_core.runtime import process_tree
from codex_manager_core.testing import Reply, ScriptedModel, Stall, Step
from codex_manager_core.testing.scripted_model import RecordedRequest
from tests.integration.manager_fixtures import open_manager

pytestmark = [pytest.mark.anyio, pytest.mark.real_runtime]

REPO = Path(__file__).resolve().parents[2]
WAIT = 60.0
EXIT_BOUND = 20.0
"""Seconds the orphaned codex app-server has to exit once its stdin closed."""
ANSWER = "One line: a control plane for codex."
ORIENTATION_MARK = DEFAULT_ORIENTATION[:40]


class Worker:
    """Answers "ready" to orientation turns, stalls the first instruction, answers the rest."""

    def __init__(self) -> None:
        self.orientations = 0
        self.instructions = 0
        self.instructed = anyio.Event()

    def __call__(self, request: RecordedRequest) -> Step:
        if ORIENTATION_MARK in (request.last_user_text or ""):
            self.orientations += 1
            return Reply("ready")
        self.instructions += 1
        if self.instructions == 1:
            self.instructed.set()
            return Stall()
        return Reply(ANSWER)


class Lines:
    """The child's stdout, line by line (bounded waits)."""

    def __init__(self, process: anyio.abc.Process, stderr_log: Path) -> None:
        assert process.stdout is not None
        self._stream = process.stdout
        self._buffer = b""
        self._stderr_log = stderr_log

    async def expect(self, prefix: str, timeout: float = WAIT) -> str:
        with anyio.move_on_after(timeout):
            while True:
                line, newline, rest = self._buffer.partition(b"\n")
                if newline:
                    self._buffer = rest
                    text = line.decode()
                    if text.startswith(prefix + " "):
                        return text[len(prefix) + 1 :]
                    continue
                try:
                    self._buffer += await self._stream.receive()
                except anyio.EndOfStream:
                    break
        raise AssertionError(
            f"the manager process never printed {prefix!r} within {timeout:g} s; "
            f"its stderr:\n{self._stderr_log.read_text(errors='replace')[-3000:]}"
        )


async def wait_for_exit(pid: int, timeout: float) -> bool:
    """Whether process `pid` (not our child) ended within `timeout` s: its pidfd becomes
    readable when it exits, so this waits for that, not a poll."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        with anyio.move_on_after(timeout):
            await anyio.wait_readable(fd)
            return True
        return False
    finally:
        os.close(fd)


def kill_group(pgid: int) -> None:
    """SIGKILL what is left of the app-server's process group (it runs in its own session)."""
    if process_tree.group_members(pgid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            process_tree.signal_group(pgid, signal.SIGKILL)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_manager_killed_mid_job_completes_it_once_after_restart_without_orienting_again(
    tmp_path: Path,
) -> None:
    model = Worker()
    stderr_log = tmp_path / "manager-process.stderr.log"
    async with ScriptedModel(model) as scripted:
        runtime_pid: int | None = None
        with stderr_log.open("wb") as stderr:
            child = await anyio.open_process(
                [
                    sys.executable,
                    "-m",
                    "tests.integration.agent_job_process",
                    str(tmp_path),
                    scripted.base_url,
                ],
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=stderr,
            )
        try:
            lines = Lines(child, stderr_log)
            runtime_pid = int(await lines.expect("runtime"))
            job_id = await lines.expect("job")
            with anyio.move_on_after(WAIT):
                await model.instructed.wait()
            assert model.instructed.is_set(), (
                f"the job's instruction never reached the model within {WAIT:g} s "
                f"(requests: {len(scripted.requests)}; errors: {scripted.errors})"
            )
            os.kill(child.pid, signal.SIGKILL)
            with anyio.fail_after(WAIT):
                assert await child.wait() == -signal.SIGKILL
            # Its app-server lost its stdin: it goes by itself, within a bound.
            assert await wait_for_exit(runtime_pid, EXIT_BOUND), (
                f"the codex app-server (pid {runtime_pid}) of the killed manager still ran "
                f"{EXIT_BOUND:g} s after its manager died"
            )
        finally:
            if child.returncode is None:
                child.kill()
                with anyio.move_on_after(WAIT):
                    await child.wait()
            if runtime_pid is not None:
                kill_group(runtime_pid)
        assert (model.orientations, model.instructions) == (1, 1), "before the crash"

        async with open_manager(tmp_path, scripted) as env:
            manager = env.manager
            job = await manager.jobs.wait(job_id, timeout=WAIT)
            events = await manager.events.read(types=["orchestrator_job_"], limit=1000)
            counts = await manager.jobs.counts()
    mine = [e for e in events if e.payload.get("jobId") == job_id]
    assert (job.state, job.error) == (JobState.COMPLETED, None)
    assert job.attempts == 2, "the attempt the crash cut short, and the one after the restart"
    assert job.result is not None
    assert job.result["text"] == ANSWER
    completed = [e for e in mine if e.type == "orchestrator_job_completed"]
    assert len(completed) == 1, "the job completed exactly once"
    recovered = [
        e for e in mine if e.type == "orchestrator_job_queued" and e.payload.get("recovered")
    ]
    assert len(recovered) == 1, "the restart re-queued the job the crash left running"
    assert model.orientations == 1, "the orientation recorded before the crash is not repeated"
    assert model.instructions == 2, "the instruction ran again after the restart, once"
    assert (counts[JobState.RUNNING], counts[JobState.QUEUED]) == (0, 0)
    oriented = (job.steps or {}).get("oriented") or {}
    assert oriented.get("sessionId") == job.result["workerSessionId"], "the same worker resumed"
    # The worker's thread was started before the crash and resumed after it: both times
    # with codex's own tools off (ManagerConfig.system_thread_config), its own tools on.
    for request in scripted.requests:
        tools = {tool.get("name") or tool.get("type") for tool in request.body.get("tools", [])}
        assert "act" in tools, tools
        assert not tools & {"exec_command", "web_search", "multi_agent_v1"}, tools
