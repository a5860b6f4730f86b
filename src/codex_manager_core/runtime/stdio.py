"""The stdio adapter of the RuntimeTransport port: `codex app-server` as a subprocess.

The child runs in its own process group (so one signal reaches everything it spawns), with
the environment the caller gives it. Its stderr is drained without pause into a rotating
log (a child blocked on a full stderr pipe would stall the whole protocol). Stopping closes
stdin (app-server then exits cleanly), then sends SIGTERM, then SIGKILL to the group and to
any descendant that escaped it, each step after a timeout, and runs shielded from
cancellation, so no process outlives the manager.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.abc
import attrs

from codex_manager_core.errors import BinaryNotFound, TransportClosed
from codex_manager_core.ports import ExitStatus
from codex_manager_core.runtime import pid_file, process_tree
from codex_manager_core.runtime.binary import find_codex_binary
from codex_manager_core.runtime.rotating_log import RotatingLog

logger = logging.getLogger(__name__)

READ_CHUNK = 256 * 1024
#: How often the final sweep re-checks for leftover processes.
_SWEEP_POLL = 0.02
#: After the stop, how long to wait for the rest of stderr (its last lines say why it died).
_STDERR_GRACE = 0.5
#: The pid file of the running app-server, in its CODEX_HOME (see pid_file.py).
RUNTIME_PID_FILE = "codex-manager-runtime.pid"


@attrs.frozen
class StopTimeouts:
    """Grace periods of the stop sequence, in seconds."""

    stdin_close: float = 2.0
    terminate: float = 3.0
    kill: float = 2.0


@attrs.frozen
class LogSettings:
    """Where the runtime's stderr goes: a rotating file (or only an in-memory tail)."""

    path: Path | None = None
    max_bytes: int = 5 * 1024 * 1024
    backups: int = 3


class StdioProcess:
    """A running child process, implementing the `RuntimeProcess` port."""

    def __init__(
        self, process: anyio.abc.Process, log: RotatingLog, timeouts: StopTimeouts
    ) -> None:
        self._process = process
        self._log = log
        self._timeouts = timeouts
        self._send_lock = anyio.Lock()
        self._stop_lock = anyio.Lock()
        self._status: ExitStatus | None = None
        self._log_failed = False
        self._stderr_closed = anyio.Event()
        # Shielded: draining goes on while the process is stopped under cancellation (a
        # runtime blocked on a full stderr pipe cannot exit); `open()` ends it afterwards.
        self._drain_scope = anyio.CancelScope(shield=True)

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def stderr_tail(self) -> list[str]:
        """The last lines the runtime wrote to stderr."""
        return self._log.tail()

    async def send(self, data: bytes) -> None:
        stdin = self._process.stdin
        assert stdin is not None
        try:
            # One writer at a time: trio refuses concurrent sends, asyncio could interleave.
            async with self._send_lock:
                await stdin.send(data)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            raise TransportClosed(f"cannot write to the runtime: {exc!r}") from exc

    async def receive(self) -> bytes:
        stdout = self._process.stdout
        assert stdout is not None
        try:
            return await stdout.receive(READ_CHUNK)
        except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
            return b""

    async def wait(self) -> ExitStatus:
        return ExitStatus.from_returncode(await self._process.wait())

    async def stop(self) -> ExitStatus:
        with anyio.CancelScope(shield=True):
            async with self._stop_lock:
                if self._status is None:
                    self._status = await self._stop()
                status = self._status
        return status

    async def _stop(self) -> ExitStatus:
        pid = self._process.pid
        # Descendants that left our process group are only findable while their parent
        # chain is intact, i.e. before the runtime exits.
        escaped = [p for p in process_tree.descendants(pid) if p.pgid != pid]
        with anyio.move_on_after(self._timeouts.stdin_close):
            # Bounded as a whole: a writer blocked on a full pipe (a runtime that stopped
            # reading stdin) holds the send lock, and waiting for it must not stall the stop.
            await self._close_stdin()
            await self._process.wait()
        returncode = self._process.returncode
        if returncode is None:
            process_tree.signal_group(pid, signal.SIGTERM)
            process_tree.signal_processes(escaped, signal.SIGTERM)
            returncode = await self._wait_for(self._timeouts.terminate)
        if returncode is None:
            process_tree.signal_group(pid, signal.SIGKILL)
            process_tree.signal_processes(escaped, signal.SIGKILL)
            returncode = await self._wait_for(self._timeouts.kill)
        await self._sweep(pid, escaped)
        return ExitStatus.from_returncode(returncode)

    async def _sweep(self, pgid: int, escaped: list[process_tree.ProcessInfo]) -> None:
        """The runtime is gone; end whatever it left behind (TERM, then KILL)."""

        def leftovers() -> bool:
            return bool(process_tree.group_members(pgid)) or any(
                process_tree.is_same_process(p) for p in escaped
            )

        for sig, grace in (
            (signal.SIGTERM, self._timeouts.terminate),
            (signal.SIGKILL, self._timeouts.kill),
        ):
            if not leftovers():
                return
            process_tree.signal_group(pgid, sig)
            process_tree.signal_processes(escaped, sig)
            with anyio.move_on_after(grace):
                # Nothing signals the exit of a process that is not our child: poll /proc.
                while leftovers():  # noqa: ASYNC110
                    await anyio.sleep(_SWEEP_POLL)

    async def _close_stdin(self) -> None:
        stdin = self._process.stdin
        if stdin is None:
            return
        try:
            async with self._send_lock:
                await stdin.aclose()
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            pass

    async def _wait_for(self, timeout: float) -> int | None:
        with anyio.move_on_after(timeout):
            await self._process.wait()
        return self._process.returncode

    async def drain_stderr(self) -> None:
        stderr = self._process.stderr
        assert stderr is not None
        with self._drain_scope:
            try:
                async for chunk in stderr:
                    try:
                        self._log.write(chunk)
                    except OSError as exc:
                        # A full disk must not stall the runtime: keep draining, drop the log.
                        if not self._log_failed:
                            self._log_failed = True
                            logger.error("cannot write the runtime's stderr log: %s", exc)
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                pass
            finally:
                self._stderr_closed.set()


