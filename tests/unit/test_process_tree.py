"""process_tree: reading /proc to find (and recognise) the processes a runtime started."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import pytest

from codex_manager_core.runtime import process_tree
from codex_manager_core.runtime.process_tree import ProcessInfo

WAIT = 5.0


def wait_until(predicate: Callable[[], bool], timeout: float, message: str) -> None:
    """Poll `predicate` (processes we do not own change without telling us), bounded."""
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:g} s: {message}")
        time.sleep(0.01)


@contextlib.contextmanager
def spawned(argv: list[str]) -> Iterator[subprocess.Popen[bytes]]:
    """A child in a session (and process group) of its own, killed with its group at the end."""
    process = subprocess.Popen(argv, start_new_session=True)
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=WAIT)


def state_of(pid: int) -> str | None:
    info = process_tree.read_process(pid)
    return None if info is None else info.state


def test_reads_our_own_process() -> None:
    me = process_tree.read_process(os.getpid())
    assert me is not None
    assert me.pid == os.getpid()
    assert me.ppid == os.getppid()
    assert me.pgid == os.getpgrp()
    assert me.sid == os.getsid(0)
    assert me.state in {"R", "S"}
    assert me.start_time > 0
    assert me in list(process_tree.all_processes())


def test_a_pid_that_is_gone_reads_as_none() -> None:
    process = subprocess.Popen(["true"])
    process.wait(timeout=WAIT)
    assert process_tree.read_process(process.pid) is None


def test_a_command_name_with_spaces_and_parentheses_is_parsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fields = ["S", "7", "8", "9"] + ["0"] * 15 + ["4242"] + ["0"] * 30
    stat = b"123 (a) b (c)) " + " ".join(fields).encode() + b"\n"
    (tmp_path / "123").mkdir()
    (tmp_path / "123" / "stat").write_bytes(stat)
    (tmp_path / "124").mkdir()
    (tmp_path / "124" / "stat").write_bytes(b"124 (truncated")
    (tmp_path / "self").mkdir()
    monkeypatch.setattr(process_tree, "PROC", tmp_path)
    assert process_tree.read_process(123) == ProcessInfo(123, 7, 8, 9, 4242, "S")
    assert process_tree.read_process(124) is None
    assert list(process_tree.all_processes()) == [ProcessInfo(123, 7, 8, 9, 4242, "S")]


def test_descendants_and_group_members_of_a_shell_with_two_sleeps() -> None:
    with spawned(["sh", "-c", "sleep 30 & sleep 30"]) as shell:
        wait_until(
            lambda: len(process_tree.descendants(shell.pid)) == 2,
            WAIT,
            "the shell to start its two sleeps",
        )
        sleeps = process_tree.descendants(shell.pid)
        assert {p.ppid for p in sleeps} == {shell.pid}
        assert {p.pgid for p in sleeps} == {shell.pid}
        for sleep in sleeps:
            assert (
                Path(f"/proc/{sleep.pid}/cmdline").read_bytes().split(b"\0")[0].endswith(b"sleep")
            )

        # From our own pid the tree goes two levels down.
        ours = {p.pid for p in process_tree.descendants(os.getpid())}
        assert {shell.pid, *(p.pid for p in sleeps)} <= ours

        members = {p.pid for p in process_tree.group_members(shell.pid)}
        assert members == {shell.pid, *(p.pid for p in sleeps)}
        assert process_tree.group_members(os.getpgrp()) != []

        process_tree.signal_group(shell.pid, signal.SIGKILL)
        shell.wait(timeout=WAIT)
        # The sleeps were not our children: once dead they may stay zombies (PID 1 of a
        # container need not reap), which group_members does not count.
        wait_until(
            lambda: process_tree.group_members(shell.pid) == [],
            WAIT,
            "the group to be empty after SIGKILL",
        )
        assert not any(process_tree.is_same_process(p) for p in sleeps)


def test_is_same_process_is_false_after_exit_and_for_a_recycled_pid() -> None:
    with spawned(["sleep", "30"]) as child:
        info = process_tree.read_process(child.pid)
        assert info is not None
        assert process_tree.is_same_process(info)
        # Same pid, other start time: a recycled pid is a different process.
        assert not process_tree.is_same_process(attrs.evolve(info, start_time=info.start_time + 1))

        os.kill(child.pid, signal.SIGKILL)
        # Dead but not yet reaped by us: a zombie is no longer "the same process".
        wait_until(lambda: state_of(child.pid) == "Z", WAIT, "the child to become a zombie")
        assert not process_tree.is_same_process(info)
        assert process_tree.group_members(child.pid) == []

        child.wait(timeout=WAIT)
        assert process_tree.read_process(child.pid) is None
        assert not process_tree.is_same_process(info)


def test_signal_processes_spares_a_pid_that_now_names_another_process() -> None:
    with spawned(["sleep", "30"]) as child:
        info = process_tree.read_process(child.pid)
        assert info is not None
        process_tree.signal_processes(
            [attrs.evolve(info, start_time=info.start_time + 1)], signal.SIGKILL
        )
        assert child.poll() is None, "a process with another start time was signalled"
        process_tree.signal_processes([info], signal.SIGTERM)
        assert child.wait(timeout=WAIT) == -signal.SIGTERM


def test_signalling_what_is_gone_is_harmless() -> None:
    process = subprocess.Popen(["true"], start_new_session=True)
    process.wait(timeout=WAIT)
    process_tree.signal_group(process.pid, signal.SIGTERM)
    gone = ProcessInfo(process.pid, 1, process.pid, process.pid, 1, "S")
    process_tree.signal_processes([gone], signal.SIGTERM)
