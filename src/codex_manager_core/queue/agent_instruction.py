"""The `agent_instruction` job type's vocabulary: its payload, its result, how it dedupes.

`agent_instruction` is the queue's workhorse, as in the original: run one instruction turn
on a hidden worker session of an agent and do something with the answer (nothing, keep its
text, or execute the actions it asks for). The payload keeps the original's field names
(camelCase on the wire: `instructionText`, `expectResponse`, ...), so jobs enqueued by its
clients and extensions fit. What runs it is `services/agent_jobs.py`; this module is the
pure part, checked without a runtime.
"""

from __future__ import annotations

import enum
from typing import Final

import attrs

from codex_manager_core.models import JsonObject
from codex_manager_core.queue.definitions import field_problem
from codex_manager_core.queue.model import session_owner

AGENT_INSTRUCTION: Final = "agent_instruction"
MAX_TARGETS: Final = 8
MAX_INSTRUCTION_CHARS: Final = 64_000


class ResponseMode(enum.StrEnum):
    """What the job does with the worker's answer."""

    NONE = "none"
    """Nothing: the worker acts through its dynamic tools during the turn."""
    ASSISTANT_TEXT = "assistant_text"
    """Keep the answer's text: streamed into a transcript row and progress, and the result."""
    ACTION_INTENTS = "action_intents"
    """The answer is `{"kind": "action_intents", "intents": [...]}`; the core executes each."""


@attrs.frozen
class BootstrapInstruction:
    """An extension's own orientation, run once per worker session (by `key`)."""

    key: str
    instruction_text: str


@attrs.frozen
class CompletionSignal:
    """Where the answer goes besides the result: `suggested_request` writes it as the
    suggestion `request_key` of the source session."""

    kind: str
    request_key: str


@attrs.frozen
class SupplementalTarget:
    """A transcript row of the source session the job fills: a placeholder while it runs,
    the answer (or the fallback text matching how the job ended) afterwards."""

    message_id: str
    type: str
    placeholder_texts: tuple[str, ...] = ()
    complete_fallback: str | None = None
    error_fallback: str | None = None
    canceled_fallback: str | None = None


def _text_problem(value: str) -> str | None:
    if not value.strip():
        return "must not be empty"
    if len(value) > MAX_INSTRUCTION_CHARS:
        return f"is longer than {MAX_INSTRUCTION_CHARS} characters"
    return None


def _targets_problem(value: tuple[SupplementalTarget, ...]) -> str | None:
    if len(value) > MAX_TARGETS:
        return f"at most {MAX_TARGETS} supplemental targets, got {len(value)}"
    return None


@attrs.frozen
class AgentInstruction:
    """The payload of an `agent_instruction` job (the original's fields)."""

    agent: str
    job_kind: str
    instruction_text: str = attrs.field(validator=field_problem(_text_problem))
    project_id: str | None = None
    source_session_id: str | None = None
    thread_id: str | None = None
    """The source thread (the user session the job is about)."""
    turn_id: str | None = None
    item_id: str | None = None
    approval_id: str | None = None
    anchor_item_id: str | None = None
    dedupe_key: str | None = None
    bootstrap_instruction: BootstrapInstruction | None = None
    model: str | None = None
    effort: str | None = None
    fallback_suggestion_draft: str | None = None
    expect_response: ResponseMode = ResponseMode.NONE
    supplemental_targets: tuple[SupplementalTarget, ...] = attrs.field(
        default=(), validator=field_problem(_targets_problem)
    )
    completion_signal: CompletionSignal | None = None

    @property
    def owner(self) -> str | None:
        """The owner its jobs run under: its project, or its source session."""
        if self.project_id:
            return self.project_id
        if self.source_session_id:
            return session_owner(self.source_session_id)
        return None

    @property
    def source_session(self) -> str | None:
        return self.source_session_id or self.thread_id


@attrs.frozen
class AgentInstructionResult:
    worker_session_id: str
    turn_id: str
    status: str
    """How the instruction turn ended (completed, interrupted)."""
    text: str | None = None
    """The worker's answer (assistant_text and action_intents)."""
    actions: tuple[JsonObject, ...] = ()
    """What each intent did (action_intents): kind, status, result, error."""


def dedupe_key(payload: AgentInstruction) -> str:
    """The original's: `<owner>:<dedupeKey>`, else `<owner>:<thread>:<turn>:<jobKind>`."""
    owner = payload.owner or "-"
    if payload.dedupe_key:
        return f"{owner}:{payload.dedupe_key}"
    return f"{owner}:{payload.thread_id or '-'}:{payload.turn_id or '-'}:{payload.job_kind}"


def output_message_id(job_id: str) -> str:
    """The transcript row an `assistant_text` answer streams into."""
    return f"agent-job-output::{job_id}"


__all__ = [
    "AGENT_INSTRUCTION",
    "AgentInstruction",
    "AgentInstructionResult",
    "BootstrapInstruction",
    "CompletionSignal",
    "ResponseMode",
    "SupplementalTarget",
    "dedupe_key",
    "output_message_id",
]
