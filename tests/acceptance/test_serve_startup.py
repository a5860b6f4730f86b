"""`codex-manager serve` start-up faults, as a user meets them: one clear line and a non-zero
exit for a port in use, a data directory in use by another instance or read-only; and a
signal at any moment of start-up ends in a clean stop with exit 0.

The runtime is the fake app-server behind a `--codex-bin` script that records the pid of
every runtime started, so the tests can tell that nothing was started, or that what was
started is gone.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from codex_manager_core.runtime import process_tree

CLI = Path(sys.executable).parent / "codex-manager"
SIGNAL_AT = Path(__file__).with_name("signal_at.py")
LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")
TIMEOUT = 60.0


def fake_codex(tmp_path: Path, *, signal_parent: bool = False) -> tuple[Path, Path]:
    """A codex binary that runs the fake app-server; returns (binary, pid file). With
    `signal_parent`, the first runtime started sends SIGTERM to the manager that started
    it: a stop that arrives while the runtime is starting."""
    pids = tmp_path / "runtime.pids"
    marker = tmp_path / "signalled"
    script = tmp_path / "fake-codex"
    fake = [sys.executable, "-W", "ignore::RuntimeWarning:runpy", "-m"]
    fake += ["codex_manager_core.testing.fake_app_server", "--config", "{}"]
    lines = ["#!/bin/sh", f'echo $$ >> "{pids}"']
    if signal_parent:
        lines.append(f'if [ ! -e "{marker}" ]; then : > "{marker}"; kill -TERM $PPID; fi')
    lines.append("exec " + " ".join(f"'{part}'" for part in fake))
    script.write_text("\n".join(lines) + "\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script, pids


def runtime_pids(pids: Path) -> list[int]:
    return [int(line) for line in pids.read_text().split()] if pids.exists() else []


def assert_gone(pid: int) -> None:
    process = process_tree.read_process(pid)
    assert process is None or process.state == "Z", f"runtime {pid} is still running"


def cli_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODEX_MANAGER_")}
    env.pop("OPENAI_API_KEY", None)
    env.pop("CODEX_API_KEY", None)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env["HOME"] = str(home)
    return env


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("Error:")]


def run_cli(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=TIMEOUT)


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


def test_a_port_in_use_is_one_line_and_nothing_is_opened(tmp_path: Path, busy_port: int) -> None:
    codex, pids = fake_codex(tmp_path)
    data_dir = tmp_path / "data"
    argv = [str(CLI), "serve", "--port", str(busy_port), "--data-dir", str(data_dir)]
    result = run_cli([*argv, "--codex-bin", str(codex)], cli_env(tmp_path))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    (line,) = error_lines(result.stderr)
    assert f"127.0.0.1:{busy_port}" in line
    assert "already in use" in line
    # Checked before anything was opened: no data directory, no runtime.
    assert not data_dir.exists()
    assert runtime_pids(pids) == []


def _start(argv: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], list[str]]:
    process = subprocess.Popen(
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    assert process.stderr is not None
    lines: list[str] = []
    for line in process.stderr:  # bounded: the server either says it listens or exits
        lines.append(line.rstrip("\n"))
        if LISTENING.search(line):
            return process, lines
    process.wait(TIMEOUT)
    raise AssertionError(f"the first instance did not start: {lines}")


def test_a_second_instance_on_the_same_data_dir_is_refused_in_one_line(tmp_path: Path) -> None:
    codex, pids = fake_codex(tmp_path)
    data_dir = tmp_path / "data"
    argv = [str(CLI), "serve", "--port", "0", "--data-dir", str(data_dir)]
    argv += ["--codex-bin", str(codex)]
    env = cli_env(tmp_path)
    first, _ = _start(argv, env)
    try:
        started = runtime_pids(pids)
        second = run_cli(argv, env)
        assert second.returncode == 1, second.stderr
        assert "Traceback" not in second.stderr, second.stderr
        (line,) = error_lines(second.stderr)
        assert str(data_dir) in line
        assert f"in use by another codex-manager (process {first.pid})" in line
        # The refused instance started no runtime of its own.
        assert runtime_pids(pids) == started
        assert first.poll() is None  # and the first one is unaffected
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(TIMEOUT) == 0


def _read_only(path: Path, argv: list[str]) -> list[str]:
    """`argv` run with `path` read-only: by permissions for a normal user; for root (whom
    permissions do not stop) on a read-only bind mount in a private mount namespace."""
    if os.geteuid() != 0:
        path.chmod(0o555)
        return argv
    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "-m", "true"], check=False).returncode:
        pytest.skip("running as root without `unshare -m`: no way to make a read-only directory")
    quoted = " ".join(f"'{part}'" for part in argv)
    mount = f"mount --bind '{path}' '{path}' && mount -o remount,bind,ro '{path}'"
    return [unshare, "-m", "sh", "-c", f"{mount} && exec {quoted}"]


@pytest.mark.parametrize("existing", [False, True], ids=["empty", "with-a-store"])
def test_a_read_only_data_dir_is_one_line(tmp_path: Path, existing: bool) -> None:
    codex, pids = fake_codex(tmp_path)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    env = cli_env(tmp_path)
    argv = [str(CLI), "serve", "--port", "0", "--data-dir", str(data_dir)]
    argv += ["--codex-bin", str(codex)]
    if existing:  # a data directory used before, then made read-only
        process, _ = _start(argv, env)
        process.send_signal(signal.SIGTERM)
        assert process.wait(TIMEOUT) == 0
    started = runtime_pids(pids)
    try:
        result = run_cli(_read_only(data_dir, argv), env)
    finally:
        data_dir.chmod(0o755)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    (line,) = error_lines(result.stderr)
    assert str(data_dir) in line
    assert "read-only" in line or "permission denied" in line, line
    assert runtime_pids(pids) == started  # no runtime was started


@pytest.mark.parametrize(
    ("trigger", "opened"),
    [
        ("using the real model", False),  # the CLI's first line, before serve() runs
        ("opening the data directory", True),
        ("starting codex app-server", True),
        ("Waiting for application startup", True),  # uvicorn starting up
    ],
    ids=["before-serve", "before-data-dir", "runtime-starting", "http-starting"],
)
def test_sigterm_during_start_up_stops_cleanly_with_exit_0(
    tmp_path: Path, trigger: str, opened: bool
) -> None:
    codex, pids = fake_codex(tmp_path)
    data_dir = tmp_path / "data"
    argv = [sys.executable, str(SIGNAL_AT), trigger, "serve", "--port", "0"]
    argv += ["--data-dir", str(data_dir), "--codex-bin", str(codex)]
    result = run_cli(argv, cli_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert trigger in result.stderr
    assert "listening on" not in result.stderr
    if opened:
        assert "received SIGTERM during start-up: shutting down" in result.stderr
        assert "codex-manager stopped" in result.stderr
    else:
        assert "received SIGTERM before start-up: not starting" in result.stderr
        assert not data_dir.exists()
    # Whatever runtime was started is gone, and the data directory is free again.
    for pid in runtime_pids(pids):
        assert_gone(pid)
    if data_dir.exists():
        check = run_cli([str(CLI), "serve", "--help"], cli_env(tmp_path))
        assert check.returncode == 0
        _assert_reopens(data_dir)


def test_sigterm_while_the_runtime_starts_stops_it_and_exits_0(tmp_path: Path) -> None:
    codex, pids = fake_codex(tmp_path, signal_parent=True)
    data_dir = tmp_path / "data"
    argv = [str(CLI), "serve", "--port", "0", "--data-dir", str(data_dir)]
    result = run_cli([*argv, "--codex-bin", str(codex)], cli_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert "received SIGTERM" in result.stderr
    assert "codex-manager stopped" in result.stderr
    started = runtime_pids(pids)
    assert started, "the runtime was never started"
    for pid in started:
        assert_gone(pid)
    _assert_reopens(data_dir)


def _assert_reopens(data_dir: Path) -> None:
    """The lock was released and the store closed cleanly: another manager opens it."""
    code = (
        "import anyio, json, sys\n"
        "from codex_manager_core import Manager\n"
        "from codex_manager_core.testing import FakeAppServer\n"
        "async def main():\n"
        "    async with Manager.open(sys.argv[1], transport=FakeAppServer().transport()) as m:\n"
        "        print(json.dumps((await m.health()).storage.writable))\n"
        "anyio.run(main)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(data_dir)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) is True
