"""Transcripts: the runtime's items (`thread/read`) merged with our supplemental rows
(interactive requests, controls audit, entries written by extensions), paginated."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import attrs

from codex_manager_core.errors import InvalidInput
from codex_manager_core.events.payloads import coerce_epoch_ms, details_text, epoch_ms, request_view
from codex_manager_core.models import (
    InteractiveRequest,
    RequestKind,
    TranscriptEntry,
)
from codex_manager_core.ports.store import PutTranscriptEntry, RequestQuery
from codex_manager_core.serde import parse_iso
from codex_manager_core.services.context import ServiceContext
from codex_manager_core.services.session_threads import SessionThreads

DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 1000
MAX_ENTRY_CONTENT: Final = 256 * 1024
ROLES: Final = ("user", "assistant", "system")
STATUSES: Final = ("streaming", "complete", "canceled", "error")
_STATUS_RANK: Final = {"streaming": 0, "complete": 1, "canceled": 2, "error": 3}
_TURN_STATUS: Final = {
    "inProgress": "streaming",
    "completed": "complete",
    "interrupted": "canceled",
    "failed": "error",
}


@attrs.frozen
class TranscriptPage:
    entries: tuple[dict[str, Any], ...]
    next_cursor: str | None
    total: int


def _text_of_user(item: Mapping[str, Any]) -> str:
    parts = []
    for content in item.get("content") or []:
        if isinstance(content, Mapping):
            if content.get("type") == "text":
                parts.append(str(content.get("text", "")))
            elif content.get("type") in ("image", "localImage"):
                parts.append(f"[image {content.get('url') or content.get('path')}]")
    return "\n".join(parts)


def _summary(item: Mapping[str, Any]) -> str:
    kind = item.get("type")
    if kind == "commandExecution":
        return f"$ {item.get('command')}"
    if kind == "fileChange":
        changes = item.get("changes") or []
        return f"Edited {len(changes)} file(s)"
    if kind == "mcpToolCall":
        return f"MCP {item.get('server')}.{item.get('tool')}"
    if kind == "dynamicToolCall":
        return f"Tool {item.get('tool')}"
    if kind == "reasoning":
        summary = item.get("summary") or []
        return (
            " ".join(str(part) for part in summary) if isinstance(summary, list) else str(summary)
        )
    if kind == "plan":
        return str(item.get("text") or "Plan")
    return str(kind)


def _item_status(item: Mapping[str, Any], turn_status: str) -> str:
    raw = item.get("status")
    if raw in ("failed", "declined"):
        return "error"
    if raw == "inProgress":
        return "streaming" if turn_status == "streaming" else "canceled"
    return "complete" if turn_status in ("complete", "streaming") and raw else turn_status


def _wire(row: dict[str, Any]) -> dict[str, Any]:
    """The row as the original sends it: no `details`, `startedAt` or `completedAt` key
    when there is none (its TranscriptEntry has them optional, never null)."""
    for key in ("details", "startedAt", "completedAt"):
        if row.get(key) is None:
            row.pop(key, None)
    return row


def turns_to_rows(turns: Sequence[Any]) -> list[dict[str, Any]]:
    """The transcript rows of the runtime's turns (thread/read includeTurns)."""
    rows: list[dict[str, Any]] = []
    for turn in turns:
        if not isinstance(turn, Mapping):
            continue
        turn_id = str(turn.get("id"))
        turn_status = _TURN_STATUS.get(str(turn.get("status")), "complete")
        started = coerce_epoch_ms(turn.get("startedAt"))
        completed = coerce_epoch_ms(turn.get("completedAt"))
        for item in turn.get("items") or []:
            if not isinstance(item, Mapping):
                continue
            kind = item.get("type")
            if kind == "userMessage":
                role, content, status = "user", _text_of_user(item), "complete"
            elif kind == "agentMessage":
                role, content = "assistant", str(item.get("text") or "")
                status = turn_status if turn_status != "error" else "complete"
            else:
                role, content, status = "system", _summary(item), _item_status(item, turn_status)
            rows.append(
                _wire(
                    {
                        "messageId": str(item.get("id")),
                        "turnId": turn_id,
                        "role": role,
                        "type": str(kind),
                        "content": content,
                        "details": details_text(dict(item)) if role == "system" else None,
                        "status": status,
                        "startedAt": started,
                        "completedAt": completed,
                        "source": "runtime",
                    }
                )
            )
    return rows


