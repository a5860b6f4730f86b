"""The row encoding of extension audit records, shared by the SQLite adapter and the
memory adapter (which round-trips through it, so both read back the same values)."""

from __future__ import annotations

from typing import Any

from codex_manager_core.ports.store.extension_audit import AuditRecord
from codex_manager_core.store import codec

COLUMNS = (
    "reload_id, recorded_at, actor_role, actor_id, result, trust_mode, request_origin, "
    "snapshot_before, snapshot_after, error_summary, impacted_extensions"
)


def _optional_str(value: Any, what: str) -> str | None:
    return None if value is None else codec.check_str(value, what)


def encode(record: AuditRecord) -> tuple[Any, ...]:
    return (
        codec.check_str(record.reload_id, "audit.reload_id"),
        codec.enc_dt(record.recorded_at, "audit.recorded_at"),
        codec.check_str(record.actor_role, "audit.actor_role"),
        codec.check_str(record.actor_id, "audit.actor_id"),
        codec.check_str(record.result, "audit.result"),
        codec.check_str(record.trust_mode, "audit.trust_mode"),
        codec.dump_json(dict(record.request_origin), "audit.request_origin"),
        _optional_str(record.snapshot_before, "audit.snapshot_before"),
        _optional_str(record.snapshot_after, "audit.snapshot_after"),
        _optional_str(record.error_summary, "audit.error_summary"),
        codec.dump_json(
            [
                codec.check_str(name, "audit.impacted_extensions")
                for name in record.impacted_extensions
            ],
            "audit.impacted_extensions",
        ),
    )


def decode(row: Any) -> AuditRecord:
    (
        reload_id,
        recorded_at,
        actor_role,
        actor_id,
        result,
        trust_mode,
        request_origin,
        snapshot_before,
        snapshot_after,
        error_summary,
        impacted,
    ) = row
    return AuditRecord(
        reload_id=str(reload_id),
        recorded_at=codec.dec_dt(recorded_at),
        actor_role=str(actor_role),
        actor_id=str(actor_id),
        result=str(result),
        trust_mode=str(trust_mode),
        request_origin=codec.load_json_or_none(request_origin) or {},
        snapshot_before=snapshot_before,
        snapshot_after=snapshot_after,
        error_summary=error_summary,
        impacted_extensions=tuple(codec.load_json_or_none(impacted) or ()),
    )


__all__ = ["COLUMNS", "decode", "encode"]
