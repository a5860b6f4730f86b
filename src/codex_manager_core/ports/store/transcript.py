"""Store domain "transcript": the entries the manager keeps of each thread's conversation
(user messages it sent, notices), beside what app-server holds. Its mutation and read."""

from __future__ import annotations

from typing import Protocol, TypeAlias

import attrs

from codex_manager_core.models import TranscriptEntry


@attrs.frozen
class PutTranscriptEntry:
    """Insert or replace by (thread_id, entry.message_id)."""

    thread_id: str
    entry: TranscriptEntry


TranscriptMutation: TypeAlias = PutTranscriptEntry


class TranscriptReads(Protocol):
    async def list_transcript_entries(self, thread_id: str) -> list[TranscriptEntry]:
        """In insertion order (a replaced entry keeps its first position)."""
        ...


__all__ = ["PutTranscriptEntry", "TranscriptMutation", "TranscriptReads"]
