"""The supervisor extension: per-session, opt-in helpers run on the owner's hidden
`supervisor` worker through the queue (docs/extensions.md, "The supervisor").

Every handler only reads the session's settings (`tools.session_settings()`) and enqueues
one `agent_instruction` job; the worker answers with action intents the core executes as
the job (actor `job:<id>`), inside the event's session and turn. Settings (all off unless
set; anything malformed counts as off):

    settings.supervisor.fileChange = {diffExplainability: bool,
        autoActions: {approve|reject|steer: {enabled: bool, threshold: low|med|high}}}
    settings.supervisor.turnReview = {enabled: bool}
    settings.supervisor.initialRename = {enabled: bool}

Thresholds: approve when the judged risk is at most the threshold; reject and steer when it
is at least the threshold; reject wins over approve (and steer) when both match.
"""

from __future__ import annotations

import collections
import json
from collections.abc import Mapping
from typing import Any, Final

import attrs

from codex_manager_core.extensions import (
    EnqueueResult,
    ExtensionEvent,
    ExtensionRegistry,
    Toolbox,
)
from codex_manager_core.services.suggestion_state import suggestion_job

AGENT: Final = "supervisor"
JOB: Final = "agent_instruction"
RISKS: Final = ("low", "med", "high")
DEFAULT_TITLE: Final = "New chat"
MAX_DIFF: Final = 40_000
"""Characters of the approval's details put into the instruction."""
MAX_REMEMBERED: Final = 500

_changes: collections.OrderedDict[tuple[str, str], Any] = collections.OrderedDict()
"""(thread, item) -> the `changes` (paths, kinds, diffs) of a fileChange item as it started:
an approval request names its item but does not carry the diff, and the item's
`item/started` comes before it in ledger order (which is dispatch order)."""


def remember_changes(thread: str, item: Mapping[str, Any]) -> None:
    item_id = _str(item.get("id"))
    if item_id is not None:
        _changes[(thread, item_id)] = item.get("changes")
        while len(_changes) > MAX_REMEMBERED:
            _changes.popitem(last=False)


# ---------------------------------------------------------------- settings


@attrs.frozen
class Policy:
    """The supervisor's part of one session's settings."""

    explainability: bool = False
    approve: str | None = None
    reject: str | None = None
    steer: str | None = None
    turn_review: bool = False
    initial_rename: bool = False

    @property
    def file_change(self) -> bool:
        return self.explainability or any((self.approve, self.reject, self.steer))

    def decide(self, risk: str) -> str | None:
        """What the policy does at `risk`: reject, approve, steer or None (reject wins)."""
        level = RISKS.index(risk)
        if self.reject is not None and level >= RISKS.index(self.reject):
            return "reject"
        if self.approve is not None and level <= RISKS.index(self.approve):
            return "approve"
        if self.steer is not None and level >= RISKS.index(self.steer):
            return "steer"
        return None


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _enabled(value: Any) -> bool:
    return _map(value).get("enabled") is True


def _threshold(value: Any) -> str | None:
    action = _map(value)
    threshold = action.get("threshold")
    if action.get("enabled") is True and threshold in RISKS:
        return str(threshold)
    return None


def policy_of(settings: Mapping[str, Any]) -> Policy:
    """The policy a session's settings document gives (malformed parts are off)."""
    supervisor = _map(settings.get("supervisor"))
    file_change = _map(supervisor.get("fileChange"))
    auto = _map(file_change.get("autoActions"))
    return Policy(
        explainability=file_change.get("diffExplainability") is True,
        approve=_threshold(auto.get("approve")),
        reject=_threshold(auto.get("reject")),
        steer=_threshold(auto.get("steer")),
        turn_review=_enabled(supervisor.get("turnReview")),
        initial_rename=_enabled(supervisor.get("initialRename")),
    )


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def runtime_risk(payload: Mapping[str, Any]) -> str | None:
    """Codex's own risk level of the request, when the runtime reports one."""
    details = _map(payload.get("details"))
    for source in (payload, details, _map(details.get("params"))):
        for key in ("riskLevel", "risk", "autoReviewRisk"):
            value = source.get(key)
            if isinstance(value, Mapping):
                value = value.get("level") or value.get("risk")
            if isinstance(value, str):
                level = {"medium": "med"}.get(value.lower(), value.lower())
                if level in RISKS:
                    return level
    return None


# ---------------------------------------------------------------- instructions

