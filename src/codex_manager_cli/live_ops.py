"""The work behind the CLI's live commands (`live.py`): following a turn (deciding its
approvals and questions through `live_requests`), printing the event stream, waiting for a
job. The inbox is in `live_requests`, the output formats in `live_output`.

Separate from `live.py` so that the click commands stay cheap to import: this module loads
the remote client (httpx, httpx-ws, anyio) and is imported only when a live command runs.
Everything here is async (anyio); `live.py` runs it with `anyio.run`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from codex_manager_cli.live import (
    EXIT_CANCELED,
    EXIT_FAILED,
    EXIT_NEEDS_DECISION,
    EXIT_OK,
    EXIT_TIMEOUT,
)
from codex_manager_cli.live_output import DELTA, Printer, turn_of
from codex_manager_cli.live_requests import (
    Ask,
    answer_questions,
    ask_with_click,
    describe_approval,
    describe_questions,
    how_to_answer,
    how_to_decide,
    prompt_approval,
)
from codex_manager_client.http_call import call_api
from codex_manager_client.stream import EventStream, StreamFrame
from codex_manager_client.target import Target
from codex_manager_client.waits import read_job_record, wait_job, wait_turn
from codex_manager_core.errors import TimedOut, TurnFailed
from codex_manager_core.models import TurnStatus
from codex_manager_core.queue.model import JobState

# ---------------------------------------------------------------------- follow a turn


class NeedsDecision(Exception):
    """An approval or a question is pending and the user said --no-input."""


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
    """Print the turn's reply as it streams, prompt for its approvals and questions; the
    exit code."""
    reply = _Reply(printer)

    async def on_frame(frame: StreamFrame) -> None:
        if turn_of(frame.payload) != turn_id:
            return
        if printer.output == "jsonl":
            printer.frame(frame)
        elif printer.output == "table" and frame.type == DELTA:
            reply.delta(frame.payload["params"])
        if frame.part != 0 or not isinstance(frame.payload, Mapping):
            return
        if frame.type == "approval":
            reply.end_line()
            approval_id = str(frame.payload.get("approvalId"))
            if no_input:
                printer.note(describe_approval(frame.payload))
                printer.note(how_to_decide(approval_id))
                raise NeedsDecision(approval_id)
            said = await prompt_approval(target, frame.payload, printer, ask, skip=False)
            printer.note(said or "")
        elif frame.type == "tool_user_input_requested":
            reply.end_line()
            request_id = str(frame.payload.get("requestId"))
            if no_input:
                printer.note(describe_questions(frame.payload))
                printer.note(how_to_answer(request_id))
                raise NeedsDecision(request_id)
            printer.note(await answer_questions(target, frame.payload, printer, ask))

    try:
        # Without `since` the thread is replayed from the start (only this turn is shown).
        result = await wait_turn(
            target, session_id, turn_id, since=since or 0, timeout=timeout, on_frame=on_frame
        )
    except NeedsDecision:
        reply.end_line()
        return EXIT_NEEDS_DECISION
    except TurnFailed as exc:
        reply.end_line()
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
        reply.end_line()
        printer.note(str(exc))
        return EXIT_TIMEOUT
    reply.end_line()
    if printer.output == "table":
        if not reply.streamed and result.final_text:
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


class _Reply:
    """The agent's messages as they stream (table output): each message on its own lines,
    and a note (an approval, the outcome) never glued to a half-written line."""

    def __init__(self, printer: Printer) -> None:
        self.printer = printer
        self.streamed = False
        self._item: object = None
        self._mid_line = False

    def delta(self, params: Mapping[str, Any]) -> None:
        item = params.get("itemId")
        if self.streamed and item != self._item:
            self.end_line()
        self._item = item
        text = str(params.get("delta", ""))
        if text:
            self.printer.out.write(text)
            self.printer.out.flush()
            self.streamed = True
            self._mid_line = not text.endswith("\n")

    def end_line(self) -> None:
        if self._mid_line:
            self.printer.line("")
            self._mid_line = False


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
    return values[0] if values else None


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
