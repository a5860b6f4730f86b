"""The dynamic tool the core gives worker (system-owned) sessions, so a worker acts in
process, through the one `ActionExecutor`, never by shelling out to a CLI.

One tool, `act`, takes one action intent `{kind, payload, idempotencyKey?}`: the shape of
an intent in a worker's `action_intents` answer (`intents.py`), so a worker has one
vocabulary either way. One tool and not one per kind because each declared dynamic tool
makes every turn of the thread slower in codex (measured in docs/performance.md: five
tools cost a worker's turn 5-13%, one 1-5%), and a worker's turn is what every job waits
for. Worker threads started before `act` declared one tool per kind; their calls are still
answered (`_LEGACY`).

The scope is the worker's job's: `set_scope_resolver` tells which job runs on a worker
thread (the queue sets it), and a call with no job running is refused. A `sessionId` left
out is the job's session, and one outside it is forbidden by the executor.
`services/request_intake.py` routes a system-owned session's call of one of these tools
to `answer`."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from codex_manager_core.actions.executor import ACTION_KINDS, ActionExecutor
from codex_manager_core.actions.intents import intent_request
from codex_manager_core.actions.model import ActionRequest, ActionScope
from codex_manager_core.errors import InvalidInput
from codex_manager_core.models import JsonObject

ScopeResolver = Callable[[str], ActionScope | None]

ACT = "act"
_SESSION_KINDS = frozenset({"transcript.upsert", "turn.steer.create", "session.rename"})
"""The kinds whose payload names a session: left out, it is the job's."""

_ACT_DESCRIPTION = (
    "Act for the job running on this worker, within its scope. kind, and the fields of "
    "payload: transcript.upsert {messageId, turnId, role (user|assistant|system), type, "
    "content, status? (streaming|complete|canceled|error), details?, anchorItemId?} inserts "
    "or replaces a transcript row of the job's session; approval.decide {approvalId, "
    "decision (accept|acceptForSession|decline), scope? (turn|session)} decides a pending "
    "approval of it; turn.steer.create {text, turnId?} adds input to its running turn; "
    "queue.enqueue {type, payload, priority? (interactive|background)} enqueues a job for "
    "the job's owner; session.rename {title} renames it. sessionId is the job's session "
    "unless given. The same idempotencyKey again returns the first result instead of "
    "acting twice."
)

_ACT_SPEC: dict[str, Any] = {
    "type": "function",
    "name": ACT,
    "description": _ACT_DESCRIPTION,
    "inputSchema": {
        "type": "object",
        "properties": {
            "kind": {"type": "string", "enum": list(ACTION_KINDS)},
            "payload": {"type": "object"},
            "idempotencyKey": {"type": "string"},
        },
        "required": ["kind", "payload"],
    },
}

_LEGACY: Mapping[str, str] = {
    "transcript_upsert": "transcript.upsert",
    "approval_decide": "approval.decide",
    "turn_steer": "turn.steer.create",
    "queue_enqueue": "queue.enqueue",
    "session_rename": "session.rename",
}
"""tool -> kind: the per-kind tools of worker threads started before `act` (their
arguments are the payload plus `idempotencyKey`)."""


def _request(tool: str, arguments: Mapping[str, Any]) -> ActionRequest:
    if tool == ACT:
        return intent_request(arguments)
    payload = dict(arguments)
    key = payload.pop("idempotencyKey", None)
    return ActionRequest(_LEGACY[tool], payload, key)


def _response(success: bool, text: str) -> JsonObject:
    return {"success": success, "contentItems": [{"type": "inputText", "text": text}]}


class WorkerTools:
    """The worker tool over one executor (see the module docstring)."""

    names: frozenset[str] = frozenset({ACT, *_LEGACY})

    def __init__(self, executor: ActionExecutor) -> None:
        self._executor = executor
        self._resolve: ScopeResolver = lambda _thread_id: None

    def set_scope_resolver(self, resolver: ScopeResolver) -> None:
        """`resolver(thread_id)`: the scope of the job running on that worker thread, or
        None when no job runs there."""
        self._resolve = resolver

    def specs(self) -> list[dict[str, Any]]:
        """The `dynamicTools` entries for `thread/start` of a worker session."""
        return [json.loads(json.dumps(_ACT_SPEC))]

    async def answer(self, thread_id: str, tool: str, arguments: Any) -> JsonObject:
        """The `item/tool/call` response for the worker `thread_id` calling `tool`."""
        if tool not in self.names:
            return _response(False, f"unknown worker tool {tool!r}; the tool is {ACT!r}")
        scope = self._resolve(thread_id)
        if scope is None:
            return _response(False, "no job is running on this worker; the tool call is refused")
        if not isinstance(arguments, Mapping):
            return _response(False, "the arguments must be a JSON object")
        try:
            request = _request(tool, arguments)
        except InvalidInput as error:
            return _response(False, str(error))
        payload = request.payload
        if (
            request.kind in _SESSION_KINDS
            and "sessionId" not in payload
            and scope.session_id is not None
        ):
            payload = {**payload, "sessionId": scope.session_id}
        result = await self._executor.execute(
            ActionRequest(request.kind, payload, request.idempotency_key),
            scope,
            actor=f"worker:{thread_id}",
        )
        return _response(result.ok, json.dumps(result.to_json(), default=str))


__all__ = ["ACT", "ScopeResolver", "WorkerTools"]
