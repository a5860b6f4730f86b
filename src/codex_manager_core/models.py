"""The public data model of the manager: attrs classes, frozen, JSON-friendly.

Timestamps are timezone-aware UTC `datetime`s; `codex_manager_core.serde` turns every model
into the JSON the HTTP API sends (camelCase keys, ISO-8601 times).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal, TypeAlias

import attrs

JsonObject: TypeAlias = Mapping[str, Any]
#: A JSON document as the runtime sends it (what its pass-through calls return).
JsonValue: TypeAlias = "dict[str, JsonValue] | list[JsonValue] | str | int | float | bool | None"


def utcnow() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------------- controls

ApprovalPolicy: TypeAlias = Literal["untrusted", "on-failure", "on-request", "never"]
NetworkAccess: TypeAlias = Literal["restricted", "enabled"]
FilesystemSandbox: TypeAlias = Literal["read-only", "workspace-write", "danger-full-access"]

#: An answer to an approval: the current names, then the legacy ones (same meaning).
ApprovalDecision: TypeAlias = Literal[
    "accept",
    "acceptForSession",
    "decline",
    "cancel",
    "approved",
    "approved_for_session",
    "denied",
    "abort",
]

APPROVAL_POLICIES: tuple[str, ...] = ("untrusted", "on-failure", "on-request", "never")
NETWORK_ACCESS_VALUES: tuple[str, ...] = ("restricted", "enabled")
FILESYSTEM_SANDBOXES: tuple[str, ...] = ("read-only", "workspace-write", "danger-full-access")


@attrs.frozen
class Controls:
    """The controls tuple of a session (or the defaults for new sessions): which model,
    when to ask for approval, and the sandbox. `settings` is a free-form JSON object shared
    by the UI, the CLI and extensions, addressed by top-level key."""

    model: str | None = None
    approval_policy: ApprovalPolicy = "on-request"
    network_access: NetworkAccess = "restricted"
    filesystem_sandbox: FilesystemSandbox = "read-only"
    settings: JsonObject = attrs.field(factory=dict)


# ---------------------------------------------------------------------- projects


@attrs.frozen
class Project:
    project_id: str
    name: str
    working_directory: str | None
    created_at: datetime
    updated_at: datetime


# ---------------------------------------------------------------------- sessions


class TitleSource(enum.StrEnum):
    DEFAULT = "default"
    """Our placeholder ("New chat")."""
    USER = "user"
    """Set by a person or a program through the manager; wins over the runtime's."""
    RUNTIME = "runtime"
    """Reported by app-server (`thread/name/updated`)."""


@attrs.frozen
class SessionRecord:
    """A session is a codex thread (`session_id` is the thread id) plus our overlay."""

    session_id: str
    title: str
    title_source: TitleSource
    cwd: str | None
    project_id: str | None
    archived: bool
    system_owned: bool
    materialized: bool
    """False until the thread has a rollout on disk (its first turn started)."""
    status: str
    """The runtime's thread status type: idle, active, notLoaded, systemError."""
    model: str | None
    preview: str
    """The first user message, shortened."""
    created_at: datetime
    updated_at: datetime
    controls: Controls
    active_turn_id: str | None = None
    last_turn_id: str | None = None
    dynamic_tools: tuple[JsonObject, ...] = ()
    """The dynamic tools declared on thread/start (re-declared on thread/resume)."""
    runtime_thread_id: str | None = None
    """The runtime's thread when it is not `session_id` (None: the same id). A thread lost
    before its first turn is started anew for the session (see `thread_ids`)."""
    model_provider: str | None = None
    """The runtime's model provider of the thread (`modelProvider` of thread/start or
    thread/fork), e.g. "openai" or a configured one; None if it never said."""

    @property
    def runtime_thread(self) -> str:
        """The id of the runtime thread behind this session."""
        return self.runtime_thread_id or self.session_id


@attrs.frozen
class AgentSession:
    """A system-owned (worker) session of an owner, with the agent it is the worker of
    (None: a system-owned session no worker mapping names, e.g. one made directly with
    `sessions.create(system_owned=True)`)."""

    session_id: str
    agent: str | None
    session: SessionRecord


