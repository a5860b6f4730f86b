"""The work behind the CLI's live commands (`live.py`): following a turn and deciding its
approvals, printing the event stream, the approvals inbox, waiting for a job.

Separate from `live.py` so that the click commands stay cheap to import: this module loads
the remote client (httpx, httpx-ws, anyio) and is imported only when a live command runs.
Everything here is async (anyio); `live.py` runs it with `anyio.run`. Output goes through
`Printer`, so the three formats (`table` for a person, `json`, `jsonl`) are decided in one
place; questions to the user go through `ask`, which runs click's prompt in a thread so the
stream keeps being read meanwhile.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from typing import IO, Any, Final

import anyio
import anyio.to_thread
import click

from codex_manager_cli.live import (
    EXIT_CANCELED,
    EXIT_FAILED,
    EXIT_NEEDS_DECISION,
    EXIT_OK,
    EXIT_TIMEOUT,
)
from codex_manager_client.errors import ApiError
from codex_manager_client.http_call import call_api
from codex_manager_client.stream import EventStream, StreamFrame
from codex_manager_client.target import Target, path_segment
from codex_manager_client.waits import read_job_record, wait_job, wait_turn
from codex_manager_core.errors import TimedOut, TurnFailed
from codex_manager_core.models import TurnStatus
from codex_manager_core.queue.model import JobState

DELTA: Final = "app_server.item.agent_message.delta"
#: What a person can answer an approval with -> the decision body.
DECISIONS: Final[dict[str, dict[str, str]]] = {
    "accept": {"decision": "accept"},
    "session": {"decision": "accept", "scope": "session"},
    "decline": {"decision": "decline"},
    "cancel": {"decision": "cancel"},
}

Ask = Callable[[str, list[str]], str]


def ask_with_click(question: str, choices: list[str]) -> str:
    answer: str = click.prompt(question, type=click.Choice(choices), err=True)
    return answer


class Printer:
    """Writes records and frames in the chosen format (`table`, `json`, `jsonl`)."""

    def __init__(self, output: str, out: IO[str] | None = None, err: IO[str] | None = None):
        self.output = output
        self.out = out or sys.stdout
        self.err = err or sys.stderr

    def line(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def note(self, text: str) -> None:
        """For the person at the terminal, in every format: stderr."""
        self.err.write(text + "\n")
        self.err.flush()

    def record(self, value: Any) -> None:
        if self.output == "json":
            self.line(json.dumps(value, indent=2, ensure_ascii=False, default=str))
        else:
            self.line(json.dumps(value, ensure_ascii=False, default=str))

    def frame(self, frame: StreamFrame) -> None:
        if self.output == "table":
            self.line(frame_line(frame))
        else:
            self.line(json.dumps(frame.to_wire(), ensure_ascii=False, default=str))


def frame_line(frame: StreamFrame) -> str:
    """One line per frame: `seq.part  at  type  thread  summary`."""
    return (
        f"{frame.seq}.{frame.part}  {frame.at or '-'}  {frame.type}  "
        f"{frame.thread_id or '-'}  {summary_of(frame.payload)}"
    ).rstrip()


def summary_of(payload: Any, width: int = 100) -> str:
    if isinstance(payload, Mapping):
        params = payload.get("params")
        if isinstance(params, Mapping) and isinstance(params.get("delta"), str):
            return repr(params["delta"])[:width]
        if isinstance(payload.get("summary"), str):
            return str(payload["summary"])[:width]
        if isinstance(payload.get("method"), str):
            return str(payload["method"])
    text = json.dumps(payload, ensure_ascii=False, default=str)
    return text if len(text) <= width else text[: width - 3] + "..."


def turn_of(payload: Any) -> str | None:
    if not isinstance(payload, Mapping):
        return None
    params = payload.get("params")
    for source in (params, payload):
        if isinstance(source, Mapping) and isinstance(source.get("turnId"), str):
            return str(source["turnId"])
    return None


# ---------------------------------------------------------------------- approvals


def describe_approval(approval: Mapping[str, Any]) -> str:
    details = approval.get("details") if isinstance(approval.get("details"), Mapping) else {}
    assert isinstance(details, Mapping)
    lines = [f"approval {approval.get('approvalId')}: {approval.get('summary') or ''}".rstrip()]
    for key in ("command", "cwd", "reason"):
        if details.get(key):
            lines.append(f"  {key}: {details[key]}")
    return "\n".join(lines)


def how_to_decide(approval_id: str) -> str:
    return f"decide it with: cmgr approvals decide {approval_id} --decision accept|decline|cancel"


async def decide(target: Target, approval_id: str, choice: str) -> str:
    """POST the decision; what happened, in words (a late answer is not an error)."""
    path = f"/approvals/{path_segment(approval_id)}/decision"
    try:
        await call_api(target, "POST", path, {**DECISIONS[choice], "actor": "cli"})
    except ApiError as exc:
        if exc.status == 409:
            return f"approval {approval_id} was already decided or expired"
        raise
    return f"approval {approval_id}: {choice}"


async def prompt_approval(
    target: Target, approval: Mapping[str, Any], printer: Printer, ask: Ask, *, skip: bool
) -> str | None:
    """Ask the person and decide; None when they chose to stop (`quit`)."""
    printer.note(describe_approval(approval))
    choices = [*DECISIONS, *(["skip", "quit"] if skip else [])]
    choice = await anyio.to_thread.run_sync(ask, "decision", choices)
    if choice == "quit":
        return None
    if choice == "skip":
        return f"approval {approval.get('approvalId')}: skipped"
    return await decide(target, str(approval.get("approvalId")), choice)


# ---------------------------------------------------------------------- follow a turn


class NeedsDecision(Exception):
    """An approval is pending and the user said --no-input."""


async def follow_turn(
    target: Target,
    session_id: str,
    turn_id: str,
    *,
    since: int | None,
    printer: Printer,
    no_input: bool,
    timeout: float | None,
    ask: Ask = ask_with_click,
) -> int:
    """Print the turn's reply as it streams, prompt for its approvals; the exit code."""
    streamed = False

    async def on_frame(frame: StreamFrame) -> None:
        nonlocal streamed
        if turn_of(frame.payload) != turn_id:
            return
        if printer.output == "jsonl":
            printer.frame(frame)
        elif printer.output == "table" and frame.type == DELTA:
            printer.out.write(str(frame.payload["params"].get("delta", "")))
            printer.out.flush()
            streamed = True
        if frame.type == "approval" and frame.part == 0 and isinstance(frame.payload, Mapping):
            approval_id = str(frame.payload.get("approvalId"))
            if no_input:
                printer.note(describe_approval(frame.payload))
                printer.note(how_to_decide(approval_id))
                raise NeedsDecision(approval_id)
            said = await prompt_approval(target, frame.payload, printer, ask, skip=False)
            printer.note(said or "")

    try:
        # Without `since` the thread is replayed from the start (only this turn is shown).
        result = await wait_turn(
            target, session_id, turn_id, since=since or 0, timeout=timeout, on_frame=on_frame
        )
    except NeedsDecision:
        if streamed:
            printer.line("")
        return EXIT_NEEDS_DECISION
    except TurnFailed as exc:
        if streamed:
            printer.line("")
        printer.note(f"turn {turn_id} failed: {exc.runtime_message}")
        if printer.output != "table":
            printer.record(
                {
                    "sessionId": session_id,
                    "turnId": turn_id,
                    "status": "failed",
                    "error": exc.runtime_message,
                }
            )
        return EXIT_FAILED
    except TimedOut as exc:
        if streamed:
            printer.line("")
        printer.note(str(exc))
        return EXIT_TIMEOUT
    if printer.output == "table":
        if streamed:
            printer.line("")
        elif result.final_text:
            printer.line(result.final_text)
        printer.note(f"turn {turn_id}: {result.status.value}")
    else:
        printer.record(
            {
                "sessionId": result.session_id,
                "turnId": result.turn_id,
                "status": result.status.value,
                "finalText": result.final_text,
                "error": result.error,
            }
        )
    if result.status is TurnStatus.COMPLETED:
        return EXIT_OK
    return EXIT_CANCELED if result.status is TurnStatus.INTERRUPTED else EXIT_FAILED


