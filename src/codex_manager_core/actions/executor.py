"""`ActionExecutor`: the core's one executor of actions (worker tool calls, intents read
from a worker's answer, later extensions), so every path is held to the same scope checks,
the same idempotency and the same record of who decided.

`execute` never raises for a bad request: an unknown kind or a payload that does not fit is
`invalid` (naming the field), something outside the scope is `forbidden` (naming it), a
service that refuses (not found, not pending, runtime down) is `failed`. Each execution
writes an `action_executed` event (kind, status, actor, scope, key) through the ledger.

Idempotency: with a key, a performed action leaves a receipt (the key, a fingerprint of
(kind, payload, scope), the result). The same key and fingerprint again answers
`already_performed` with the stored result without acting; the same key for a different
request is `conflict` (idempotency_conflict). Only performed actions leave a receipt: one
that was refused did nothing, so asking again simply decides again. Executions with one
key are serialized in this process, so two concurrent calls do not both act.

The receipt is written after the action's own write, not in its transaction (the services
commit their own batches). A crash between the two leaves the action done and no receipt:
the same key asked again acts again. The kinds are safe to repeat in that rare case
(a transcript upsert by messageId and a rename replace, a decided approval is refused as
not pending); an enqueue or a steer may happen twice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import attrs

from codex_manager_core.actions.kinds import HANDLERS, ActionServices, OutOfScope
from codex_manager_core.actions.model import ActionRequest, ActionResult, ActionScope, ActionStatus
from codex_manager_core.errors import CodexManagerError, Forbidden, InvalidInput, StoreConflict
from codex_manager_core.keyed_locks import KeyedLocks
from codex_manager_core.models import EventDraft
from codex_manager_core.ports.store import ActionReceipt, PutActionReceipt
from codex_manager_core.services.context import ServiceContext

logger = logging.getLogger("codex_manager_core.actions")

ACTION_KINDS: tuple[str, ...] = tuple(HANDLERS)
"""Every kind `ActionExecutor.execute` knows."""

EXECUTED_EVENT = "action_executed"
MAX_KEY = 200


def _issues_text(error: InvalidInput) -> str:
    parts = []
    for issue in error.issues:
        path = ".".join(str(p) for p in issue.get("path", []))
        message = str(issue.get("message", ""))
        parts.append(f"payload.{path}: {message}" if path else message)
    return "; ".join(parts) or str(error)


class ActionExecutor:
    """Runs `ActionRequest`s in an `ActionScope` (see the module docstring)."""

    def __init__(self, ctx: ServiceContext, services: ActionServices) -> None:
        self._ctx = ctx
        self._services = services
        self._keys = KeyedLocks()

    async def execute(
        self, request: ActionRequest, scope: ActionScope, *, actor: str
    ) -> ActionResult:
        key = request.idempotency_key
        if key is not None and (not isinstance(key, str) or not key or len(key) > MAX_KEY):
            result = ActionResult(
                str(request.kind),
                ActionStatus.INVALID,
                error=f"idempotencyKey: must be a string of 1-{MAX_KEY} characters",
            )
            await self._record(result, scope, actor)
            return result
        if key is None:
            result = await self._run(request, scope, actor)
            await self._record(result, scope, actor)
            return result
        async with self._keys.hold(key):
            return await self._execute_once(request, scope, actor, key)

    async def _execute_once(
        self, request: ActionRequest, scope: ActionScope, actor: str, key: str
    ) -> ActionResult:
        fingerprint = request.fingerprint(scope)
        receipt = await self._ctx.store.get_action_receipt(key)
        if receipt is not None:
            result = self._replay(request, receipt, fingerprint, key)
            await self._record(result, scope, actor)
            return result
        result = attrs.evolve(await self._run(request, scope, actor), idempotency_key=key)
        if result.status is not ActionStatus.PERFORMED:
            await self._record(result, scope, actor)
            return result
        receipt = ActionReceipt(key, fingerprint, result.to_json(), self._ctx.now())
        try:
            await self._ctx.write([PutActionReceipt(receipt)], [self._event(result, scope, actor)])
        except StoreConflict:
            # Another process took the key between our read and this write; the action
            # was performed (the docstring's "may happen twice"), its event still says so.
            logger.warning("action receipt %s was written by another process first", key)
            await self._record(result, scope, actor)
        return result

    def _replay(
        self, request: ActionRequest, receipt: ActionReceipt, fingerprint: str, key: str
    ) -> ActionResult:
        if receipt.fingerprint != fingerprint:
            return ActionResult(
                request.kind,
                ActionStatus.CONFLICT,
                error=(
                    f"idempotency_conflict: key {key!r} was used for a different action "
                    "(kind, payload or scope differ)"
                ),
                idempotency_key=key,
            )
        stored = ActionResult.from_json(receipt.result)
        return attrs.evolve(stored, status=ActionStatus.ALREADY_PERFORMED, idempotency_key=key)

    async def _run(self, request: ActionRequest, scope: ActionScope, actor: str) -> ActionResult:
        kind = request.kind
        handler = HANDLERS.get(kind) if isinstance(kind, str) else None
        if handler is None:
            return ActionResult(
                str(kind),
                ActionStatus.INVALID,
                error=f"kind: unknown kind {kind!r}; known kinds: {', '.join(ACTION_KINDS)}",
            )
        if not isinstance(request.payload, Mapping):
            return ActionResult(kind, ActionStatus.INVALID, error="payload: must be an object")
        try:
            value = await handler(self._services, request.payload, scope, actor)
        except InvalidInput as exc:
            return ActionResult(kind, ActionStatus.INVALID, error=_issues_text(exc))
        except (OutOfScope, Forbidden) as exc:
            return ActionResult(kind, ActionStatus.FORBIDDEN, error=str(exc))
        except CodexManagerError as exc:
            return ActionResult(kind, ActionStatus.FAILED, error=f"{exc.code}: {exc}")
        except Exception as exc:
            # A bug or an unexpected failure below must not take the caller (a worker's
            # tool call, the queue) down with it: it is a failed action, logged in full.
            logger.exception("action %s failed unexpectedly", kind)
            return ActionResult(kind, ActionStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
        return ActionResult(kind, ActionStatus.PERFORMED, result=value)

    def _event(self, result: ActionResult, scope: ActionScope, actor: str) -> EventDraft:
        return self._ctx.event(
            EXECUTED_EVENT,
            scope.session_id,
            {
                "kind": result.kind,
                "status": result.status.value,
                "actor": actor,
                "scope": scope.to_json(),
                "idempotencyKey": result.idempotency_key,
                "error": result.error,
            },
        )

    async def _record(self, result: ActionResult, scope: ActionScope, actor: str) -> None:
        await self._ctx.ledger.emit(self._event(result, scope, actor))


__all__ = ["ACTION_KINDS", "EXECUTED_EVENT", "ActionExecutor"]
