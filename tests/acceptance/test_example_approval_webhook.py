"""examples/approval_webhook_demo.py as a user runs it, on both backends: the real codex
offline, the example extension loaded, one approval left waiting (the webhook is called
once) and one answered at once (it is not)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.real_runtime

DEMO = Path(__file__).resolve().parents[2] / "examples" / "approval_webhook_demo.py"


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_approval_webhook_demo(backend: str) -> None:
    run = subprocess.run(
        [sys.executable, str(DEMO), "--wait", "0.5", "--backend", backend],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    webhook = [line for line in lines if line.startswith("webhook: ")]
    [called] = webhook
    assert called.startswith("webhook: approval.waiting item/commandExecution/requestApproval")
    assert lines.count("turn: done") == 2
    assert lines[-1] == "webhook calls: 1"