@attrs.frozen
class Tombstone:
    """What stays of a hard-deleted session, so later calls answer Gone, not NotFound."""

    session_id: str
    title: str
    deleted_at: datetime


class TurnStatus(enum.StrEnum):
    IN_PROGRESS = "inProgress"
    COMPLETED = "completed"
    INTERRUPTED = "interrupted"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self is not TurnStatus.IN_PROGRESS


@attrs.frozen
class TurnRecord:
    turn_id: str
    thread_id: str
    status: TurnStatus
    started_at: datetime
    completed_at: datetime | None = None
    final_text: str | None = None
    """The text of the turn's last agent message, once the turn ended."""
    error: str | None = None


# ---------------------------------------------------------------------- interactive requests


class RequestKind(enum.StrEnum):
    APPROVAL = "approval"
    USER_INPUT = "user_input"
    TOOL_CALL = "tool_call"


class RequestStatus(enum.StrEnum):
    PENDING = "pending"
    RESOLVING = "resolving"
    """An answer is being sent to the runtime right now (a second answer is 'in flight')."""
    RESOLVED = "resolved"
    EXPIRED = "expired"
    INVALIDATED = "invalidated"

    @property
    def open(self) -> bool:
        return self in (RequestStatus.PENDING, RequestStatus.RESOLVING)


@attrs.frozen
class InteractiveRequest:
    """A server request from the runtime that waits for an answer: an approval, a question
    for the user, or a dynamic tool call. Durable; exactly one answer wins."""

    request_id: str
    """Ours, unique across runtime restarts: "<generation>-<rpc id>"."""
    kind: RequestKind
    method: str
    generation: int
    """The durable number of the runtime process that asked (see Store meta 'generation')."""
    rpc_id: int | str
    thread_id: str | None
    turn_id: str | None
    item_id: str | None
    params: JsonObject
    status: RequestStatus
    created_at: datetime
    resolved_at: datetime | None = None
    resolution: JsonObject | None = None
    """What was answered (decision, answers or tool result) and by whom."""
    reason: str | None = None
    """Why it expired or was invalidated, or who resolved it."""
    expires_at: datetime | None = None


# ---------------------------------------------------------------------- transcript


@attrs.frozen
class TranscriptEntry:
    """One row of a session's transcript: a message, an item, or a supplemental note
    (approval, tool call, controls audit) written by the manager or an extension."""

    message_id: str
    turn_id: str
    role: Literal["user", "assistant", "system"]
    type: str
    content: str
    status: Literal["streaming", "complete", "canceled", "error"] = "complete"
    details: Any = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    anchor_item_id: str | None = None


# ---------------------------------------------------------------------- events


@attrs.frozen
class EventDraft:
    """An event before the ledger gave it its `seq`."""

    type: str
    thread_id: str | None
    payload: Any
    at: datetime = attrs.field(factory=utcnow)
    item_id: str | None = None
    """Set on streaming deltas, so retention can drop them once the item completed."""
    delta: bool = False
    system: bool = False
    """Belongs to a system-owned session: only delivered to subscribers of that thread."""


@attrs.frozen
class Event:
    """One entry of the durable, ordered event ledger. `seq` is global and gap-free."""

    seq: int
    type: str
    thread_id: str | None
    payload: Any
    at: datetime
    item_id: str | None = None
    delta: bool = False
    system: bool = False


@attrs.frozen
class Lagged:
    """Yielded by a subscription that fell behind; resubscribe with `since=seq`."""

    seq: int


# ---------------------------------------------------------------------- results


@attrs.frozen
class SettingValue:
    """One top-level key of a settings document (`settings.get_key`)."""

    key: str
    found: bool
    value: Any
    """The value (None when not found)."""


@attrs.frozen
class ProjectSessionsMoved:
    """What `projects.move_sessions` did."""

    project_id: str
    destination: Literal["unassigned", "archive"]
    moved: int
    """Sessions taken out of the project."""
    archived: int
    """Of those, how many this call archived (the others were archived already)."""


@attrs.frozen
class ProjectSessionsDeleted:
    """What `projects.delete_sessions` did."""

    project_id: str
    deleted: int
    skipped: int
    """Sessions that could not be deleted (each is logged with its reason)."""
