"""How long does one `cmgr` invocation take, start to exit? The median of N runs.

Every command a script or a worker runs pays the interpreter's start-up, the CLI's
imports and one request. This times, as a user sees it (wall clock of the whole
process), `cmgr --help` (no request) and `cmgr sessions list` against a running server,
next to `python -c pass` (the interpreter alone, the floor on this machine):
`--server URL`, else a demo server this script starts (`codex-manager serve --demo`)
and stops. Runs alternate between the two commands so a noisy moment spreads over both.

    python bench/cli_startup.py                 # 20 runs each, a demo server of its own
    python bench/cli_startup.py --server http://127.0.0.1:3001 --runs 50 --json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BIN = Path(sys.executable).parent
RUN_TIMEOUT = 60.0
CMGR = str(BIN / "cmgr")
LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],  # the interpreter alone: the floor
    "cmgr --help": [CMGR, "--help"],
    "cmgr sessions list": [CMGR, "sessions", "list"],
}


def start_demo_server(root: Path) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "HOME": str(root / "home")}
    process = subprocess.Popen(
        [
            str(BIN / "codex-manager"),
            "serve",
            "--demo",
            "--port",
            "0",
            "--data-dir",
            str(root / "data"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stderr is not None
    deadline = time.monotonic() + 60
    for line in process.stderr:
        if match := LISTENING.search(line):
            return process, match.group(1)
        if time.monotonic() > deadline:
            break
    process.kill()
    raise SystemExit("the demo server did not start within 60 s")


def time_once(args: list[str], server: str, config: Path) -> float:
    env = {**os.environ, "CODEX_MANAGER_SERVER": server, "CODEX_MANAGER_CONFIG": str(config)}
    started = time.perf_counter()
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL)
    # Not `subprocess.run(timeout=...)`: a wait with a timeout polls with sleeps of up to
    # 50 ms, which rounded every figure up to the next 50 ms step. A blocking wait returns
    # at the child's exit; the timer only bounds a hung run.
    watchdog = threading.Timer(RUN_TIMEOUT, process.kill)
    watchdog.start()
    try:
        returncode = process.wait()
    finally:
        watchdog.cancel()
    elapsed = time.perf_counter() - started
    if returncode != 0:
        raise SystemExit(f"{' '.join(args)} exited with {returncode} (bound: {RUN_TIMEOUT:g} s)")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", help="A running server (default: start a demo server)")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON")
    options = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="cli-startup-"))
    process = None
    try:
        server = options.server
        if server is None:
            process, server = start_demo_server(root)
        config = root / "cli.toml"
        samples: dict[str, list[float]] = {name: [] for name in COMMANDS}
        for args in COMMANDS.values():  # warm-up: byte-compiled, page cache
            time_once(args, server, config)
        for _ in range(options.runs):
            for name, args in COMMANDS.items():
                samples[name].append(time_once(args, server, config))
        figures = {
            name: {
                "median_ms": round(statistics.median(values) * 1000, 1),
                "min_ms": round(min(values) * 1000, 1),
                "max_ms": round(max(values) * 1000, 1),
                "runs": len(values),
            }
            for name, values in samples.items()
        }
        if options.json:
            print(json.dumps(figures, indent=2))
        else:
            for name, figure in figures.items():
                print(
                    f"{name:<22} median {figure['median_ms']:7.1f} ms  "
                    f"min {figure['min_ms']:7.1f}  max {figure['max_ms']:7.1f}  ({figure['runs']} runs)"
                )
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
