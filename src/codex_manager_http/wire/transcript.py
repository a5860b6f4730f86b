"""Transcript shapes: the original's TranscriptEntry rows, our paginated transcript and the
supplemental-entry upsert."""

from typing import Any, Literal, NotRequired, TypedDict, cast

from codex_manager_core import TranscriptEntry, TranscriptPage
from codex_manager_core.services.transcript import entry_row
from codex_manager_http.wire.common import record_of


class TranscriptRow(TypedDict):
    """The original's TranscriptEntry, plus our `source` and `anchorItemId`."""

    messageId: str
    turnId: str
    role: Literal["user", "assistant", "system"]
    type: str
    content: str
    details: NotRequired[str]
    """JSON text (the item, the request, the audit record...)."""
    status: Literal["streaming", "complete", "canceled", "error"]
    startedAt: NotRequired[int]
    """Epoch milliseconds."""
    completedAt: NotRequired[int]
    """Epoch milliseconds."""
    source: Literal["runtime", "manager"]
    anchorItemId: NotRequired[str | None]


class TranscriptPageBody(TypedDict):
    status: str
    sessionId: str
    entries: list[TranscriptRow]
    nextCursor: str | None
    total: int


class EntryResult(TypedDict):
    status: str
    sessionId: str
    entry: TranscriptRow
    record: dict[str, Any]
    """Ours: the TranscriptEntry exactly."""


class TranscriptEntryBody(TypedDict):
    messageId: str
    turnId: str
    role: Literal["user", "assistant", "system"]
    type: str
    content: str
    details: NotRequired[Any]
    status: NotRequired[Literal["streaming", "complete", "canceled", "error"]]
    startedAt: NotRequired[str | int | float | None]
    """Epoch milliseconds (the original's form), or ISO-8601."""
    completedAt: NotRequired[str | int | float | None]
    anchorItemId: NotRequired[str | None]


def rows(page: TranscriptPage) -> list[TranscriptRow]:
    """The page's rows (the core already builds them in the original's form)."""
    return cast(list[TranscriptRow], list(page.entries))


def transcript_page(session_id: str, page: TranscriptPage) -> TranscriptPageBody:
    return {
        "status": "ok",
        "sessionId": session_id,
        "entries": rows(page),
        "nextCursor": page.next_cursor,
        "total": page.total,
    }


def entry_result(session_id: str, entry: TranscriptEntry) -> EntryResult:
    return {
        "status": "ok",
        "sessionId": session_id,
        "entry": cast(TranscriptRow, entry_row(entry)),
        "record": record_of(entry),
    }
