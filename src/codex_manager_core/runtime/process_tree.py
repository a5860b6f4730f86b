"""Reading the process table from /proc, to find everything a runtime started.

The runtime runs in its own process group, so one `killpg` reaches it and the commands it
spawns. A descendant can still leave the group (setsid, a sandbox helper); those we find by
walking parent links while the runtime is alive. Each process is identified by pid AND start
time, so a recycled pid is never signalled by mistake.
"""

from __future__ import annotations

import contextlib
import os
import signal as signals
from collections.abc import Iterable, Iterator
from pathlib import Path

import attrs

PROC = Path("/proc")


@attrs.frozen
class ProcessInfo:
    pid: int
    ppid: int
    pgid: int
    sid: int
    start_time: int
    state: str


def read_process(pid: int) -> ProcessInfo | None:
    """The /proc/<pid>/stat fields we need, or None when it is gone (or not readable)."""
    try:
        raw = (PROC / str(pid) / "stat").read_bytes()
    except OSError:
        return None
    # The command name is in parentheses and may itself contain spaces and parentheses.
    close = raw.rfind(b")")
    if close < 0:
        return None
    fields = raw[close + 2 :].split()
    try:
        return ProcessInfo(
            pid=pid,
            ppid=int(fields[1]),
            pgid=int(fields[2]),
            sid=int(fields[3]),
            start_time=int(fields[19]),
            state=fields[0].decode(),
        )
    except (IndexError, ValueError):
        return None


def all_processes() -> Iterator[ProcessInfo]:
    try:
        entries = os.listdir(PROC)
    except OSError:
        return
    for entry in entries:
        if entry.isdigit():
            info = read_process(int(entry))
            if info is not None:
                yield info


def descendants(pid: int) -> list[ProcessInfo]:
    """Every live process whose parent chain leads to `pid` (not `pid` itself)."""
    children: dict[int, list[ProcessInfo]] = {}
    for info in all_processes():
        children.setdefault(info.ppid, []).append(info)
    found: list[ProcessInfo] = []
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), ()):
            found.append(child)
            stack.append(child.pid)
    return found


def group_members(pgid: int) -> list[ProcessInfo]:
    """Live (non-zombie) processes in a process group."""
    return [p for p in all_processes() if p.pgid == pgid and p.state != "Z"]


def is_same_process(info: ProcessInfo) -> bool:
    """Whether `info.pid` still names the process we saw (same start time, not a zombie)."""
    now = read_process(info.pid)
    return now is not None and now.start_time == info.start_time and now.state != "Z"


def signal_group(pgid: int, sig: signals.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def signal_processes(processes: Iterable[ProcessInfo], sig: signals.Signals) -> None:
    for info in processes:
        if is_same_process(info):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(info.pid, sig)
