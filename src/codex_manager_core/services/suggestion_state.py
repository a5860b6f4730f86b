"""The pure parts of suggested requests: the in-memory state of each (session, requestKey),
the checks of the callers' arguments, the fallback heuristic and the worker's instruction.

Kept apart from `suggestions.py` (which enqueues, waits and writes events) because none of
this needs the Manager: it is tested directly, and the service stays one responsibility.
The rules are the original's (its `upsertSuggestedRequestRuntimeState`,
`buildFallbackSuggestedRequest`): the state is in memory only and capped, and a terminal
state never goes back to streaming.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal, get_args

import attrs

from codex_manager_core.errors import InvalidInput

SuggestionStatus = Literal["streaming", "complete", "error", "canceled"]
STATUSES: Final[tuple[str, ...]] = get_args(SuggestionStatus)
TERMINAL: Final = frozenset({"complete", "error", "canceled"})
EFFORTS: Final = ("none", "minimal", "low", "medium", "high", "xhigh")

MAX_DRAFT: Final = 4000
MAX_SUGGESTION: Final = 8000
MAX_ERROR: Final = 4000
MAX_REQUEST_KEY: Final = 200
MAX_MODEL: Final = 200
DEFAULT_ERROR: Final = "suggested request generation failed"

# What the instruction quotes of the conversation: enough for the worker to see where it
# stands, bounded so a long chat does not become a huge prompt.
_TRANSCRIPT_ENTRIES: Final = 20
_ENTRY_CHARS: Final = 2000


@attrs.frozen
class SuggestionState:
    """The latest state of one suggested request (the original's runtime state)."""

    session_id: str
    request_key: str
    status: SuggestionStatus
    suggestion: str | None
    error: str | None
    updated_at: int
    """Epoch milliseconds, as the original."""

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


class SuggestionStates:
    """Every suggested request's state, in memory (nothing of it survives a restart, as in
    the original), at most `limit` entries: the least recently updated go first."""

    def __init__(self, limit: int) -> None:
        self._limit = max(1, limit)
        self._states: OrderedDict[tuple[str, str], SuggestionState] = OrderedDict()

    def __len__(self) -> int:
        return len(self._states)

    def get(self, session_id: str, request_key: str) -> SuggestionState | None:
        return self._states.get((session_id, request_key))

    def apply(
        self,
        session_id: str,
        request_key: str,
        status: SuggestionStatus,
        suggestion: str | None,
        error: str | None,
        now_ms: int,
    ) -> tuple[SuggestionState, bool]:
        """The state after this update, and whether it changed (a terminal state does not
        regress to streaming: the late `streaming` is ignored)."""
        key = (session_id, request_key)
        existing = self._states.get(key)
        if existing is not None and existing.terminal and status == "streaming":
            return existing, False
        if error is None and status == "error":
            error = (existing.error if existing is not None else None) or DEFAULT_ERROR
        state = SuggestionState(
            session_id=session_id,
            request_key=request_key,
            status=status,
            suggestion=suggestion or (existing.suggestion if existing is not None else None),
            error=error,
            updated_at=now_ms,
        )
        self._states[key] = state
        self._states.move_to_end(key)
        while len(self._states) > self._limit:
            self._states.popitem(last=False)
        return state, True


def event_payload(state: SuggestionState) -> dict[str, Any]:
    """`suggested_request_updated` as the original sends it."""
    payload: dict[str, Any] = {
        "sessionId": state.session_id,
        "requestKey": state.request_key,
        "status": state.status,
    }
    if state.suggestion:
        payload["suggestion"] = state.suggestion
    if state.error:
        payload["error"] = state.error
    return payload


# ---------------------------------------------------------------------- arguments


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput(f"{field}: {message}", issues=[{"path": [field], "message": message}])


def optional_text(value: object, field: str, limit: int) -> str | None:
    """A trimmed, non-empty string of at most `limit` characters, or None when absent."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(field, "must be a string")
    text = value.strip()
    if not text:
        raise _invalid(field, "must not be empty")
    if len(text) > limit:
        raise _invalid(field, f"at most {limit} characters (got {len(text)})")
    return text


def check_options(
    model: object, effort: object, draft: object
) -> tuple[str | None, str | None, str | None]:
    """The request's model, effort and draft, checked (the original's body schema)."""
    if effort is not None and effort not in EFFORTS:
        raise _invalid("effort", f"must be one of {list(EFFORTS)}")
    return (
        optional_text(model, "model", MAX_MODEL),
        effort if isinstance(effort, str) else None,
        optional_text(draft, "draft", MAX_DRAFT),
    )


def check_upsert(
    request_key: object, status: object, suggestion: object, error: object
) -> tuple[str, SuggestionStatus, str | None, str | None]:
    key = optional_text(request_key, "request_key", MAX_REQUEST_KEY)
    if key is None:
        raise _invalid("request_key", "required")
    if status not in STATUSES:
        raise _invalid("status", f"must be one of {list(STATUSES)}")
    text = optional_text(suggestion, "suggestion", MAX_SUGGESTION)
    reason = optional_text(error, "error", MAX_ERROR)
    if status == "complete" and text is None:
        raise InvalidInput(
            "suggestion is required when status is complete",
            issues=[{"path": ["suggestion"], "message": "required when status is complete"}],
            code="missing_suggestion",
        )
    return key, status, text, reason  # type: ignore[return-value]  # status checked above


# ---------------------------------------------------------------------- conversation


def context_rows(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The transcript rows a suggestion is built from: user and assistant text."""
    return [
        row
        for row in rows
        if row.get("role") in ("user", "assistant")
        and isinstance(row.get("content"), str)
        and row["content"].strip()
    ]