_ANSWER: Final = (
    "Answer with ONE JSON object and nothing else:\n"
    '{"kind": "action_intents", "intents": [ ... ]}\n'
)


def _intent(kind: str, payload: Mapping[str, Any]) -> str:
    return json.dumps({"kind": kind, "payload": dict(payload)})


def _row(
    session: str, turn: str, message_id: str, type_: str, anchor: str | None
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "sessionId": session,
        "messageId": message_id,
        "turnId": turn,
        "role": "system",
        "type": type_,
        "status": "complete",
        "content": "<your text>",
        "details": {"risk": "<low|med|high>", "author": "supervisor"},
    }
    if anchor is not None:
        row["anchorItemId"] = anchor
    return row


def file_change_instruction(
    payload: Mapping[str, Any], policy: Policy, rows: list[dict[str, Any]], risk: str | None
) -> str:
    session, turn = str(payload["sessionId"]), str(payload["turnId"])
    approval = _str(payload.get("approvalId"))
    changes = _changes.get((session, str(payload.get("itemId"))))
    change = {"changes": changes, "request": payload.get("details")}
    details = json.dumps(change, default=str)[:MAX_DIFF]
    lines = [
        "A coding agent asks to apply file changes; judge them as the project's supervisor.",
        f"Session {session}, turn {turn}, approval {approval}.",
        f"Summary: {payload.get('summary') or 'Apply file changes'}",
        f"The change (JSON; the diff is in it):\n{details}",
    ]
    if risk is not None:
        lines.append(f"Codex's own review judged this change's risk: {risk}.")
    lines.append(
        "Judge the risk of applying it: low (safe, local, easily undone), med, or high "
        "(destructive, security relevant, wide or irreversible)."
    )
    lines.append(_ANSWER + "with these intents, in this order:")
    for row in rows:
        lines.append(
            "- "
            + _intent("transcript.upsert", row)
            + (
                "  (content: why the change is made and what it does, in plain words)"
                if row["type"] == "fileChange.explainability"
                else "  (content: your risk judgement and why, one or two sentences)"
            )
        )
    rules = []
    if policy.reject is not None:
        rules.append(f"risk at or above {policy.reject}: decline")
    if policy.approve is not None:
        rules.append(f"risk at or below {policy.approve}: accept")
    if policy.steer is not None:
        rules.append(f"risk at or above {policy.steer}: steer the turn")
    if rules and approval is not None:
        lines.append(
            "The session's policy, first matching rule wins (decline wins over accept): "
            + "; ".join(rules)
            + ". Add exactly one decision intent ONLY if a rule matches "
            "the risk you judged, otherwise none:"
        )
        decide = {"approvalId": approval, "decision": "<accept|decline>"}
        lines.append("- " + _intent("approval.decide", decide))
        if policy.steer is not None:
            steer = {"sessionId": session, "turnId": turn, "input": "<what to do instead>"}
            lines.append("- " + _intent("turn.steer.create", steer) + "  (for steer)")
    else:
        lines.append("Do not decide the approval: a person will.")
    return "\n".join(lines)


def turn_review_instruction(payload: Mapping[str, Any], row: Mapping[str, Any]) -> str:
    return "\n".join(
        [
            f"Turn {payload['turnId']} of session {payload['sessionId']} has ended "
            f"(status {payload.get('status')}); it changed files "
            f"({payload.get('fileChangeApprovals')} file-change approval(s)).",
            "Review it as the project's supervisor: what changed, its risks, what to check.",
            _ANSWER + "with this one intent (content: your review, a few sentences):",
            "- " + _intent("transcript.upsert", row),
        ]
    )


def rename_instruction(session: str, message: str) -> str:
    return "\n".join(
        [
            f"A new chat (session {session}) began with this message:",
            message[:4_000],
            "Give it a short title (at most 6 words, no quotes).",
            _ANSWER + "with this one intent:",
            "- " + _intent("session.rename", {"sessionId": session, "title": "<the title>"}),
        ]
    )


# ---------------------------------------------------------------- handlers