def entry_row(entry: TranscriptEntry) -> dict[str, Any]:
    """A supplemental entry as a transcript row (the original's TranscriptEntry: `details`
    JSON text, times in epoch milliseconds; plus our `anchorItemId` and `source`)."""
    return _wire(
        {
            "messageId": entry.message_id,
            "turnId": entry.turn_id,
            "role": entry.role,
            "type": entry.type,
            "content": entry.content,
            "details": details_text(entry.details),
            "status": entry.status,
            "startedAt": epoch_ms(entry.started_at),
            "completedAt": epoch_ms(entry.completed_at),
            "anchorItemId": entry.anchor_item_id,
            "source": "manager",
        }
    )


#: (messageId prefix, type prefix, content noun, turnId fallback) of a request's row, as
#: the original wrote them (`approval-<id>` rows of type approval.request, then
#: approval.resolved once answered or expired).
_REQUEST_ROW: Final = {
    RequestKind.APPROVAL: ("approval", "approval", "Approval", "approval"),
    RequestKind.USER_INPUT: ("tool-input", "tool_input", "Tool input", "tool-input"),
    RequestKind.TOOL_CALL: ("tool-call", "tool_call", "Tool call", "tool-call"),
}


def request_row(request: InteractiveRequest) -> dict[str, Any]:
    """The row of an interactive request: `<kind>.request` while it waits, `<kind>.resolved`
    once answered, expired or invalidated (one row, by messageId, as in the original)."""
    view = request_view(request)
    prefix, kind, noun, turn = _REQUEST_ROW[request.kind]
    if request.status.open:
        label, content = f"{kind}.request", view["summary"]
    else:
        resolution = dict(request.resolution or {})
        outcome = resolution.get("decision")
        if outcome is None and "success" in resolution:
            outcome = "success" if resolution["success"] else "failure"
        label = f"{kind}.resolved"
        content = f"{noun} {request.status.value}" + (f" ({outcome})" if outcome else "")
    return _wire(
        {
            "messageId": f"{prefix}-{request.request_id}",
            "turnId": request.turn_id or turn,
            "role": "system",
            "type": label,
            "content": content,
            "details": details_text(
                {**view, "status": request.status.value, "resolution": request.resolution}
            ),
            "status": "complete",
            "startedAt": epoch_ms(request.created_at),
            "completedAt": epoch_ms(request.resolved_at),
            "anchorItemId": request.item_id,
            "source": "manager",
        }
    )


