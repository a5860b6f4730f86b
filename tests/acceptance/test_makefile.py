"""The Makefile as a new user meets it (issue 7, point 7): on a fresh clone `make run`
installs only what running needs (not the test and lint toolchain) and says what each step
does, while `make test` and `make lint` install the test extra.

`make -n` prints the commands a target would run without running them; the venv is pointed
into tmp so that every step is due, as on a fresh clone.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def planned(target: str, venv: Path) -> list[str]:
    # Run from `make test`, a nested make would print "Entering directory" lines and
    # inherit the outer make's flags: plan it as a user's own `make` would.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    run = subprocess.run(
        ["make", "--no-print-directory", "-n", target, f"VENV={venv}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return run.stdout.splitlines()


def installs(lines: list[str]) -> list[str]:
    return [line for line in lines if "pip install" in line]


def test_make_run_installs_only_what_running_needs_and_says_each_step(tmp_path: Path) -> None:
    lines = planned("run", tmp_path / "venv")
    assert installs(lines), lines
    assert all("[test]" not in line for line in installs(lines)), lines
    assert all("--quiet" not in line for line in installs(lines)), "pip's progress is hidden"
    assert any(line.endswith(" -e .") for line in installs(lines)), lines
    steps = [line for line in lines if line.startswith("echo") and "==>" in line]
    assert len(steps) >= 3, lines  # venv, install, start (at least)
    assert lines[-1].rstrip().endswith("serve --auto-demo"), lines


@pytest.mark.parametrize("target", ["test", "lint"])
def test_make_test_and_lint_install_the_test_extra(tmp_path: Path, target: str) -> None:
    lines = planned(target, tmp_path / "venv")
    assert any("-e '.[test]'" in line for line in installs(lines)), lines