async def on_file_change(event: ExtensionEvent, tools: Toolbox) -> EnqueueResult | None:
    payload = event.payload
    session, turn = _str(payload.get("sessionId")), _str(payload.get("turnId"))
    if session is None or turn is None:
        return None
    policy = policy_of(await tools.session_settings())
    if not policy.file_change:
        return None
    item = _str(payload.get("itemId"))
    approval = _str(payload.get("approvalId"))
    key = item or approval or "-"
    rows = []
    if policy.explainability:
        rows.append(
            _row(
                session,
                turn,
                f"file-change-explain::{session}:{turn}:{key}",
                "fileChange.explainability",
                item,
            )
        )
    rows.append(
        _row(
            session,
            turn,
            f"file-change-insight::{session}:{turn}:{key}",
            "fileChange.supervisorInsight",
            item,
        )
    )
    risk = runtime_risk(payload)
    job: dict[str, Any] = {
        "agent": AGENT,
        "jobKind": "file_change_supervisor_review",
        "sourceSessionId": session,
        "threadId": session,
        "turnId": turn,
        "itemId": item,
        "approvalId": approval,
        "dedupeKey": f"file_change_supervisor_review:{session}:{turn}:{key}",
        "expectResponse": "action_intents",
        "instructionText": file_change_instruction(payload, policy, rows, risk),
        "supplementalTargets": [
            {
                "messageId": row["messageId"],
                "type": row["type"],
                "placeholderTexts": ["The supervisor is reviewing this change..."],
            }
            for row in rows
        ],
    }
    if event.context.project_id:
        job["projectId"] = event.context.project_id
    if item is not None:
        job["anchorItemId"] = item
    tools.logger.info("file change %s of %s: review enqueued (%s)", key, session, policy)
    return await tools.enqueue_job(JOB, job)


async def on_turn_completed(event: ExtensionEvent, tools: Toolbox) -> EnqueueResult | None:
    payload = event.payload
    session, turn = _str(payload.get("sessionId")), _str(payload.get("turnId"))
    approvals = payload.get("fileChangeApprovals")
    if session is None or turn is None or not isinstance(approvals, int) or approvals <= 0:
        return None
    if not policy_of(await tools.session_settings()).turn_review:
        return None
    row = _row(
        session, turn, f"turn-supervisor-review::{session}:{turn}", "turn.supervisorReview", None
    )
    row["details"] = {"author": "supervisor"}
    job: dict[str, Any] = {
        "agent": AGENT,
        "jobKind": "turn_supervisor_review",
        "sourceSessionId": session,
        "threadId": session,
        "turnId": turn,
        "dedupeKey": f"turn_supervisor_review:{session}:{turn}",
        "expectResponse": "action_intents",
        "instructionText": turn_review_instruction(payload, row),
        "supplementalTargets": [
            {
                "messageId": row["messageId"],
                "type": row["type"],
                "placeholderTexts": ["The supervisor is reviewing this turn..."],
            }
        ],
    }
    if event.context.project_id:
        job["projectId"] = event.context.project_id
    return await tools.enqueue_job(JOB, job)


async def on_suggest_request(event: ExtensionEvent, tools: Toolbox) -> EnqueueResult | None:
    """The suggestion job (formerly the suggestions service's built-in handler)."""
    payload = event.payload
    session, key = _str(payload.get("sessionId")), _str(payload.get("requestKey"))
    if session is None or key is None:
        return None
    job = suggestion_job(payload)
    return await tools.enqueue_job(JOB, job, priority="interactive")


async def on_item_started(event: ExtensionEvent, tools: Toolbox) -> EnqueueResult | None:
    payload = event.payload
    item = _map(_map(payload.get("params")).get("item"))
    session_ref = _map(payload.get("session"))
    session = event.context.session_id
    if item.get("type") == "fileChange" and session is not None:
        remember_changes(session, item)
        return None
    if item.get("type") != "userMessage" or session is None:
        return None
    if session_ref.get("title") != DEFAULT_TITLE:
        return None
    if not policy_of(await tools.session_settings()).initial_rename:
        return None
    message = " ".join(
        str(part.get("text"))
        for part in item.get("content") or []
        if isinstance(part, Mapping) and isinstance(part.get("text"), str)
    ).strip()
    if not message:
        return None
    job: dict[str, Any] = {
        "agent": AGENT,
        "jobKind": "session_initial_rename",
        "sourceSessionId": session,
        "threadId": session,
        "dedupeKey": f"session_initial_rename:{session}",
        "expectResponse": "action_intents",
        "instructionText": rename_instruction(session, message),
    }
    if event.context.project_id:
        job["projectId"] = event.context.project_id
    return await tools.enqueue_job(JOB, job)


def register(registry: ExtensionRegistry) -> None:
    registry.on("file_change.approval_requested", on_file_change)
    registry.on("turn.completed", on_turn_completed)
    registry.on("suggest_request.requested", on_suggest_request)
    registry.on("app_server.item.started", on_item_started)
