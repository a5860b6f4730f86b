"""The CLI's live commands against a real server (uvicorn, real codex offline, ScriptedModel):
`follow_turn` (what `sessions send --wait` runs) prints the streamed deltas and the outcome;
an approval raised in the turn is prompted for, or with --no-input printed with how to
decide it (exit 6); `approvals inbox` lists it and approves it; `stream events` prints
frames; `jobs wait` exits with the job's outcome. Issue 11, test 2."""

from __future__ import annotations

import functools
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest
from click.testing import CliRunner

from codex_manager_cli import exits, live, live_ops, live_output
from codex_manager_cli.context import CliContext, OutputFormat
from codex_manager_client.stream import ledger_head
from codex_manager_client.target import Target
from codex_manager_client.waits import wait_turn
from codex_manager_core.models import TurnStatus
from codex_manager_core.testing.scripted_model import CallTool, Reply
from codex_manager_core.testing.scripted_model._steps import exec_command
from tests.client.live_fixtures import (
    WAIT,
    ServerThread,
    create_session,
    send_message,
    server_thread,
)
from tests.user_input import PLAN_MODE, QUESTIONS

pytestmark = pytest.mark.real_runtime


def Obj(target: Target, output: OutputFormat = "table", no_input: bool = False) -> CliContext:
    return CliContext(target, output=output, no_input=no_input)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    with server_thread(tmp_path_factory.mktemp("cli-live")) as running:
        yield running


def sync(function: Any, *args: Any, **kwargs: Any) -> Any:
    return anyio.run(functools.partial(function, *args, **kwargs))


def test_send_wait_prints_the_streamed_deltas(
    server: ServerThread, capsys: pytest.CaptureFixture[str]
) -> None:
    target = server.target
    session_id = sync(create_session, target)
    server.add_steps(Reply("one two three four", chunks=4, delay=0.01))
    since = sync(ledger_head, target)
    turn_id = sync(send_message, target, session_id, "count")
    code = live.follow_turn(
        target, session_id, turn_id, since=since, output="table", no_input=True, timeout=WAIT
    )
    out, err = capsys.readouterr()
    assert code == live.EXIT_OK, err
    assert out == "one two three four\n"
    assert f"turn {turn_id}: completed" in err

    # jsonl: every frame of the turn as it came, the deltas among them, then the result.
    # Without `since` the thread is replayed from its start: only this turn is shown.
    code = live.follow_turn(
        target, session_id, turn_id, since=None, output="jsonl", no_input=True, timeout=WAIT
    )
    assert code == live.EXIT_OK
    out, _ = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    deltas = [f["payload"]["params"]["delta"] for f in lines if f.get("type") == live_output.DELTA]
    assert "".join(deltas) == "one two three four"
    assert lines[-1] == {
        "sessionId": session_id,
        "turnId": turn_id,
        "status": "completed",
        "finalText": "one two three four",
        "error": None,
    }


def start_approval_turn(server: ServerThread, tmp: Path, name: str) -> tuple[str, str, int, Path]:
    target = server.target
    marker = tmp / name
    session_id = sync(
        create_session, target, approvalPolicy="on-request", filesystemSandbox="read-only"
    )
    server.add_steps(exec_command(f"touch {marker}"), Reply("touched"))
    since = sync(ledger_head, target)
    turn_id = sync(send_message, target, session_id, "touch the marker")
    return session_id, turn_id, since, marker