def last_of(rows: Sequence[Mapping[str, Any]], role: str) -> str | None:
    for row in reversed(rows):
        if row.get("role") == role:
            return str(row["content"])
    return None


def fallback_suggestion(rows: Sequence[Mapping[str, Any]], draft: str | None) -> str:
    """The original's heuristic: the draft itself, else a request built from the last user
    message, else from the last answer, else a generic next step."""
    if draft and draft.strip():
        return draft.strip()
    user = last_of(rows, "user")
    if user is not None:
        request = " ".join(user.split())[:220]
        return f"Please continue from your last response and focus on this request: {request}"
    answer = last_of(rows, "assistant")
    if answer is not None:
        summary = " ".join(answer.split())[:260]
        return (
            "Please continue from your last response and focus on the concrete next step. "
            f"({summary})"
        )
    return "Please continue with the next concrete step and include exact commands or code changes."


def transcript_text(rows: Sequence[Mapping[str, Any]]) -> str:
    recent = rows[-_TRANSCRIPT_ENTRIES:]
    lines = [
        f"{index}. {row['role']}: {str(row['content'])[:_ENTRY_CHARS]}"
        for index, row in enumerate(recent, start=1)
    ]
    return "\n".join(lines) or "No transcript context available."


def instruction_text(
    *,
    session_id: str,
    request_key: str,
    user_request: str,
    transcript: str,
    draft: str | None,
) -> str:
    """What the worker is asked: write the user's next request, and answer only with it
    (the job's `expectResponse` is `assistant_text`: the answer is the suggestion)."""
    return "\n".join(
        [
            "# Job: suggest the user's next request",
            "",
            f"Source session: {session_id}",
            f"Request key: {request_key}",
            "",
            "Read the conversation below and write the message the user would most usefully",
            "send next: a concrete, self-contained request in the user's own voice, that",
            "moves their work forward from where the conversation stands. If the user has",
            "started a draft, build on it and keep its intent.",
            "",
            "Answer with the text of that request only: no preamble, no quotes, no",
            f"explanation, at most {MAX_SUGGESTION} characters. Do not run commands or",
            "change files.",
            "",
            "## The user's last request",
            "```user-request.md",
            user_request,
            "```",
            "",
            "## Transcript (most recent last)",
            "```transcript.md",
            transcript,
            "```",
            "",
            "## The user's current draft",
            draft if draft else "[none]",
        ]
    )


def suggestion_job(requested: Mapping[str, Any]) -> dict[str, Any]:
    """The `agent_instruction` payload that writes a suggestion, from the payload of its
    `suggest_request.requested` event: the one builder of the built-in handler and of the
    supervisor extension (one live job per session, the answer written under the
    request's key)."""
    session = str(requested["sessionId"])
    key = str(requested["requestKey"])

    def text(name: str) -> str | None:
        value = requested.get(name)
        return value if isinstance(value, str) and value else None

    draft = text("draft")
    job: dict[str, Any] = {
        "agent": "supervisor",
        "jobKind": "suggest_request",
        "projectId": text("projectId") or f"session:{session}",
        "sourceSessionId": session,
        "threadId": session,
        "turnId": text("turnId") or "suggest-request",
        "instructionText": instruction_text(
            session_id=session,
            request_key=key,
            user_request=text("userRequest") or "User request unavailable.",
            transcript=str(requested.get("turnTranscript") or ""),
            draft=draft,
        ),
        "dedupeKey": f"suggest_request:{session}",
        "expectResponse": "assistant_text",
        "completionSignal": {"kind": "suggested_request", "requestKey": key},
    }
    for name, value in (("model", text("model")), ("effort", text("effort"))):
        if value is not None:
            job[name] = value
    if draft is not None:
        job["fallbackSuggestionDraft"] = draft
    return job
