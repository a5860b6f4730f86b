"""The protocol of `manager.suggestions`: suggested next requests (docs/queue.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from codex_manager_core.services.suggestion_state import SuggestionState, SuggestionStatus
    from codex_manager_core.services.suggestions import SuggestionJob, SuggestionOutcome


class SuggestionsApi(Protocol):
    """`manager.suggestions`. The built-in handler (`handler`, embedded only) enqueues an
    `agent_instruction` job; a remote client asks the server, whose handler runs."""

    def get(self, session_id: str, request_key: str) -> SuggestionState | None: ...

    async def upsert(
        self,
        session_id: str,
        request_key: str,
        status: SuggestionStatus | str,
        suggestion: str | None = None,
        error: str | None = None,
    ) -> SuggestionState:
        """Write a suggestion's state; a terminal one never regresses to streaming."""
        ...

    async def enqueue(
        self,
        session_id: str,
        *,
        model: str | None = None,
        effort: str | None = None,
        draft: str | None = None,
    ) -> SuggestionJob:
        """Enqueue the job that writes a suggestion (or join the live one)."""
        ...

    async def request(
        self,
        session_id: str,
        *,
        model: str | None = None,
        effort: str | None = None,
        draft: str | None = None,
        wait: float | None = None,
    ) -> SuggestionOutcome:
        """Enqueue, then wait for the suggestion: ok, fallback past the deadline, or queued."""
        ...
