"""The protocol of `manager.suggestions`: suggested next requests (docs/queue.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from codex_manager_core.api.server import SuggestionsServerApi

if TYPE_CHECKING:
    from codex_manager_core.services.suggestion_state import SuggestionState


class SuggestionsApi(SuggestionsServerApi, Protocol):
    """`manager.suggestions`. The built-in handler (`handler`, embedded only) enqueues an
    `agent_instruction` job; a remote client asks the server, whose handler runs."""

    def get(self, session_id: str, request_key: str) -> SuggestionState | None: ...
