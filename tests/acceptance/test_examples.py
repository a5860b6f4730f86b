"""The examples as a user runs them: the quickstart and queue scripts on both backends, and
the notebook in a real Jupyter kernel (the .venv's python), all offline against the real
codex binary.

Each run gets a HOME in tmp, so nothing can read or write the user's ~/.codex (the script
and the notebook also point codex's own HOME into their temporary folders).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbclient
import nbformat
import pytest

pytestmark = pytest.mark.real_runtime

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCRIPT = EXAMPLES / "embedded_quickstart.py"
NOTEBOOK = EXAMPLES / "quickstart.ipynb"

REPLY = "The command printed: hello from codex-manager"
APPROVAL = "[approval] Run command: /bin/bash -lc 'echo hello from codex-manager' -> accept"
RUN_TIMEOUT = 120.0  # a run takes 1-3 s; this only bounds a hang
KERNEL_NAME = "codex-manager-test-venv"


#: Removed from the runs' environment: no real account, no other codex or Jupyter folders.
REMOVED = ("OPENAI_API_KEY", "CODEX_API_KEY", "CODEX_HOME", "JUPYTER_PATH")


def isolated_vars(home: Path) -> dict[str, str]:
    """HOME, and Jupyter's and IPython's folders, in `home`."""
    home.mkdir(exist_ok=True)
    return {
        "HOME": str(home),
        "JUPYTER_CONFIG_DIR": str(home / ".jupyter"),
        "JUPYTER_DATA_DIR": str(home / ".local" / "share" / "jupyter"),
        "JUPYTER_RUNTIME_DIR": str(home / "jupyter-runtime"),
        "IPYTHONDIR": str(home / ".ipython"),
    }


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_quickstart_script_demo(tmp_path: Path, backend: str) -> None:
    home = tmp_path / "home"
    try:
        run = subprocess.run(
            [sys.executable, str(SCRIPT), "--demo", "--backend", backend],
            cwd=tmp_path,
            env={
                **{k: v for k, v in os.environ.items() if k not in REMOVED},
                **isolated_vars(home),
            },
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the example did not finish within {RUN_TIMEOUT:g} s:\n{exc.stdout}")
    report = f"exit {run.returncode}\n--- stdout\n{run.stdout}\n--- stderr\n{run.stderr}"
    assert run.returncode == 0, report
    lines = run.stdout.splitlines()
    # The approval (from the handler), then the streamed reply on its own line, then the end.
    assert APPROVAL in lines, report
    assert REPLY in lines, report
    assert "turn completed" in lines, report
    assert lines[-1] == f"Final reply: {REPLY}", report
    assert lines.index(APPROVAL) < lines.index(REPLY) < lines.index("turn completed"), report
    assert not (home / ".codex").exists(), "the demo touched ~/.codex"


def write_kernelspec(data_dir: Path) -> None:
    """A kernelspec that runs ipykernel in this very interpreter (the .venv's python)."""
    spec_dir = data_dir / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "codex-manager tests (venv python)",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))


def cell_text(cell: Any) -> str:
    """What a code cell printed to stdout, and its results; fails on an error output."""
    parts = []
    for output in cell.get("outputs", []):
        assert output["output_type"] != "error", "\n".join(output.get("traceback", []))
        if output["output_type"] == "stream" and output["name"] == "stdout":
            parts.append(output["text"])
        elif "data" in output:
            parts.append(output["data"].get("text/plain", ""))
    return "".join(parts)


def test_quickstart_notebook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    # The kernel inherits this process's environment (jupyter_client copies os.environ).
    for name in REMOVED:
        monkeypatch.delenv(name, raising=False)
    for name, value in isolated_vars(home).items():
        monkeypatch.setenv(name, value)
    write_kernelspec(Path(os.environ["JUPYTER_DATA_DIR"]))

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    # The checked-in notebook carries no outputs.
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], cell.source
            assert cell.execution_count is None, cell.source
    client = nbclient.NotebookClient(
        notebook,
        kernel_name=KERNEL_NAME,
        timeout=RUN_TIMEOUT,  # per cell
        startup_timeout=RUN_TIMEOUT,
        resources={"metadata": {"path": str(tmp_path)}},  # the kernel's working directory
    )
    client.execute()

    tagged = {
        tag: cell
        for cell in notebook.cells
        if cell.cell_type == "code"
        for tag in cell.metadata.get("tags", [])
    }
    # Every cell ran without an error; then the last ones say what happened.
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell_text(cell)
    assert cell_text(tagged["stream"]) == REPLY + "\n"
    result = cell_text(tagged["result"]).splitlines()
    assert result == [
        "approved: [\"Run command: /bin/bash -lc 'echo hello from codex-manager'\"]",
        "turn completed",
        f"Final reply: {REPLY}",
    ]
    look_around = cell_text(tagged["look-around"])
    assert "approval resolved {'decision': 'accept'" in look_around
    assert REPLY in look_around
    assert cell_text(tagged["close"]) == "closed\n"
    assert not (home / ".codex").exists(), "the notebook touched ~/.codex"


QUEUE_SCRIPT = EXAMPLES / "queue_jobs.py"


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_queue_jobs_script(tmp_path: Path, backend: str) -> None:
    home = tmp_path / "home"
    try:
        run = subprocess.run(
            [sys.executable, str(QUEUE_SCRIPT), "--backend", backend],
            cwd=tmp_path,
            env={
                **{k: v for k, v in os.environ.items() if k not in REMOVED},
                **isolated_vars(home),
            },
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the example did not finish within {RUN_TIMEOUT:g} s:\n{exc.stdout}")
    report = f"exit {run.returncode}\n--- stdout\n{run.stdout}\n--- stderr\n{run.stderr}"
    assert run.returncode == 0, report
    lines = run.stdout.splitlines()
    for expected in [
        "enqueue alice/draft.md: enqueued",
        "enqueue bob/huge.log: enqueued",
        "enqueue alice/draft.md again: joined (the same job: True)",
        "cancel huge.log: canceled",
        "draft.md: completed after 1 attempt(s), result {'name': 'draft.md', 'words': 3}",
        "notes.md: completed after 2 attempt(s), result {'name': 'notes.md', 'words': 2}",
        "todo.md: completed after 1 attempt(s), result {'name': 'todo.md', 'words': 4}",
        "listed: alice/draft.md:completed, alice/notes.md:completed, "
        "bob/huge.log:canceled, bob/todo.md:completed",
        "counts: canceled=1, completed=3",
        "agent_instruction: completed, steps ['oriented', 'provisioned', 'turn_started']",
        "worker reviewer, hidden: True",
        "transcript row: agent.jobOutput complete",
    ]:
        assert expected in lines, f"{expected!r} missing\n{report}"
    # The progress events of the handler, the retry, and the cancel, as the handler saw them.
    events = [line.split(" ", 2)[2] for line in lines if line.startswith("[event] ")]
    assert "progress counting (attempt 2)" in events, report
    assert "retry after Flaky: the disk hiccuped" in events, report
    assert "canceled" in events, report
    assert events.count("completed") == 3, report
    assert lines[-1] == "Answer: Next step: add a test for the empty file.", report
    assert not (home / ".codex").exists(), "the example touched ~/.codex"
