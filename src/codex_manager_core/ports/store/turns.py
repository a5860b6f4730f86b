"""Store domain "turns": what the manager records of each turn it started or saw. Its
mutations and reads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, TypeAlias

import attrs

from codex_manager_core.models import TurnRecord


@attrs.frozen
class PutTurn:
    turn: TurnRecord


@attrs.frozen
class PatchTurn:
    """As PatchSession, for `TurnRecord` fields (`turn_id` cannot change)."""

    turn_id: str
    changes: Mapping[str, Any]


TurnMutation: TypeAlias = PutTurn | PatchTurn


class TurnReads(Protocol):
    async def get_turn(self, turn_id: str) -> TurnRecord | None: ...

    async def list_turns(self, thread_id: str) -> list[TurnRecord]:
        """Oldest (started_at) first; ties in insertion order."""
        ...


__all__ = ["PatchTurn", "PutTurn", "TurnMutation", "TurnReads"]
