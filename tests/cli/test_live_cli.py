"""The live commands as a user runs them: `cmgr` subprocesses against a real server (uvicorn,
the real codex binary offline, ScriptedModel, a bearer token). `sessions send --wait` shows
the streamed reply; an approval it raises, with --no-input, is printed with how to decide it
(exit 11); `approvals inbox` in a terminal (a pty) approves it and the turn completes.
Issue 11, test 2."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import attrs
import pytest

from codex_manager_cli import exits
from codex_manager_cli.live_output import DELTA
from codex_manager_client.stream import ledger_head
from codex_manager_client.waits import wait_turn
from codex_manager_core.models import TurnStatus
from codex_manager_core.testing.scripted_model import Reply
from codex_manager_core.testing.scripted_model._steps import exec_command
from tests.client.live_fixtures import (
    TOKEN,
    WAIT,
    ServerThread,
    create_session,
    server_thread,
)

pytestmark = pytest.mark.real_runtime

CMGR = Path(sys.executable).parent / "cmgr"


@attrs.frozen
class Done:
    code: int
    out: str
    err: str


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    with server_thread(tmp_path_factory.mktemp("live-cli")) as running:
        yield running


def environment(server: ServerThread, home: Path) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "CODEX_MANAGER_CONFIG": str(home / "cli.toml"),
        "CODEX_MANAGER_SERVER": server.host.url,
        "CODEX_MANAGER_TOKEN": TOKEN,
    }


def cmgr(server: ServerThread, home: Path, *args: str) -> Done:
    """`cmgr` with stdin closed (so --no-input is implied) and its output piped."""
    done = subprocess.run(
        [str(CMGR), *args],
        capture_output=True,
        text=True,
        timeout=WAIT,
        env=environment(server, home),
        stdin=subprocess.DEVNULL,
        check=False,
    )
    return Done(done.returncode, done.stdout, done.stderr)


def cmgr_in_a_terminal(server: ServerThread, home: Path, answers: str, *args: str) -> Done:
    """`cmgr` whose stdin is a terminal (a pty) that types `answers`."""
    controller, terminal = pty.openpty()
    try:
        with subprocess.Popen(
            [str(CMGR), *args],
            stdin=terminal,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment(server, home),
        ) as process:
            os.write(controller, answers.encode())
            out, err = process.communicate(timeout=WAIT)
            return Done(process.returncode, out, err)
    finally:
        os.close(controller)
        os.close(terminal)


def test_send_wait_streams_the_reply(server: ServerThread, tmp_path: Path) -> None:
    target = server.target
    session_id = anyio.run(create_session, target)
    server.add_steps(Reply("streamed to the terminal", chunks=5, delay=0.01))
    done = cmgr(
        server, tmp_path, "-o", "table", "sessions", "send", session_id, "--text", "hi", "--wait"
    )
    assert done.code == exits.OK, done.err
    assert done.out == "streamed to the terminal\n"
    assert "completed" in done.err

    server.add_steps(Reply("as json", chunks=2))
    done = cmgr(server, tmp_path, "sessions", "send", session_id, "--text", "again", "--wait")
    assert done.code == exits.OK, done.err
    assert '"finalText": "as json"' in done.out

    # jsonl: the deltas as they streamed (one line each), then the outcome.
    server.add_steps(Reply("delta by delta", chunks=3))
    done = cmgr(
        server, tmp_path, "-o", "jsonl", "sessions", "send", session_id, "--text", "x", "--wait"
    )
    assert done.code == exits.OK, done.err
    lines = [json.loads(line) for line in done.out.splitlines()]
    deltas = [line["payload"]["params"]["delta"] for line in lines if line.get("type") == DELTA]
    assert "".join(deltas) == "delta by delta"
    assert len(deltas) == 3
    assert lines[-1]["status"] == "completed"


def test_an_approval_stops_a_script_and_the_inbox_approves_it(
    server: ServerThread, tmp_path: Path
) -> None:
    target = server.target
    marker = tmp_path / "approved"
    session_id = anyio.run(
        lambda: create_session(target, approvalPolicy="on-request", filesystemSandbox="read-only")
    )
    server.add_steps(exec_command(f"touch {marker}"), Reply("touched"))
    since = anyio.run(ledger_head, target)
    done = cmgr(server, tmp_path, "sessions", "send", session_id, "--text", "touch", "--wait")
    assert done.code == exits.NEEDS_DECISION, (done.out, done.err)
    assert "cmgr approvals decide" in done.err
    assert str(marker) in done.err
    assert not marker.exists()

    listed = cmgr(server, tmp_path, "-o", "jsonl", "approvals", "inbox")
    assert listed.code == exits.OK, listed.err
    pending = [json.loads(line) for line in listed.out.splitlines()]
    (approval,) = [a for a in pending if a["sessionId"] == session_id]
    turn_id = approval["turnId"]

    decided = cmgr_in_a_terminal(server, tmp_path, "accept\n", "-o", "table", "approvals", "inbox")
    assert decided.code == exits.OK, decided.err
    assert f"approval {approval['approvalId']}: accept" in decided.err
    result = anyio.run(lambda: wait_turn(target, session_id, turn_id, since=since, timeout=WAIT))
    assert (result.status, result.final_text) == (TurnStatus.COMPLETED, "touched")
    assert marker.exists()
