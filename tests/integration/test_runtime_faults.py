"""Fault injection against the REAL runtime layer (Supervisor + StdioTransport) running the
fake app-server as a subprocess: the project's acceptance tests 7-10.

7. a crash mid-call fails the call at once and the runtime is restarted (with a cap);
8. garbage and oversized lines are reported and skipped, the process lives on;
9. a hung call times out alone, overload is retried;
10. no process the runtime started outlives the supervisor (stop, cancellation, SIGKILL
    escalation, crash).

On zombies: processes the fake spawned are not our children. Once they die they are
reparented to PID 1, and in a container PID 1 need not reap them, so they can stay in /proc
in state `Z` for good. A zombie has exited (it holds no memory, files or pipes and cannot be
signalled or reaped by us), so "no orphans" here means "no process in a state other than Z":
exactly what `process_tree.group_members` and `is_same_process` (what the production code
waits on) count.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import pytest

from codex_manager_core import rpc
from codex_manager_core.errors import (
    CallTimeout,
    RpcError,
    RuntimeExited,
    RuntimeUnavailable,
    TransportClosed,
)
from codex_manager_core.ports import ExitStatus
from codex_manager_core.runtime import (
    LogSettings,
    RestartPolicy,
    RetryPolicy,
    RuntimeHealth,
    RuntimeState,
    StdioTransport,
    StopTimeouts,
    Supervisor,
    process_tree,
)
from codex_manager_core.runtime.process_tree import ProcessInfo
from codex_manager_core.testing.fake_app_server import FakeAppServer

WAIT = 10.0  # bound for anything that should take well under a second
FAST_STOP = StopTimeouts(stdin_close=1.0, terminate=1.0, kill=2.0)
FAST_RESTART = RestartPolicy(initial_backoff=0.01, max_backoff=0.05)
FAST_RETRY = RetryPolicy(attempts=6, base_delay=0.005, max_delay=0.02)
USER_AGENT = "fake/9.9.9 (fault injection; x86_64)"

S = RuntimeState


# ------------------------------------------------------------------------ helpers


@contextlib.contextmanager
def deadline(what: str, seconds: float = WAIT) -> Iterator[None]:
    """fail_after with a message that says what we were waiting for."""
    try:
        with anyio.fail_after(seconds):
            yield
    except TimeoutError:
        raise AssertionError(f"timed out after {seconds:g} s waiting for {what}") from None


async def wait_until(predicate: Callable[[], bool], timeout: float, message: str) -> None:
    """A bounded poll, for conditions nothing notifies us of (a file growing, a process that
    is not our child going away): the production code has to poll /proc the same way."""
    with deadline(message, timeout):
        while not predicate():  # noqa: ASYNC110 - nothing to wait on but /proc or a file
            await anyio.sleep(0.02)


class HealthLog:
    """The `on_health` callback: every snapshot, and a way to wait for one."""

    def __init__(self) -> None:
        self.snapshots: list[RuntimeHealth] = []
        self._changed = anyio.Event()

    def __call__(self, health: RuntimeHealth) -> None:
        self.snapshots.append(health)
        changed, self._changed = self._changed, anyio.Event()
        changed.set()

    @property
    def states(self) -> list[RuntimeState]:
        return [h.state for h in self.snapshots]

    async def wait_for(
        self, predicate: Callable[[RuntimeHealth], bool], what: str, timeout: float = WAIT
    ) -> RuntimeHealth:
        with deadline(f"{what} (states so far: {self.states})", timeout):
            while not (self.snapshots and predicate(self.snapshots[-1])):
                await self._changed.wait()
        return self.snapshots[-1]


def live(info: ProcessInfo) -> bool:
    """Still running: same pid and start time, and not a zombie (see the module docstring)."""
    return process_tree.is_same_process(info)


def snapshot(pid: int) -> ProcessInfo:
    info = process_tree.read_process(pid)
    assert info is not None, f"process {pid} is gone"
    assert info.state != "Z", f"process {pid} is a zombie"
    return info


class Reaper:
    """Remembers the processes a test started; kills any still running at teardown, so a
    failing test does not leave sleeps behind for the next one."""

    def __init__(self) -> None:
        self.processes: list[ProcessInfo] = []

    def track(self, *infos: ProcessInfo) -> None:
        self.processes.extend(infos)

    def kill_leftovers(self) -> list[ProcessInfo]:
        left = [p for p in self.processes if live(p)]
        process_tree.signal_processes(left, signal.SIGKILL)
        return left


@pytest.fixture
def reaper() -> Iterator[Reaper]:
    reaper = Reaper()
    yield reaper
    reaper.kill_leftovers()


def fake_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["CODEX_HOME"] = str(tmp_path / "codex-home")
    return env


def transport(
    fake: FakeAppServer,
    tmp_path: Path,
    *,
    log: LogSettings | None = None,
    stop_timeouts: StopTimeouts = FAST_STOP,
) -> StdioTransport:
    return StdioTransport(
        fake.command(),
        env=fake_env(tmp_path),
        log=log or LogSettings(path=tmp_path / "stderr.log"),
        stop_timeouts=stop_timeouts,
    )


def supervisor(
    runtime: StdioTransport, health: HealthLog | None = None, **kwargs: Any
) -> Supervisor:
    options: dict[str, Any] = {
        "call_timeout": WAIT,
        "initialize_timeout": WAIT,
        "ready_timeout": WAIT,
        "restart": FAST_RESTART,
        "retry": FAST_RETRY,
        "on_health": health,
    }
    options.update(kwargs)
    return Supervisor(runtime, **options)


def log_text(path: Path) -> str:
    """Everything in a rotating log, oldest file first."""
    files = [*sorted(path.parent.glob(path.name + ".*"), reverse=True), path]
    return b"".join(f.read_bytes() for f in files if f.exists()).decode(errors="replace")


@contextlib.asynccontextmanager
async def timed(what: str, limit: float) -> AsyncIterator[None]:
    started = time.monotonic()
    yield
    elapsed = time.monotonic() - started
    assert elapsed < limit, f"{what} took {elapsed:.2f} s (limit {limit:g} s)"


# ------------------------------------------------------------------------ health


@pytest.mark.anyio
async def test_health_while_ready_and_after_stop(tmp_path: Path) -> None:
    health = HealthLog()
    fake = FakeAppServer(user_agent=USER_AGENT)
    async with supervisor(transport(fake, tmp_path), health) as sup:
        ready = await sup.wait_ready()
        assert ready.state is S.READY
        assert ready.epoch == 1
        assert ready.pid is not None
        runtime = snapshot(ready.pid)
        assert runtime.ppid == os.getpid()
        assert runtime.pgid == ready.pid, "the runtime leads a process group of its own"
        assert ready.codex_version == "9.9.9"
        assert ready.user_agent == USER_AGENT
        assert ready.experimental_api is True
        assert (ready.restart_count, ready.last_exit, ready.last_error) == (0, None, None)
        assert ready.ready_since is not None
        assert abs(ready.ready_since - time.time()) < 60
        assert sup.initialize_result is not None
        assert sup.initialize_result.codex_home == str(tmp_path / "codex-home")
        assert await sup.request("echo", {"hello": "world"}) == {"hello": "world"}

    after = sup.health
    assert after.state is S.STOPPED
    assert after.pid is None
    assert after.ready_since is None
    assert after.last_exit is not None
    assert (after.last_exit.epoch, after.last_exit.returncode, after.last_exit.signal) == (
        1,
        0,
        None,
    )
    assert after.last_exit.expected is True
    assert after.codex_version == "9.9.9", "the last known version stays visible"
    assert health.states == [S.STARTING, S.READY, S.STOPPED]
    assert not live(runtime)
    with pytest.raises(RuntimeUnavailable, match="stopped"):
        await sup.request("echo")


@pytest.mark.anyio
async def test_experimental_api_refused_falls_back(tmp_path: Path) -> None:
    fake = FakeAppServer(reject_experimental=True, user_agent=USER_AGENT)
    async with supervisor(transport(fake, tmp_path)) as sup:
        ready = await sup.wait_ready()
        assert ready.experimental_api is False
        assert ready.codex_version == "9.9.9"


@pytest.mark.anyio
async def test_stderr_goes_to_the_rotating_log_and_a_flood_does_not_block(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "stderr.log"
    settings = LogSettings(path=path, max_bytes=256 * 1024, backups=2)
    # 2 MiB before the fake reads stdin: far more than a pipe holds, so an undrained stderr
    # would block it before it could answer initialize.
    fake = FakeAppServer(stderr_flood_bytes=2 * 1024 * 1024)
    with deadline("a runtime flooding stderr to answer"):
        async with supervisor(transport(fake, tmp_path, log=settings)) as sup:
            await sup.wait_ready()
            assert await sup.request("echo", [1]) == [1]
    files = sorted(path.parent.iterdir())
    assert [f.name for f in files] == ["stderr.log", "stderr.log.1", "stderr.log.2"]
    assert all(f.stat().st_size <= 256 * 1024 for f in files)
    text = log_text(path)
    assert "fake_app_server: stderr flood" in text
    assert "listening on stdio" in text
    assert "method=initialize" in text
    assert "method=echo" in text
    # What the runtime said last, as it exited, is kept too.
    assert text.rstrip().endswith("stdin closed; exiting"), text[-300:]


# ------------------------------------------------------------------------ 7. crashes


@pytest.mark.anyio
async def test_7_crash_mid_call_fails_fast_and_the_runtime_restarts(
    tmp_path: Path, reaper: Reaper
) -> None:
    health = HealthLog()
    fake = FakeAppServer(
        crash_on="thread/start",
        crash_times=1,
        state_dir=tmp_path / "state",
        exit_code=3,
        user_agent=USER_AGENT,
    )
    call_timeout = 30.0
    async with supervisor(transport(fake, tmp_path), health, call_timeout=call_timeout) as sup:
        first = await sup.wait_ready()
        assert first.pid is not None
        reaper.track(snapshot(first.pid))

        started = time.monotonic()
        with pytest.raises(RuntimeExited) as caught:
            await sup.request("thread/start", {})
        elapsed = time.monotonic() - started
        # A correctness bound, not a benchmark: the call must not wait for its timeout.
        assert elapsed < 2.0, f"the call failed only after {elapsed:.2f} s"
        assert caught.value.method == "thread/start"
        assert caught.value.returncode == 3
        assert "'thread/start'" in str(caught.value)
        assert "exit code 3" in str(caught.value)

        second = await health.wait_for(
            lambda h: h.state is S.READY and h.epoch == 2, "the runtime to be restarted"
        )
        assert second.pid is not None
        assert second.pid != first.pid
        reaper.track(snapshot(second.pid))
        assert second.restart_count == 1
        assert second.last_exit is not None
        assert (second.last_exit.epoch, second.last_exit.returncode) == (1, 3)
        assert second.last_exit.signal is None
        assert second.last_exit.expected is False
        assert second.last_error is not None
        assert "exit code 3" in second.last_error
        assert second.codex_version == "9.9.9"

        # The second process does not crash (crash_times=1): the same call now works.
        result = await sup.request("thread/start", {})
        assert result["thread"]["id"] == "thr_1"
    assert health.states == [S.STARTING, S.READY, S.RESTARTING, S.READY, S.STOPPED]
    assert "crashing on purpose (method thread/start), exit code 3" in log_text(
        tmp_path / "stderr.log"
    )


@pytest.mark.anyio
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGUSR1])
async def test_7_crash_by_signal_is_recorded(
    tmp_path: Path, sig: signal.Signals, reaper: Reaper
) -> None:
    health = HealthLog()
    fake = FakeAppServer(
        crash_on="thread/start", crash_times=1, state_dir=tmp_path / "state", crash_by_signal=sig
    )
    async with supervisor(transport(fake, tmp_path), health) as sup:
        await sup.wait_ready()
        with pytest.raises(RuntimeExited, match=f"killed by signal {int(sig)}") as caught:
            await sup.request("thread/start", {})
        assert caught.value.returncode == -int(sig)
        restarted = await health.wait_for(
            lambda h: h.state is S.READY and h.epoch == 2, "the runtime to be restarted"
        )
        assert restarted.last_exit is not None
        assert restarted.last_exit.signal == int(sig)
        assert restarted.last_exit.returncode == -int(sig)
        assert restarted.last_error is not None
        assert f"killed by signal {int(sig)}" in restarted.last_error
        assert await sup.request("echo", 1) == 1


@pytest.mark.anyio
async def test_7_restart_cap_reports_failed_until_restart(tmp_path: Path) -> None:
    health = HealthLog()
    fake = FakeAppServer(crash_on="initialize")  # every process crashes, forever
    policy = RestartPolicy(max_restarts=3, initial_backoff=0.01, max_backoff=0.05)
    async with supervisor(transport(fake, tmp_path), health, restart=policy) as sup:
        failed = await health.wait_for(lambda h: h.state is S.FAILED, "the supervisor to give up")
        # 1 start + 3 restarts, then it stops trying.
        assert failed.epoch == 4
        assert failed.restart_count == 3
        assert health.states == [
            S.STARTING,
            S.RESTARTING,
            S.RESTARTING,
            S.RESTARTING,
            S.FAILED,
        ]
        assert failed.last_exit is not None
        assert failed.last_exit.returncode == 1
        assert failed.pid is None
        error = failed.last_error
        assert error is not None
        assert "exited 4 times within 60 s" in error
        assert "initialize handshake" in error
        assert "crashing on purpose (method initialize)" in error, "stderr tail is quoted"

        async with timed("a call while failed", 0.5):
            with pytest.raises(RuntimeUnavailable) as caught:
                await sup.request("echo", ready_timeout=WAIT)
        assert not isinstance(caught.value, RuntimeExited)
        assert "has failed" in str(caught.value)
        assert "exited 4 times" in str(caught.value)
        assert "restart" in str(caught.value)

        await sup.restart()
        # restart() leaves `failed` at once: a call made right after it waits for the new
        # attempt instead of failing on the old state.
        assert sup.state is S.RESTARTING
        assert sup.health.last_error is None
        with pytest.raises(RuntimeUnavailable, match="has failed"):
            await sup.request("echo", ready_timeout=WAIT)
        # It waited through the new round of attempts (the cap counts afresh).
        assert sup.health.epoch == 8
        assert sup.health.state is S.FAILED
        assert sup.health.restart_count == 6
    assert health.states[-1] is S.STOPPED


@pytest.mark.anyio
async def test_7_missing_binary_fails_without_a_restart_loop(tmp_path: Path) -> None:
    health = HealthLog()
    missing = tmp_path / "nowhere" / "codex"
    runtime = StdioTransport(
        [str(missing), "app-server"], log=LogSettings(path=tmp_path / "stderr.log")
    )
    async with supervisor(runtime, health) as sup:
        failed = await health.wait_for(lambda h: h.state is S.FAILED, "the supervisor to fail")
        assert failed.epoch == 1
        assert failed.restart_count == 0
        assert failed.last_error is not None
        assert repr(str(missing)) in failed.last_error
        assert "CODEX_BIN" in failed.last_error
        async with timed("a call while failed", 0.5):
            with pytest.raises(RuntimeUnavailable, match="nowhere/codex"):
                await sup.request("echo")
        # A manual restart tries once more, and fails the same way (still no loop).
        await sup.restart()
        again = await health.wait_for(
            lambda h: h.state is S.FAILED and h.epoch == 2, "the second attempt to fail"
        )
        assert again.restart_count == 0
    assert health.states == [S.STARTING, S.FAILED, S.RESTARTING, S.FAILED, S.STOPPED]


# ------------------------------------------------------------------------ 8. bad lines


@pytest.mark.anyio
async def test_8_garbage_and_oversized_lines_are_reported_and_skipped(tmp_path: Path) -> None:
    health = HealthLog()
    reports: list[tuple[int, rpc.ProtocolError]] = []
    ticks: list[Any] = []

    async def on_protocol_error(epoch: int, error: rpc.ProtocolError) -> None:
        reports.append((epoch, error))

    async def on_notification(epoch: int, event: rpc.Notification) -> None:
        ticks.append((epoch, event.method, event.params))

    fake = FakeAppServer(garbage_on=("thread/start",), oversized_on={"fake/notify": 20_000})
    async with supervisor(
        transport(fake, tmp_path),
        health,
        max_line_bytes=4096,
        on_protocol_error=on_protocol_error,
        on_notification=on_notification,
    ) as sup:
        ready = await sup.wait_ready()
        assert await sup.request("echo", "before") == "before"
        assert reports == []

        result = await sup.request("thread/start", {})
        assert result["thread"]["id"] == "thr_1"
        assert [(epoch, error.preview) for epoch, error in reports] == [
            (1, b"this is not json {"),
            (1, b"[1,2,3]"),
        ]
        assert reports[0][1].reason.startswith("invalid JSON")
        assert reports[1][1].reason == "expected a JSON object, got list"

        reports.clear()
        assert await sup.request("fake/notify", {"count": 1}) == {"sent": 1}
        ((epoch, oversized),) = reports
        assert epoch == 1
        assert "exceeds the limit of 4096 bytes" in oversized.reason
        assert oversized.preview.startswith(b'{"method":"fake/oversized"')
        assert len(oversized.preview) <= rpc.PREVIEW_BYTES
        assert ticks == [(1, "fake/tick", {"n": 0, "pad": ""})], "the next line is intact"

        assert await sup.request("echo", "after") == "after"
        now = sup.health
        assert (now.state, now.epoch, now.pid, now.restart_count) == (S.READY, 1, ready.pid, 0)
    assert health.states == [S.STARTING, S.READY, S.STOPPED]


# ------------------------------------------------------------------------ 9. hang, overload


@pytest.mark.anyio
async def test_9_a_hung_call_times_out_while_other_calls_work(tmp_path: Path) -> None:
    fake = FakeAppServer(hang_on=("thread/start",))
    async with supervisor(transport(fake, tmp_path)) as sup:
        ready = await sup.wait_ready()
        echoes: list[Any] = []
        async with anyio.create_task_group() as tasks:

            async def hung() -> None:
                async with timed("the hung call", 2.0):
                    with pytest.raises(CallTimeout) as caught:
                        await sup.request("thread/start", {}, timeout=0.5)
                assert caught.value.method == "thread/start"
                assert caught.value.timeout == 0.5
                message = str(caught.value)
                assert "did not answer 'thread/start' within 0.5 s" in message
                assert "raise the timeout" in message

            tasks.start_soon(hung)
            for n in range(5):
                echoes.append(await sup.request("echo", n))
        assert echoes == list(range(5))
        assert await sup.request("echo", "after") == "after"
        now = sup.health
        assert (now.state, now.epoch, now.pid) == (S.READY, 1, ready.pid), "a timeout is no crash"


@pytest.mark.anyio
async def test_9_overload_is_retried_then_succeeds(tmp_path: Path) -> None:
    fake = FakeAppServer(overload={"echo": 3})
    async with supervisor(transport(fake, tmp_path)) as sup:
        await sup.wait_ready()
        assert await sup.request("echo", "x") == "x"
        assert await sup.request("echo", "y") == "y", "the overload is over"
    assert log_text(tmp_path / "stderr.log").count("method=echo") == 5, "3 refused + 2"


@pytest.mark.anyio
async def test_9_overload_past_the_retries_is_an_rpc_error(tmp_path: Path) -> None:
    fake = FakeAppServer(overload={"echo": 10})
    retry = RetryPolicy(attempts=3, base_delay=0.005, max_delay=0.01)
    async with supervisor(transport(fake, tmp_path), retry=retry) as sup:
        await sup.wait_ready()
        with pytest.raises(RpcError) as caught:
            await sup.request("echo", "x")
        assert caught.value.rpc_code == rpc.SERVER_OVERLOADED
    assert log_text(tmp_path / "stderr.log").count("method=echo") == 3


# ------------------------------------------------------------------------ 10. no orphans


class Tree:
    """The fake runtime and everything it started, seen while it was running."""

    def __init__(self, sup: Supervisor, reaper: Reaper) -> None:
        pid = sup.health.pid
        init = sup.initialize_result
        assert pid is not None
        assert init is not None
        self.pgid = pid
        self.runtime = snapshot(pid)
        self.children = [snapshot(child) for child in init.raw.get("fakeChildPids", [])]
        detached = init.raw.get("fakeDetachedPid")
        self.detached = None if detached is None else snapshot(detached)
        reaper.track(*self.all())
        # The test means something only if the tree is what we think it is.
        assert all(c.pgid == pid and c.ppid == pid for c in self.children)
        if self.detached is not None:
            assert self.detached.ppid == pid
            assert self.detached.pgid != pid

    def all(self) -> list[ProcessInfo]:
        return [self.runtime, *self.children, *([self.detached] if self.detached else [])]

    def assert_gone(self, when: str) -> None:
        """Checked right after the stop returned: it must not return before the sweep."""
        group = process_tree.group_members(self.pgid)
        assert group == [], f"{when}: processes left in the runtime's group: {group}"
        left = [p for p in self.all() if live(p)]
        assert left == [], f"{when}: processes still running: {left}"


ORPHAN_MAKER = FakeAppServer(spawn_children=2, spawn_detached_child=True)


@pytest.mark.anyio
async def test_10a_no_orphans_after_a_normal_stop(tmp_path: Path, reaper: Reaper) -> None:
    async with supervisor(transport(ORPHAN_MAKER, tmp_path)) as sup:
        await sup.wait_ready()
        tree = Tree(sup, reaper)
        assert len(tree.children) == 2
        assert tree.detached is not None
        assert all(live(p) for p in tree.all())
    tree.assert_gone("after a normal stop")
    assert sup.health.last_exit is not None
    assert sup.health.last_exit.returncode == 0


@pytest.mark.anyio
async def test_10b_no_orphans_after_cancelling_the_owner_mid_call(
    tmp_path: Path, reaper: Reaper
) -> None:
    fake = FakeAppServer(spawn_children=2, spawn_detached_child=True, hang_on=("thread/start",))
    log = tmp_path / "stderr.log"
    trees: list[Tree] = []
    sups: list[Supervisor] = []

    async def owner(*, task_status: anyio.abc.TaskStatus[None]) -> None:
        async with supervisor(transport(fake, tmp_path)) as sup:
            sups.append(sup)
            await sup.wait_ready()
            trees.append(Tree(sup, reaper))
            task_status.started()
            await sup.request("thread/start", {}, timeout=60)
            raise AssertionError("the hung call returned")

    with deadline("the owner to be cancelled and clean up"):
        async with anyio.create_task_group() as tasks:
            await tasks.start(owner)
            # In flight: the fake has received the call (and will never answer it).
            await wait_until(
                lambda: "hanging on thread/start" in log_text(log),
                WAIT,
                "the fake to receive the call",
            )
            tasks.cancel_scope.cancel()
    (tree,) = trees
    tree.assert_gone("after cancelling the task that held the supervisor")
    (sup,) = sups
    assert sup.state is S.STOPPED
    assert sup.health.last_exit is not None
    assert sup.health.last_exit.expected is True


@pytest.mark.anyio
async def test_10c_no_orphans_when_only_sigkill_works(tmp_path: Path, reaper: Reaper) -> None:
    fake = FakeAppServer(
        spawn_children=2, spawn_detached_child=True, ignore_sigterm=True, ignore_stdin_eof=True
    )
    stops = StopTimeouts(stdin_close=0.2, terminate=0.3, kill=2.0)
    async with supervisor(transport(fake, tmp_path, stop_timeouts=stops)) as sup:
        await sup.wait_ready()
        tree = Tree(sup, reaper)
        started = time.monotonic()
    elapsed = time.monotonic() - started
    tree.assert_gone("after the SIGKILL escalation")
    last = sup.health.last_exit
    assert last is not None
    assert last.signal == signal.SIGKILL
    assert last.expected is True
    assert elapsed < 0.2 + 0.3 + 2.0 + 1.0, f"the stop took {elapsed:.2f} s"


@pytest.mark.anyio
async def test_10d_no_orphans_after_the_runtime_crashes(tmp_path: Path, reaper: Reaper) -> None:
    # No detached child here: once the runtime has died, a child that left its process
    # group (and was reparented to PID 1) can no longer be traced back to it through /proc;
    # only its group can be swept. See the report of the runtime-layer tests.
    fake = FakeAppServer(
        spawn_children=2, crash_on="thread/start", crash_times=1, state_dir=tmp_path / "state"
    )
    health = HealthLog()
    async with supervisor(transport(fake, tmp_path), health) as sup:
        await sup.wait_ready()
        first = Tree(sup, reaper)
        with pytest.raises(RuntimeExited):
            await sup.request("thread/start", {})
        await health.wait_for(lambda h: h.state is S.READY and h.epoch == 2, "the restart")
        # The stop that followed the crash swept the dead runtime's group.
        first.assert_gone("after the crash and the stop that followed it")
        second = Tree(sup, reaper)
        assert all(live(p) for p in second.all())
    second.assert_gone("after the stop")


# ------------------------------------------------------------------------ the stdio adapter


@pytest.mark.anyio
async def test_stop_is_bounded_while_a_write_is_blocked(tmp_path: Path) -> None:
    """A runtime that stopped reading stdin: a writer blocks on the full pipe, holding the
    write lock. The stop must still go on to SIGTERM after the stdin grace period."""
    stops = StopTimeouts(stdin_close=0.2, terminate=1.0, kill=1.0)
    runtime = StdioTransport(
        [sys.executable, "-c", "import time; time.sleep(10)"],
        log=LogSettings(path=tmp_path / "stderr.log"),
        stop_timeouts=stops,
    )
    outcome: list[BaseException] = []
    with deadline("the stop with a blocked writer", 5.0):
        async with runtime.open() as process, anyio.create_task_group() as tasks:

            async def writer() -> None:
                try:
                    await process.send(b"x" * (4 * 1024 * 1024))
                except TransportClosed as exc:
                    outcome.append(exc)

            tasks.start_soon(writer)
            # Private, but the only way to know the writer is blocked inside the send.
            await wait_until(process._send_lock.locked, WAIT, "the writer to block")
            status = await process.stop()
    assert status == ExitStatus.from_returncode(-signal.SIGTERM)
    assert len(outcome) == 1, "the blocked writer learns that the runtime is gone"


@pytest.mark.anyio
async def test_stderr_tail_of_a_stopped_process(tmp_path: Path) -> None:
    runtime = StdioTransport(
        [sys.executable, "-c", "import sys; sys.stderr.write('one\\ntwo\\n'); sys.exit(4)"],
        log=LogSettings(path=None),
        stop_timeouts=FAST_STOP,
    )
    async with runtime.open() as process:
        assert await process.receive() == b""
        assert await process.wait() == ExitStatus(4)
        await wait_until(lambda: process.stderr_tail == ["one", "two"], WAIT, "the tail")
        assert await process.stop() == ExitStatus(4)
    assert not (tmp_path / "stderr.log").exists()
