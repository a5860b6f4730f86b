"""pid_file: the runtime a killed manager left behind is ended before a new one starts
(it would hold codex's locks on its threads: "thread ... already has an active writer")."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import anyio
import pytest

from codex_manager_core.runtime import pid_file, process_tree
from codex_manager_core.runtime.stdio import StdioTransport
from tests.unit.test_process_tree import spawned, state_of

pytestmark = pytest.mark.anyio


def gone(pid: int) -> bool:
    return state_of(pid) in (None, "Z") and not process_tree.group_members(pid)


async def test_a_leftover_runtime_and_its_group_are_ended(tmp_path: Path) -> None:
    path = tmp_path / "runtime.pid"
    with spawned(["sh", "-c", "sleep 60 & sleep 60"]) as leftover:
        pid_file.record(path, leftover.pid)
        assert pid_file.leftover(path) is not None
        assert await pid_file.end_leftover(path, terminate=5, kill=5)
        assert gone(leftover.pid)
    assert not path.exists()


async def test_one_that_ignores_sigterm_is_killed(tmp_path: Path) -> None:
    path = tmp_path / "runtime.pid"
    with spawned(["sh", "-c", "trap '' TERM; echo ready; sleep 60"]) as leftover:
        pid_file.record(path, leftover.pid)
        assert await pid_file.end_leftover(path, terminate=0.2, kill=5)
        assert gone(leftover.pid)


async def test_a_stale_or_broken_file_signals_nobody(tmp_path: Path) -> None:
    path = tmp_path / "runtime.pid"
    me = process_tree.read_process(os.getpid())
    assert me is not None
    # Our own pid with another start time: a recycled pid, not the runtime it named.
    path.write_text(json.dumps({"pid": os.getpid(), "startTime": me.start_time + 1}))
    assert not await pid_file.end_leftover(path)
    assert not path.exists()
    for text in ("not json", "{}", '{"pid": "x", "startTime": 1}', "[]"):
        path.write_text(text)
        assert not await pid_file.end_leftover(path)
    assert not await pid_file.end_leftover(tmp_path / "missing.pid")


async def test_the_transport_ends_a_leftover_and_records_its_own_child(tmp_path: Path) -> None:
    path = tmp_path / "runtime.pid"
    transport = StdioTransport(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], pid_file=path
    )
    with spawned(["sleep", "60"]) as leftover:
        pid_file.record(path, leftover.pid)
        with anyio.fail_after(20):
            async with transport.open() as runtime:
                assert gone(leftover.pid)
                recorded = json.loads(path.read_text())
                assert recorded["pid"] == runtime.pid
    assert not path.exists()