class StdioTransport:
    """Spawns `command` with pipes for stdin/stdout/stderr, in a new session/process group."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        log: LogSettings | None = None,
        stop_timeouts: StopTimeouts | None = None,
        pid_file: Path | None = None,
    ) -> None:
        """`pid_file`: where to record the running child, so that the next transport with
        the same file ends it if its manager died without stopping it (see pid_file.py)."""
        if not command:
            raise ValueError("command must not be empty")
        self.command = list(command)
        self.env = None if env is None else dict(env)
        self.cwd = cwd
        self.log = log or LogSettings()
        self.stop_timeouts = stop_timeouts or StopTimeouts()
        self.pid_file = pid_file

    @asynccontextmanager
    async def open(self) -> AsyncIterator[StdioProcess]:
        log = RotatingLog(self.log.path, max_bytes=self.log.max_bytes, backups=self.log.backups)
        if self.pid_file is not None:
            await pid_file.end_leftover(
                self.pid_file,
                terminate=self.stop_timeouts.terminate,
                kill=self.stop_timeouts.kill,
            )
        try:
            try:
                process = await anyio.open_process(
                    self.command,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    env=self.env,
                    cwd=self.cwd,
                    start_new_session=True,
                )
            except (FileNotFoundError, PermissionError, OSError) as exc:
                raise BinaryNotFound(self.command[0], exc.strerror or repr(exc)) from exc
            runtime = StdioProcess(process, log, self.stop_timeouts)
            if self.pid_file is not None:
                pid_file.record(self.pid_file, process.pid)
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(runtime.drain_stderr)
                try:
                    yield runtime
                finally:
                    try:
                        await runtime.stop()
                        # Keep what is still in the pipe, but a descendant that escaped may
                        # hold stderr open: bounded, then stop draining.
                        with anyio.move_on_after(_STDERR_GRACE, shield=True):
                            await runtime._stderr_closed.wait()
                    finally:
                        runtime._drain_scope.cancel()
                        if self.pid_file is not None:
                            pid_file.clear(self.pid_file)
        finally:
            log.close()


def codex_app_server_transport(
    *,
    codex_home: Path,
    codex_bin: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    strict_config: bool = False,
    extra_args: Sequence[str] = (),
    log: LogSettings | None = None,
    stop_timeouts: StopTimeouts | None = None,
) -> StdioTransport:
    """A transport that runs `codex app-server` with an isolated CODEX_HOME.

    `codex_home` is created if missing; the user's ~/.codex is never used. `env` is the
    child's whole environment (default: this process's); CODEX_HOME is set in it and the
    folder of the bundled helper tools (rg) is put first on PATH. stderr goes to
    `log.path`, by default CODEX_HOME/log/app-server.stderr.log.
    """
    base_env = dict(os.environ if env is None else env)
    binary = find_codex_binary(codex_bin, environ=base_env)
    codex_home = Path(codex_home).absolute()
    codex_home.mkdir(parents=True, exist_ok=True)
    base_env["CODEX_HOME"] = str(codex_home)
    if binary.path_dir is not None:
        base_env["PATH"] = os.pathsep.join([str(binary.path_dir), base_env.get("PATH", os.defpath)])
    command = [str(binary.path), "app-server"]
    if strict_config:
        command.append("--strict-config")
    command.extend(extra_args)
    if log is None:
        log = LogSettings(path=codex_home / "log" / "app-server.stderr.log")
    return StdioTransport(
        command,
        env=base_env,
        cwd=cwd,
        log=log,
        stop_timeouts=stop_timeouts,
        # One runtime per CODEX_HOME: codex locks the threads a runtime loaded.
        pid_file=codex_home / RUNTIME_PID_FILE,
    )
