"""SqliteStore, domain "actions": the `action_receipts` table (migration 7). A receipt is
only ever inserted; a second one for a key fails its batch with StoreConflict."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import apsw

from codex_manager_core.ports.store.actions import ActionReceipt, PutActionReceipt
from codex_manager_core.ports.store.errors import StoreConflict
from codex_manager_core.store import codec
from codex_manager_core.store.sqlite.sql import Op, one


def compile_put(mutation: PutActionReceipt) -> Op:
    receipt = mutation.receipt
    key = codec.check_str(receipt.key, "action_receipt.key")
    params = (
        key,
        codec.check_str(receipt.fingerprint, "action_receipt.fingerprint"),
        codec.dump_json(dict(receipt.result), "action_receipt.result"),
        codec.enc_dt(receipt.created_at, "action_receipt.created_at"),
    )

    def op(conn: apsw.Connection) -> None:
        existing = one(conn, "SELECT fingerprint FROM action_receipts WHERE key = ?", (key,))
        if existing is not None:
            raise StoreConflict(f"action receipt {key}", "present", ["missing"])
        conn.execute(
            "INSERT INTO action_receipts (key, fingerprint, result, created_at) "
            "VALUES (?, ?, ?, ?)",
            params,
        )

    return op


COMPILERS: Mapping[type, Callable[[Any], Op]] = {PutActionReceipt: compile_put}


def decode(row: Any) -> ActionReceipt:
    key, fingerprint, result, created_at = row
    return ActionReceipt(
        key=str(key),
        fingerprint=str(fingerprint),
        result=codec.load_json_or_none(result) or {},
        created_at=codec.dec_dt(created_at),
    )


def get_action_receipt(conn: apsw.Connection, key: str) -> ActionReceipt | None:
    row = one(
        conn,
        "SELECT key, fingerprint, result, created_at FROM action_receipts WHERE key = ?",
        (key,),
    )
    return None if row is None else decode(row)


__all__ = ["COMPILERS", "decode", "get_action_receipt"]