def _richer(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Of two rows for the same message, the one that says more wins."""

    def rank(row: dict[str, Any]) -> tuple[int, int, int]:
        return (
            _STATUS_RANK.get(row.get("status") or "", 0),
            len(str(row.get("details") or "")),
            len(str(row.get("content") or "")),
        )

    return a if rank(a) >= rank(b) else b


def merge_rows(runtime: list[dict[str, Any]], extra: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Runtime rows in order; each extra row replaces its twin (same turn and message id,
    if richer), else goes right after its anchor item, else before the last assistant row
    of its turn; rows of turns the runtime does not know come last, by time."""
    merged = list(runtime)
    index = {(row["turnId"], row["messageId"]): i for i, row in enumerate(merged)}
    orphans: list[dict[str, Any]] = []
    for row in extra:
        key = (row["turnId"], row["messageId"])
        if key in index:
            merged[index[key]] = _richer(merged[index[key]], row)
            continue
        turn_rows = [i for i, r in enumerate(merged) if r["turnId"] == row["turnId"]]
        if not turn_rows:
            orphans.append(row)
            continue
        position = None
        anchor = row.get("anchorItemId")
        if anchor:
            for i in turn_rows:
                if merged[i]["messageId"] == anchor:
                    position = i + 1
        if position is None:
            assistants = [i for i in turn_rows if merged[i]["role"] == "assistant"]
            position = assistants[-1] if assistants else turn_rows[-1] + 1
        merged.insert(position, row)
        index = {(r["turnId"], r["messageId"]): i for i, r in enumerate(merged)}
    orphans.sort(key=lambda row: row.get("startedAt") or 0)
    return merged + orphans


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith("o:"):
            raise ValueError(raw)
        offset = int(raw[2:])
        # b64decode skips stray characters and int() takes "+1" or "1_0": only our own
        # encoding of the offset is a valid cursor.
        if offset < 0 or encode_cursor(offset) != cursor:
            raise ValueError(raw)
        return offset
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidInput(
            f"cursor {cursor!r} is not valid; use the nextCursor of a previous page",
            issues=[{"path": ["cursor"], "message": "invalid cursor"}],
        ) from exc


class TranscriptService:
    """A session's transcript: the runtime's turns merged with our own entries
    (`manager.transcript`)."""

    def __init__(self, ctx: ServiceContext, session_threads: SessionThreads) -> None:
        self._ctx = ctx
        self._records = ctx.records
        self._session_threads = session_threads

    async def get(
        self,
        session_id: str,
        *,
        cursor: str | None = None,
        limit: int | None = DEFAULT_LIMIT,
        thread: Mapping[str, Any] | None = None,
    ) -> TranscriptPage:
        """The session's transcript, oldest first, `limit` rows from `cursor` (None: all).
        `thread`: the session's thread as `read_thread` returned it (with turns), when the
        caller has read it already (saves reading it again)."""
        await self._records.get(session_id)
        if limit is not None and (
            not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT
        ):
            raise InvalidInput(
                f"limit must be an integer from 1 to {MAX_LIMIT}",
                issues=[{"path": ["limit"], "message": "out of range"}],
            )
        offset = decode_cursor(cursor) if cursor else 0
        rows = await self._transcript_rows(session_id, thread)
        end = len(rows) if limit is None else offset + limit
        page = rows[offset:end]
        return TranscriptPage(
            tuple(page), encode_cursor(end) if end < len(rows) else None, len(rows)
        )

    async def _transcript_rows(
        self, session_id: str, thread: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        if thread is None:
            record = await self._records.get(session_id)
            thread = await self._session_threads.read(record, include_turns=True)
        turns = thread.get("turns") if isinstance(thread, Mapping) else None
        runtime = turns_to_rows(turns or [])
        extra = [entry_row(e) for e in await self._ctx.store.list_transcript_entries(session_id)]
        requests = await self._ctx.store.list_requests(RequestQuery(thread_id=session_id))
        extra.extend(request_row(r) for r in requests)
        return merge_rows(runtime, extra)

    async def upsert(self, session_id: str, entry: Mapping[str, Any]) -> TranscriptEntry:
        """Insert or replace one supplemental row (by messageId) and announce it
        (`transcript_updated`)."""
        await self._records.get(session_id)
        record = parse_entry(entry)
        await self._ctx.write(
            [PutTranscriptEntry(session_id, record)],
            [
                self._ctx.event(
                    "transcript_updated",
                    session_id,
                    {
                        "threadId": session_id,
                        "turnId": record.turn_id,
                        "messageId": record.message_id,
                        "type": record.type,
                        "entry": entry_row(record),
                    },
                )
            ],
        )
        return record


def parse_entry(entry: Mapping[str, Any]) -> TranscriptEntry:
    """A TranscriptEntry from its JSON form, checked field by field."""
    if not isinstance(entry, Mapping):
        raise InvalidInput(
            "entry must be an object", issues=[{"path": [], "message": "not an object"}]
        )
    issues = []

    def text(name: str, required: bool = True, limit: int = 500) -> Any:
        value = entry.get(name)
        if value is None and not required:
            return None
        if not isinstance(value, str) or (required and not value) or len(value) > limit:
            issues.append({"path": [name], "message": f"must be a string of 1-{limit} characters"})
        return value

    def time(name: str) -> datetime | None:
        value = entry.get(name)
        if value is None:
            return None
        try:
            if isinstance(value, int | float) and not isinstance(value, bool):
                # The original's form: epoch milliseconds.
                return datetime.fromtimestamp(value / 1000, UTC)
            return parse_iso(str(value))
        except (ValueError, OverflowError, OSError):
            issues.append(
                {"path": [name], "message": "must be an ISO-8601 time or epoch milliseconds"}
            )
            return None

    message_id, turn_id, kind = text("messageId"), text("turnId"), text("type")
    content = text("content", limit=MAX_ENTRY_CONTENT)
    role = entry.get("role")
    if role not in ROLES:
        issues.append({"path": ["role"], "message": f"must be one of {list(ROLES)}"})
    status = entry.get("status", "complete")
    if status not in STATUSES:
        issues.append({"path": ["status"], "message": f"must be one of {list(STATUSES)}"})
    anchor = text("anchorItemId", required=False)
    if anchor is None:
        anchor = _anchor_in_details(entry.get("details"))
    started, completed = time("startedAt"), time("completedAt")
    if issues:
        raise InvalidInput(
            "invalid transcript entry: "
            + "; ".join(f"{'.'.join(map(str, i['path']))}: {i['message']}" for i in issues),
            issues=issues,
        )
    return TranscriptEntry(
        message_id=message_id,
        turn_id=turn_id,
        role=role,  # type: ignore[arg-type]  # checked against ROLES above
        type=kind,
        content=content,
        status=status,
        details=entry.get("details"),
        started_at=started,
        completed_at=completed,
        anchor_item_id=anchor,
    )


def _anchor_in_details(details: Any) -> str | None:
    """The original's clients put `anchorItemId` inside the `details` JSON text."""
    if isinstance(details, str) and details.strip():
        try:
            details = json.loads(details)
        except ValueError:
            return None
    anchor = details.get("anchorItemId") if isinstance(details, Mapping) else None
    return anchor.strip() if isinstance(anchor, str) and anchor.strip() else None