# ---------------------------------------------------------------------- the stream


async def print_stream(
    target: Target,
    printer: Printer,
    *,
    follow: bool,
    since: int | None,
    part: int | None,
    thread_ids: list[str] | None,
    types: list[str] | None,
    limit: int | None,
) -> int:
    count = 0
    if not follow:
        # The stored events (one part-0 frame each), then stop: REST pages of the ledger.
        cursor = since or 0
        while limit is None or count < limit:
            page = await call_api(
                target,
                "GET",
                "/events",
                query={
                    "since": cursor,
                    "limit": 1000,
                    "threadId": _one(thread_ids),
                    "types": ",".join(types) if types else None,
                },
            )
            events = page.get("events") if isinstance(page, Mapping) else None
            if not events:
                return EXIT_OK
            for event in events:
                printer.frame(StreamFrame.from_wire({**event, "part": 0}))
                count += 1
                if limit is not None and count >= limit:
                    break
            cursor = int(page.get("nextSince") or cursor)
        return EXIT_OK
    async with EventStream(
        target, thread_ids=thread_ids, types=types, since=since, part=part
    ) as stream:
        if limit == 0:
            return EXIT_OK
        async for frame in stream:
            printer.frame(frame)
            count += 1
            if limit is not None and count >= limit:
                break
    return EXIT_OK


