"""The README's embedded example as a new user without a Codex login runs it: it must end at
once with a line saying what to do, not wait for its 120 s timeout (issue 7, point 7).

The snippet is taken from README.md itself, and run with the real codex binary in a fresh
folder and HOME (no login, no API key). Its CODEX_HOME is given the offline config first, so
codex reaches nothing on the network (the snippet stops before any model request anyway).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from codex_manager_core.testing import write_offline_config

pytestmark = pytest.mark.real_runtime

README = Path(__file__).resolve().parents[2] / "README.md"
RUN_TIMEOUT = 60.0  # bounds a hang; the run takes about a second
REMOVED = ("OPENAI_API_KEY", "CODEX_API_KEY", "CODEX_HOME")


def embedded_snippet() -> str:
    section = README.read_text().split("## Embedded", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found is not None, "README's Embedded section has no python block"
    return found.group(1)


def test_the_readme_example_without_a_login_says_what_to_do_at_once(tmp_path: Path) -> None:
    snippet = embedded_snippet()
    assert "send_and_wait" in snippet
    assert "timeout=120" in snippet
    home = tmp_path / "home"
    home.mkdir()
    # Where the snippet's manager puts codex (data_dir=".data"): offline, no model at all.
    write_offline_config(tmp_path / ".data" / "codex-home", base_url="http://127.0.0.1:9/v1")
    script = tmp_path / "readme_example.py"
    script.write_text(snippet)
    env = {k: v for k, v in os.environ.items() if k not in REMOVED}
    env["HOME"] = str(home)
    started = time.monotonic()
    try:
        run = subprocess.run(
            [sys.executable, str(script)],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the README example did not end within {RUN_TIMEOUT:g} s: {exc.stderr}")
    elapsed = time.monotonic() - started
    report = f"exit {run.returncode} after {elapsed:.1f} s\n{run.stdout}\n{run.stderr}"
    assert run.returncode == 1, report
    assert "Traceback" not in run.stderr, report
    last_line = run.stderr.strip().splitlines()[-1]
    assert last_line.startswith("codex is not logged in: run `codex login` first"), report
    assert elapsed < 30, report
    assert not (home / ".codex").exists(), "the example touched ~/.codex"
