"""SqliteStore, domain "transcript": the `transcript` table, keyed by (thread_id,
message_id); the thread id is a column of the row, not a field of the entry."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import apsw

from codex_manager_core.models import TranscriptEntry
from codex_manager_core.ports.store.transcript import PutTranscriptEntry
from codex_manager_core.store.codec import TRANSCRIPT, Row, check_str
from codex_manager_core.store.sqlite.sql import Op, execute, select, upsert

TRANSCRIPT_COLUMNS = ("thread_id", *TRANSCRIPT.columns)
UPSERT_TRANSCRIPT = upsert("transcript", TRANSCRIPT_COLUMNS, ["thread_id", "message_id"])
TRANSCRIPT_SELECT = select("transcript", TRANSCRIPT.columns)


def encode(thread_id: str, entry: TranscriptEntry) -> Row:
    return (check_str(thread_id, "transcript.thread_id"), *TRANSCRIPT.encode(entry))


def compile_put(mutation: PutTranscriptEntry) -> Op:
    return execute(UPSERT_TRANSCRIPT, encode(mutation.thread_id, mutation.entry))


COMPILERS: Mapping[type, Callable[[Any], Op]] = {PutTranscriptEntry: compile_put}


def list_transcript_entries(conn: apsw.Connection, thread_id: str) -> list[TranscriptEntry]:
    sql = f"{TRANSCRIPT_SELECT} WHERE thread_id = ? ORDER BY rowid"
    return [TRANSCRIPT.decode(row) for row in conn.execute(sql, (thread_id,)).fetchall()]