def _one(values: list[str] | None) -> str | None:
    if values and len(values) > 1:
        raise click.UsageError("--no-follow takes at most one --thread-id")
    return values[0] if values else None


# ---------------------------------------------------------------------- the inbox


async def pending_approvals(target: Target) -> list[dict[str, Any]]:
    """Every pending approval, of every live session (newest sessions first)."""
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = await call_api(target, "GET", "/sessions", query={"limit": 200, "cursor": cursor})
        for session in page.get("data") or []:
            session_id = str(session.get("sessionId"))
            path = f"/sessions/{path_segment(session_id)}/approvals"
            try:
                answer = await call_api(target, "GET", path)
            except ApiError as exc:
                if exc.status in (404, 410):  # deleted meanwhile
                    continue
                raise
            for approval in answer.get("data") or []:
                found.append(
                    {**approval, "sessionId": session_id, "sessionTitle": session.get("title")}
                )
        cursor = page.get("nextCursor")
        if not cursor:
            return found


async def inbox(
    target: Target, printer: Printer, *, no_input: bool, ask: Ask = ask_with_click
) -> int:
    """List the pending approvals; unless `no_input`, then decide them one by one."""
    approvals = await pending_approvals(target)
    if printer.output == "json":
        printer.record({"status": "ok", "data": approvals})
    elif printer.output == "jsonl":
        for approval in approvals:
            printer.record(approval)
    else:
        for approval in approvals:
            title = approval.get("sessionTitle") or approval["sessionId"]
            printer.line(
                f"{approval.get('approvalId')}  {title}  {approval.get('method')}  "
                f"{approval.get('summary') or ''}".rstrip()
            )
    if not approvals:
        printer.note("no pending approvals")
    if no_input:
        return EXIT_OK
    for approval in approvals:
        said = await prompt_approval(target, approval, printer, ask, skip=True)
        if said is None:
            break
        printer.note(said)
    return EXIT_OK


# ---------------------------------------------------------------------- jobs


async def wait_for_job(
    target: Target, job_id: str, printer: Printer, *, timeout: float | None
) -> int:
    progress = Progress(printer, job_id)
    try:
        with progress:
            job = await wait_job(target, job_id, timeout=timeout, on_frame=progress.update)
    except TimedOut as exc:
        printer.note(str(exc))
        return EXIT_TIMEOUT
    record = await read_job_record(target, job_id)
    if printer.output == "table":
        printer.line(f"job {job.job_id} ({job.type}): {job.state.value}")
        if job.error:
            printer.line(f"error: {job.error}")
        if job.result is not None:
            printer.line(f"result: {json.dumps(job.result, ensure_ascii=False, default=str)}")
    else:
        printer.record(dict(record))
    if job.state is JobState.COMPLETED:
        return EXIT_OK
    return EXIT_CANCELED if job.state is JobState.CANCELED else EXIT_FAILED


class Progress:
    """While a job runs: a spinner on a terminal (rich, when installed), else one stderr
    line per change of the job."""

    def __init__(self, printer: Printer, job_id: str) -> None:
        self.printer = printer
        self.job_id = job_id
        self._status: Any = None
        if printer.err.isatty():
            try:
                from rich.console import Console
            except ImportError:
                return
            console = Console(file=printer.err)
            self._status = console.status(f"waiting for job {job_id}")

    def __enter__(self) -> Progress:
        if self._status is not None:
            self._status.__enter__()
        else:
            self.printer.note(f"waiting for job {self.job_id} ...")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.__exit__(None, None, None)

    def update(self, frame: StreamFrame) -> None:
        payload = frame.payload if isinstance(frame.payload, Mapping) else {}
        text = f"job {self.job_id}: {payload.get('state')}"
        if payload.get("progress") is not None:
            text += f" {json.dumps(payload['progress'], ensure_ascii=False, default=str)}"
        if self._status is not None:
            self._status.update(text)
        else:
            self.printer.note(text)
