"""Suggested-request shapes (the original's section 1.10): the request body, the three
answers of `POST .../suggested-request` (ok, fallback, queued) and the upsert's."""

from typing import Any, Literal, NotRequired, TypedDict

from codex_manager_core.serde import to_json
from codex_manager_core.services.suggestion_state import SuggestionState
from codex_manager_core.services.suggestions import SuggestionJob, SuggestionOutcome


class SuggestBody(TypedDict):
    model: NotRequired[str | None]
    effort: NotRequired[str | None]
    """none, minimal, low, medium, high or xhigh."""
    draft: NotRequired[str | None]
    """What the user has typed so far (at most 4000 characters)."""


class UpsertBody(TypedDict):
    requestKey: str
    status: str
    """streaming, complete, error or canceled."""
    suggestion: NotRequired[str | None]
    """At most 8000 characters; required with status complete."""
    error: NotRequired[str | None]


class Queued(TypedDict):
    """202: the job is queued (or was already: `dedupe`); its result arrives as
    `suggested_request_updated` on the session's stream."""

    status: Literal["queued"]
    jobId: str
    requestKey: str
    sessionId: str
    projectId: str
    dedupe: Literal["enqueued", "already_queued"]


class Suggested(TypedDict):
    """200: `ok` (the worker's suggestion) or `fallback` (built from the draft or the last
    user message when the worker did not answer in time); 202 `queued` (see `Queued`)."""

    status: Literal["ok", "fallback", "queued"]
    sessionId: str
    requestKey: str
    suggestion: NotRequired[str]
    jobId: NotRequired[str]
    projectId: NotRequired[str]
    dedupe: NotRequired[Literal["enqueued", "already_queued"]]
    job: NotRequired[dict[str, Any]]
    """Ours (ok, fallback): the job that wrote it ({jobId, requestKey, sessionId, ...})."""
    suggested: NotRequired[str | None]
    """Ours (ok, fallback): the suggestion as written (null when there was none)."""


class Entry(TypedDict):
    status: str
    suggestion: NotRequired[str]
    error: NotRequired[str]
    updatedAt: int


class Upserted(TypedDict):
    status: Literal["ok"]
    sessionId: str
    requestKey: str
    entry: Entry


def queued(job: SuggestionJob) -> Queued:
    return {
        "status": "queued",
        "jobId": job.job_id,
        "requestKey": job.request_key,
        "sessionId": job.session_id,
        "projectId": job.project_id,
        "dedupe": job.dedupe,
    }


def suggested(outcome: SuggestionOutcome) -> Suggested:
    if outcome.status == "queued":
        return {**queued(outcome.job)}  # type: ignore[typeddict-item]  # a Queued is a Suggested
    return {
        "status": outcome.status,
        "sessionId": outcome.job.session_id,
        "requestKey": outcome.request_key,
        "suggestion": outcome.suggestion or "",
        "job": to_json(outcome.job),
        "suggested": outcome.suggestion,
    }


def upserted(state: SuggestionState) -> Upserted:
    entry: Entry = {"status": state.status, "updatedAt": state.updated_at}
    if state.suggestion:
        entry["suggestion"] = state.suggestion
    if state.error:
        entry["error"] = state.error
    return {
        "status": "ok",
        "sessionId": state.session_id,
        "requestKey": state.request_key,
        "entry": entry,
    }
