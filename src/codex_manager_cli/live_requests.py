"""The interactive requests of a turn, decided from the terminal: approvals (accept,
accept for the session, decline, cancel) and the model's questions (tool input), one by one
as a turn raises them (`live_ops.follow_turn`) or from the inbox of every session.

Questions to the person go through an `Ask` callable, run in a worker thread so that the
event stream keeps being read while the person thinks; tests pass their own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

import anyio
import anyio.to_thread
import click

from codex_manager_cli.live import EXIT_OK
from codex_manager_cli.live_output import Printer
from codex_manager_client.errors import ApiError
from codex_manager_client.http_call import call_api
from codex_manager_client.target import Target, path_segment

#: What a person can answer an approval with -> the decision body.
DECISIONS: Final[dict[str, dict[str, str]]] = {
    "accept": {"decision": "accept"},
    "session": {"decision": "accept", "scope": "session"},
    "decline": {"decision": "decline"},
    "cancel": {"decision": "cancel"},
}

#: (question, choices) -> the answer; no choices: any text.
Ask = Callable[[str, list[str]], str]


def ask_with_click(question: str, choices: list[str]) -> str:
    """One of `choices`, or (no choices) any text."""
    kind = click.Choice(choices) if choices else str
    answer: str = click.prompt(question, type=kind, err=True)
    return answer


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


# ---------------------------------------------------------------------- questions


def how_to_answer(request_id: str) -> str:
    return (
        f"answer it with: cmgr tool-input decide {request_id} --decision accept "
        '--answers \'{"<questionId>": "<answer>"}\''
    )


def describe_questions(request: Mapping[str, Any]) -> str:
    lines = [f"the model asks ({request.get('requestId')}):"]
    for question in request.get("questions") or []:
        if isinstance(question, Mapping):
            lines.append(f"  {question.get('id')}: {question.get('question')}")
            for option in question.get("options") or []:
                if isinstance(option, Mapping):
                    lines.append(f"    - {option.get('label')}")
    return "\n".join(lines)


async def answer_questions(
    target: Target, request: Mapping[str, Any], printer: Printer, ask: Ask
) -> str:
    """Ask each question of a tool-input request (its options as choices) and answer."""
    printer.note(describe_questions(request))
    answers: dict[str, Any] = {}
    for question in request.get("questions") or []:
        if not isinstance(question, Mapping):
            continue
        options = [
            str(option.get("label"))
            for option in question.get("options") or []
            if isinstance(option, Mapping)
        ]
        # A question with options may still take free text ("isOther").
        choices = [] if question.get("isOther") or not options else options
        text = str(question.get("question") or question.get("id"))
        answers[str(question.get("id"))] = {
            "answers": [await anyio.to_thread.run_sync(ask, text, choices)]
        }
    request_id = str(request.get("requestId"))
    body = {"decision": "accept", "answers": answers, "actor": "cli"}
    try:
        await call_api(target, "POST", f"/tool-input/{path_segment(request_id)}/decision", body)
    except ApiError as exc:
        if exc.status in (404, 409):
            return f"question {request_id} was already answered or expired"
        raise
    return f"question {request_id}: answered"


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
