"""SqliteStore, domain "turns": the `turns` table."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import apsw

from codex_manager_core.models import TurnRecord
from codex_manager_core.ports.store.turns import PatchTurn, PutTurn
from codex_manager_core.store.codec import TURNS
from codex_manager_core.store.sqlite.sql import Op, execute, one, select, update, upsert

UPSERT_TURN = upsert("turns", TURNS.columns, ["turn_id"])
TURN_SELECT = select("turns", TURNS.columns)


def compile_put(mutation: PutTurn) -> Op:
    return execute(UPSERT_TURN, TURNS.encode(mutation.turn))


def compile_patch(mutation: PatchTurn) -> Op:
    encoded = TURNS.encode_changes(mutation.changes, ("turn_id",))
    return update("turns", "turn_id", mutation.turn_id, encoded)


COMPILERS: Mapping[type, Callable[[Any], Op]] = {PutTurn: compile_put, PatchTurn: compile_patch}


def get_turn(conn: apsw.Connection, turn_id: str) -> TurnRecord | None:
    row = one(conn, f"{TURN_SELECT} WHERE turn_id = ?", (turn_id,))
    return None if row is None else TURNS.decode(row)


def list_turns(conn: apsw.Connection, thread_id: str) -> list[TurnRecord]:
    sql = f"{TURN_SELECT} WHERE thread_id = ? ORDER BY started_at, rowid"
    return [TURNS.decode(row) for row in conn.execute(sql, (thread_id,)).fetchall()]
