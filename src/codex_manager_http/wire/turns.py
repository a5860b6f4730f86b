"""Turn shapes (the original's section 1.8): a message that starts a turn, steering and
interrupting it, and the thread actions that answer what the runtime said (fork is in
`sessions`: it answers a session)."""

from typing import Any, Literal, NotRequired, TypedDict

from codex_manager_core.errors import InvalidInput
from codex_manager_http.wire.common import (
    ApprovalPolicy,
    Effort,
    FilesystemSandbox,
    NetworkAccess,
)
from codex_manager_http.wire.sessions import DynamicTool


class InputItem(TypedDict):
    """{type: text, text} | {type: image, url} | {type: localImage, path}."""

    type: Literal["text", "image", "localImage"]
    text: NotRequired[str]
    url: NotRequired[str]
    path: NotRequired[str]


class MessageBody(TypedDict):
    text: NotRequired[str | None]
    """The message (the original's only input); `input` items follow it."""
    input: NotRequired[list[InputItem] | None]
    model: NotRequired[str | None]
    effort: NotRequired[Effort | None]
    approvalPolicy: NotRequired[ApprovalPolicy | None]
    networkAccess: NotRequired[NetworkAccess | None]
    filesystemSandbox: NotRequired[FilesystemSandbox | None]
    collaborationMode: NotRequired[dict[str, Any] | None]
    """E.g. {mode: "plan", settings: {...}}: plan mode offers the model request_user_input."""
    outputSchema: NotRequired[dict[str, Any] | None]
    dynamicTools: NotRequired[list[DynamicTool] | None]
    """Declared when the session is created: the same catalog again is accepted (and changes
    nothing), another one is refused (400)."""


class SteerBody(TypedDict):
    input: str | list[InputItem]


class InterruptBody(TypedDict):
    turnId: NotRequired[str | None]


class RollbackBody(TypedDict):
    numTurns: NotRequired[int]


class ReviewBody(TypedDict):
    delivery: NotRequired[Literal["inline", "detached"] | None]
    targetType: NotRequired[Literal["uncommittedChanges", "baseBranch", "commit", "custom"] | None]
    branch: NotRequired[str | None]
    sha: NotRequired[str | None]
    title: NotRequired[str | None]
    instructions: NotRequired[str | None]


class Accepted(TypedDict):
    status: Literal["accepted"]
    sessionId: str
    turnId: str
    sinceSeq: NotRequired[int]
    """Ours: the ledger seq before the turn started; follow it with /api/stream?since=."""


class Interrupted(TypedDict):
    status: str
    sessionId: str
    turnId: str


class ActionResult(TypedDict):
    status: str
    sessionId: str
    result: Any
    """What the runtime answered."""


class RollbackResult(ActionResult):
    numTurns: int


class SteerResult(ActionResult):
    turnId: str


# ---------------------------------------------------------------------- parsing


def message_items(body: MessageBody) -> list[Any]:
    """The turn's input: `text` as the first item, then the `input` items."""
    text = body.get("text")
    items: list[Any] = [{"type": "text", "text": text}] if text is not None else []
    items.extend(body.get("input") or [])
    if not items:
        raise InvalidInput(
            "give the message as text (or input items)",
            issues=[{"path": ["text"], "message": "required"}],
        )
    return items


def review_options(body: ReviewBody) -> dict[str, Any]:
    """The Manager's `review_session` keywords (`target_type` only when given: the Manager
    picks uncommitted changes by default)."""
    review: dict[str, Any] = {
        "delivery": body.get("delivery"),
        "branch": body.get("branch"),
        "sha": body.get("sha"),
        "title": body.get("title"),
        "instructions": body.get("instructions"),
    }
    if body.get("targetType"):
        review["target_type"] = body["targetType"]
    return review


# ---------------------------------------------------------------------- answers


def accepted(session_id: str, turn_id: str, since_seq: int | None = None) -> Accepted:
    body: Accepted = {"status": "accepted", "sessionId": session_id, "turnId": turn_id}
    if since_seq is not None:
        body["sinceSeq"] = since_seq
    return body


def interrupted(session_id: str, turn_id: str) -> Interrupted:
    return {"status": "ok", "sessionId": session_id, "turnId": turn_id}


def steered(session_id: str, turn_id: str, result: Any) -> SteerResult:
    return {"status": "ok", "sessionId": session_id, "turnId": turn_id, "result": result}


def action_result(session_id: str, result: Any) -> ActionResult:
    return {"status": "ok", "sessionId": session_id, "result": result}


def rolled_back(session_id: str, num_turns: int, result: Any) -> RollbackResult:
    return {"status": "ok", "sessionId": session_id, "numTurns": num_turns, "result": result}
