"""The dynamic tools the core gives worker (system-owned) sessions, so a worker acts in
process, through the one `ActionExecutor`, never by shelling out to a CLI.

Each tool is an action kind with the worker's job as its scope: `set_scope_resolver` tells
which job runs on a worker thread (the queue sets it), and a call with no job running is
refused. The scope is the job's, never the model's: a `sessionId` left out is the job's
session, and one outside it is forbidden by the executor. `services/request_intake.py`
routes a system-owned session's call of one of these tools to `answer`."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from codex_manager_core.actions.executor import ActionExecutor
from codex_manager_core.actions.model import ActionRequest, ActionScope
from codex_manager_core.models import JsonObject

ScopeResolver = Callable[[str], ActionScope | None]

_KEY_SCHEMA = {
    "type": "string",
    "description": "Optional. The same key again returns the first result instead of acting twice.",
}
_SESSION = {"type": "string", "description": "The job's session (the default)."}

#: tool name -> (action kind, description, properties, required, fills sessionId)
_TOOLS: dict[str, tuple[str, str, dict[str, Any], list[str], bool]] = {
    "transcript_upsert": (
        "transcript.upsert",
        "Insert or replace a supplemental transcript row (by messageId) in the job's session.",
        {
            "sessionId": _SESSION,
            "messageId": {"type": "string"},
            "turnId": {"type": "string"},
            "role": {"type": "string", "enum": ["user", "assistant", "system"]},
            "type": {"type": "string"},
            "content": {"type": "string"},
            "status": {"type": "string", "enum": ["streaming", "complete", "canceled", "error"]},
            "details": {"type": "string"},
            "anchorItemId": {"type": "string"},
        },
        ["messageId", "turnId", "role", "type", "content"],
        True,
    ),
    "approval_decide": (
        "approval.decide",
        "Decide a pending approval of the job's session (and turn).",
        {
            "approvalId": {"type": "string"},
            "decision": {"type": "string", "enum": ["accept", "acceptForSession", "decline"]},
            "scope": {"type": "string", "enum": ["turn", "session"]},
        },
        ["approvalId", "decision"],
        False,
    ),
    "turn_steer": (
        "turn.steer.create",
        "Add input to the running turn of the job's session.",
        {"sessionId": _SESSION, "turnId": {"type": "string"}, "text": {"type": "string"}},
        ["text"],
        True,
    ),
    "queue_enqueue": (
        "queue.enqueue",
        "Enqueue a job for the job's owner.",
        {
            "type": {"type": "string"},
            "payload": {"type": "object"},
            "priority": {"type": "string", "enum": ["interactive", "background"]},
        },
        ["type", "payload"],
        False,
    ),
    "session_rename": (
        "session.rename",
        "Rename the job's session.",
        {"sessionId": _SESSION, "title": {"type": "string"}},
        ["title"],
        True,
    ),
}


def _response(success: bool, text: str) -> JsonObject:
    return {"success": success, "contentItems": [{"type": "inputText", "text": text}]}


class WorkerTools:
    """The worker tools over one executor (see the module docstring)."""

    names: frozenset[str] = frozenset(_TOOLS)

    def __init__(self, executor: ActionExecutor) -> None:
        self._executor = executor
        self._resolve: ScopeResolver = lambda _thread_id: None

    def set_scope_resolver(self, resolver: ScopeResolver) -> None:
        """`resolver(thread_id)`: the scope of the job running on that worker thread, or
        None when no job runs there."""
        self._resolve = resolver

    def specs(self) -> list[dict[str, Any]]:
        """The `dynamicTools` entries for `thread/start` of a worker session."""
        specs = []
        for name, (_kind, description, properties, required, _fills) in _TOOLS.items():
            schema = {
                "type": "object",
                "properties": {**properties, "idempotencyKey": _KEY_SCHEMA},
                "required": list(required),
                "additionalProperties": True,
            }
            specs.append(
                {
                    "type": "function",
                    "name": name,
                    "description": description,
                    "inputSchema": json.loads(json.dumps(schema)),
                }
            )
        return specs

    async def answer(self, thread_id: str, tool: str, arguments: Any) -> JsonObject:
        """The `item/tool/call` response for the worker `thread_id` calling `tool`."""
        entry = _TOOLS.get(tool)
        if entry is None:
            return _response(False, f"unknown worker tool {tool!r}; tools: {sorted(_TOOLS)}")
        kind, _description, _properties, _required, fills_session = entry
        scope = self._resolve(thread_id)
        if scope is None:
            return _response(False, "no job is running on this worker; the tool call is refused")
        if not isinstance(arguments, Mapping):
            return _response(False, "the arguments must be a JSON object")
        payload = dict(arguments)
        key = payload.pop("idempotencyKey", None)
        if fills_session and "sessionId" not in payload and scope.session_id is not None:
            payload["sessionId"] = scope.session_id
        result = await self._executor.execute(
            ActionRequest(kind, payload, key), scope, actor=f"worker:{thread_id}"
        )
        return _response(result.ok, json.dumps(result.to_json(), default=str))


__all__ = ["ScopeResolver", "WorkerTools"]