def test_no_input_prints_the_approval_and_the_inbox_approves_it(
    server: ServerThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = server.target
    session_id, turn_id, since, marker = start_approval_turn(server, tmp_path, "inbox")
    code = live.follow_turn(
        target, session_id, turn_id, since=since, output="table", no_input=True, timeout=WAIT
    )
    _, err = capsys.readouterr()
    assert code == live.EXIT_NEEDS_DECISION
    assert "cmgr approvals decide" in err
    assert str(marker) in err

    runner = CliRunner()
    listed = runner.invoke(live.inbox_command, obj=Obj(target, "json", no_input=True))
    assert listed.exit_code == 0, listed.output
    pending = [a for a in json.loads(listed.stdout)["data"] if a["sessionId"] == session_id]
    assert [a["turnId"] for a in pending] == [turn_id]

    decided = runner.invoke(live.inbox_command, obj=Obj(target), input="accept\n")
    assert decided.exit_code == 0, decided.output
    assert pending[0]["approvalId"] in decided.stdout
    assert f"approval {pending[0]['approvalId']}: accept" in decided.stderr

    result = sync(wait_turn, target, session_id, turn_id, since=since, timeout=WAIT)
    assert (result.status, result.final_text) == (TurnStatus.COMPLETED, "touched")
    assert marker.exists()
    again = runner.invoke(live.inbox_command, obj=Obj(target, "jsonl", no_input=True))
    assert session_id not in again.stdout


def test_follow_turn_prompts_for_an_approval(
    server: ServerThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = server.target
    session_id, turn_id, since, marker = start_approval_turn(server, tmp_path, "prompted")
    asked: list[list[str]] = []

    def ask(question: str, choices: list[str]) -> str:
        asked.append(choices)
        return "accept"

    code = sync(
        live_ops.follow_turn,
        target,
        session_id,
        turn_id,
        since=since,
        printer=live_output.Printer("table"),
        no_input=False,
        timeout=WAIT,
        ask=ask,
    )
    out, err = capsys.readouterr()
    assert code == live.EXIT_OK, err
    assert asked == [["accept", "session", "decline", "cancel"]]
    assert out == "touched\n"
    assert marker.exists()


def test_follow_turn_asks_the_models_questions(
    server: ServerThread, capsys: pytest.CaptureFixture[str]
) -> None:
    target = server.target
    session_id = sync(create_session, target)
    server.add_steps(CallTool("request_user_input", QUESTIONS, call_id="ask"), Reply("blue it is"))
    since = sync(ledger_head, target)
    turn_id = sync(send_message, target, session_id, "ask me", collaborationMode=PLAN_MODE)
    asked: list[tuple[str, list[str]]] = []

    def ask(question: str, choices: list[str]) -> str:
        asked.append((question, choices))
        return "Blue"

    code = sync(
        live_ops.follow_turn,
        target,
        session_id,
        turn_id,
        since=since,
        printer=live_output.Printer("table"),
        no_input=False,
        timeout=WAIT,
        ask=ask,
    )
    out, err = capsys.readouterr()
    assert code == live.EXIT_OK, err
    # codex marks the question isOther (free text allowed): the options are shown, not forced.
    assert [question for question, _ in asked] == ["Which color?"]
    assert "- Red (Recommended)" in err
    assert "- Blue" in err
    assert out == "blue it is\n"
    last = server.host.model.requests[-1]
    assert "Blue" in (last.output_for("ask") or "")


def test_stream_events_prints_frames(server: ServerThread) -> None:
    target = server.target
    runner = CliRunner()
    stored = runner.invoke(
        live.stream_command,
        ["--no-follow", "--since", "0", "--limit", "5"],
        obj=Obj(target, "jsonl"),
    )
    assert stored.exit_code == 0, stored.output
    frames = [json.loads(line) for line in stored.stdout.splitlines()]
    assert [f["seq"] for f in frames] == sorted(f["seq"] for f in frames)
    assert len(frames) == 5

    # Resuming inside a runtime notification: its raw frame (part 1) comes next.
    first = next(f["seq"] for f in frames if f["type"].startswith("app_server."))
    following = runner.invoke(
        live.stream_command,
        ["--since", str(first), "--part", "0", "--limit", "3"],
        obj=Obj(target),
    )
    assert following.exit_code == 0, following.output
    lines = following.stdout.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith(f"{first}.1  "), lines[0]
    assert "notification" in lines[0]

    for args, message in (
        (["--part", "1"], "--part needs --since"),
        (["--no-follow", "--since", "1", "--part", "0"], "without --no-follow"),
        (["--no-follow", "--thread-id", "a", "--thread-id", "b"], "at most one --thread-id"),
    ):
        refused = runner.invoke(live.stream_command, args, obj=Obj(target))
        assert refused.exit_code == 2, args
        assert message in refused.output


def test_jobs_wait_exits_with_the_outcome(server: ServerThread) -> None:
    @attrs.frozen
    class Note:
        text: str

    jobs = server.host.manager.jobs

    def register() -> None:
        @jobs.job_type("cli.ok", payload=Note, result=Note)
        async def ok(ctx: Any, payload: Note) -> Note:
            return payload

        @jobs.job_type("cli.broken", payload=Note, result=Note)
        async def broken(ctx: Any, payload: Note) -> Note:
            raise RuntimeError("no luck")

    server.call(register)
    enqueue = functools.partial(jobs.enqueue, owner="cli")
    runner = CliRunner()
    done = server.call(enqueue, "cli.ok", {"text": "fine"}).job
    answer = runner.invoke(
        live.jobs_wait_command, [done.job_id, "--timeout", "30"], obj=Obj(server.target, "json")
    )
    assert answer.exit_code == live.EXIT_OK, answer.output
    assert json.loads(answer.stdout)["state"] == "completed"
    assert "waiting for job" in answer.stderr

    failed = server.call(enqueue, "cli.broken", {"text": "x"}).job
    answer = runner.invoke(live.jobs_wait_command, [failed.job_id], obj=Obj(server.target))
    assert answer.exit_code == live.EXIT_FAILED, answer.output
    assert "no luck" in answer.stdout

    missing = runner.invoke(live.jobs_wait_command, ["job_nope"], obj=Obj(server.target))
    assert missing.exit_code == exits.NOT_FOUND
    assert "error:" in missing.stderr


def test_a_server_that_is_down_is_exit_1_with_the_reason() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = Target(f"http://127.0.0.1:{port}", timeout=2.0)
    answer = CliRunner().invoke(live.stream_command, ["--no-follow"], obj=Obj(down))
    assert answer.exit_code == exits.UNREACHABLE
    assert f"cannot reach http://127.0.0.1:{port}" in answer.stderr


def test_a_wrong_token_is_exit_1_with_the_servers_message(server: ServerThread) -> None:
    wrong = Target(server.host.url, token="wrong")
    answer = CliRunner().invoke(live.inbox_command, obj=Obj(wrong, no_input=True))
    assert answer.exit_code == exits.AUTH
    assert answer.stderr.startswith("error: ")


def test_cmgr_stream_without_a_subcommand_is_stream_events(server: ServerThread) -> None:
    from codex_manager_cli.main import cli

    target = server.target
    common = ["--server", target.server, "--token", target.token or "", "-o", "jsonl"]
    runner = CliRunner()
    results = [
        runner.invoke(cli, [*common, *words, "--no-follow", "--since", "0", "--limit", "2"])
        for words in (["stream"], ["stream", "events"])
    ]
    for result in results:
        assert result.exit_code == 0, result.output
    bare, named = ([json.loads(line)["seq"] for line in r.stdout.splitlines()] for r in results)
    assert bare == named
    assert len(bare) == 2
