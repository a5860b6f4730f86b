"""The runtime a dead manager left behind, found through a pid file and ended.

When codex-manager is killed (SIGKILL, OOM, a power cut of the terminal) it cannot stop its
runtime. The runtime notices that its stdin closed and exits, but not at once, and while it
lives it holds codex's locks on the threads it had loaded ("thread ... already has an active
writer"): a manager started again on the same data dir at once would be refused its own
threads. So the transport writes the runtime's pid (with its start time, so a recycled pid
is never mistaken for it) next to CODEX_HOME, and before starting a runtime it ends the one
the file names, if that one still runs: SIGTERM to its process group, then SIGKILL.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
from pathlib import Path

import anyio

from codex_manager_core.runtime import process_tree

logger = logging.getLogger(__name__)

#: How often the end of a process that is not our child is checked (nothing signals it).
_POLL = 0.02


def record(path: Path, pid: int) -> None:
    """Write the pid file for runtime `pid` (atomically: a crash leaves the old or the new)."""
    info = process_tree.read_process(pid)
    if info is None:
        return  # already gone: nothing to record
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps({"pid": pid, "startTime": info.start_time}))
    os.replace(temporary, path)


def clear(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def leftover(path: Path) -> process_tree.ProcessInfo | None:
    """The runtime the file names, if it still runs (the same process, not a recycled pid)."""
    try:
        data = json.loads(path.read_text())
        pid, start_time = int(data["pid"]), int(data["startTime"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    info = process_tree.read_process(pid)
    if info is None or info.start_time != start_time or info.state == "Z":
        return None
    return info


async def end_leftover(path: Path, *, terminate: float = 3.0, kill: float = 2.0) -> bool:
    """End the runtime a previous manager left running; True if there was one."""
    info = leftover(path)
    if info is None:
        clear(path)
        return False
    logger.warning(
        "a codex app-server (pid %d) of an earlier codex-manager on this data dir still runs; "
        "stopping it before starting a new one",
        info.pid,
    )
    # Its own process group (the transport starts it in a new session) holds what it ran.
    group = info.pgid if info.pgid == info.pid else None

    def running() -> bool:
        return process_tree.is_same_process(info) or bool(
            group is not None and process_tree.group_members(group)
        )

    for sig, grace in ((signal.SIGTERM, terminate), (signal.SIGKILL, kill)):
        if not running():
            break
        if group is not None:
            process_tree.signal_group(group, sig)
        process_tree.signal_processes([info], sig)
        with anyio.move_on_after(grace):
            while running():  # noqa: ASYNC110
                await anyio.sleep(_POLL)
    clear(path)
    return True
