"""The vocabulary of actions: what is asked (`ActionRequest`), where it may act
(`ActionScope`), and what came of it (`ActionResult`, `ActionStatus`). Plain frozen values,
so an executor, a worker's tool call and an extension all speak the same words."""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Any

import attrs

from codex_manager_core.models import JsonObject, JsonValue


@attrs.frozen
class ActionScope:
    """What an action may touch: the job (or extension call) it runs for. A field that is
    None does not restrict, but an action that needs it (a session) is then forbidden."""

    owner: str | None = None
    """The queue owner the action acts for: a project id or `session:<id>`."""
    project_id: str | None = None
    session_id: str | None = None
    turn_id: str | None = None

    def to_json(self) -> dict[str, str | None]:
        return {
            "owner": self.owner,
            "projectId": self.project_id,
            "sessionId": self.session_id,
            "turnId": self.turn_id,
        }


@attrs.frozen
class ActionRequest:
    kind: str
    payload: JsonObject
    idempotency_key: str | None = None

    def fingerprint(self, scope: ActionScope) -> str:
        """A hash of (kind, payload, scope): what makes two requests with one key "the
        same" (keys are sorted, so JSON key order does not matter)."""
        text = json.dumps(
            [self.kind, self.payload, scope.to_json()],
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            default=str,
        )
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ActionStatus(StrEnum):
    PERFORMED = "performed"
    ALREADY_PERFORMED = "already_performed"
    """The idempotency key was seen with the same request: the stored result, not acted."""
    FORBIDDEN = "forbidden"
    """Outside the scope; the error names what was outside."""
    INVALID = "invalid"
    """An unknown kind or a payload that does not fit; the error names the field."""
    FAILED = "failed"
    """Allowed and well formed, but the service refused or failed (not found, runtime)."""
    CONFLICT = "conflict"
    """The idempotency key was seen with a different request (idempotency_conflict)."""


@attrs.frozen
class ActionResult:
    kind: str
    status: ActionStatus
    result: JsonValue = None
    error: str | None = None
    idempotency_key: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in (ActionStatus.PERFORMED, ActionStatus.ALREADY_PERFORMED)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "status": self.status.value,
            "result": self.result,
            "error": self.error,
            "idempotencyKey": self.idempotency_key,
        }

    @classmethod
    def from_json(cls, data: JsonObject) -> ActionResult:
        return cls(
            kind=str(data.get("kind")),
            status=ActionStatus(str(data.get("status"))),
            result=data.get("result"),
            error=data.get("error") if isinstance(data.get("error"), str) else None,
            idempotency_key=(
                data.get("idempotencyKey") if isinstance(data.get("idempotencyKey"), str) else None
            ),
        )


__all__ = ["ActionRequest", "ActionResult", "ActionScope", "ActionStatus"]
