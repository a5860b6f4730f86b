"""Intake of the runtime's server requests: approvals, questions, dynamic tool calls.

Each one that waits for an answer becomes a durable row (pending) and an event; a
system-owned session's requests are answered at once by policy, a registered Python tool's
calls by the tool, and a worker tool's calls from a system-owned session by the worker tools
(the action executor, `actions/worker_tools.py`). Anything else is answered "not
supported", and still recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from datetime import timedelta
from typing import Any, Protocol

import attrs

from codex_manager_core import rpc
from codex_manager_core.errors import Conflict
from codex_manager_core.events.naming import request_event_type
from codex_manager_core.events.payloads import app_server_envelope, request_view
from codex_manager_core.models import EventDraft, InteractiveRequest, RequestKind, RequestStatus
from codex_manager_core.ports.store import PutRequest
from codex_manager_core.runtime.client import DEFERRED, ServerRequestError
from codex_manager_core.services.context import ServiceContext
from codex_manager_core.services.request_lifecycle import RequestLifecycle
from codex_manager_core.services.request_rules import (
    REQUESTED_EVENT,
    approval_reply,
    item_id_of,
    request_kind,
    request_params,
)

logger = logging.getLogger("codex_manager_core.requests")


class WorkerToolAnswers(Protocol):
    """What intake needs of `actions.WorkerTools` (declared here: services do not load the
    actions package, which is built over them)."""

    @property
    def names(self) -> Collection[str]: ...

    async def answer(self, thread_id: str, tool: str, arguments: Any) -> Mapping[str, Any]: ...


class RequestIntake:
    def __init__(
        self,
        ctx: ServiceContext,
        lifecycle: RequestLifecycle,
        worker_tools: WorkerToolAnswers | None = None,
    ) -> None:
        self._ctx = ctx
        self._records = ctx.records
        self._lifecycle = lifecycle
        self._worker_tools = worker_tools

    async def on_server_request(self, epoch: int, request: rpc.ServerRequest) -> Any:
        generation = self._ctx.state.generations.get(epoch, self._ctx.state.generation)
        raw_params = self._ctx.threads.incoming(request.params)
        params = request_params(raw_params)
        thread_id = params.get("threadId") if isinstance(params.get("threadId"), str) else None
        session = await self._records.find(thread_id) if thread_id else None
        if thread_id and session is None and await self._records.tombstone(thread_id) is not None:
            raise ServerRequestError(
                rpc.INVALID_REQUEST, f"session {thread_id} was deleted by codex-manager"
            )
        kind = request_kind(request.method)
        system = bool(session and session.system_owned)
        now = self._ctx.now()
        request_id = f"{generation}-{request.id}"
        turn_id = params.get("turnId") if isinstance(params.get("turnId"), str) else None
        passthrough = EventDraft(
            request_event_type(request.method),
            thread_id,
            app_server_envelope(
                signal_type="request",
                event_type=request_event_type(request.method),
                method=request.method,
                received_at=now,
                params=raw_params,
                session=session,
                thread_id=thread_id,
                turn_id=turn_id,
                request_id=request_id,
            ),
            now,
            system=system,
        )
        if kind is None:
            raw = EventDraft(
                "server_request",
                thread_id,
                {"id": request.id, "method": request.method, "params": raw_params},
                now,
                system=system,
            )
            await self._ctx.ledger.emit(passthrough, raw)
            raise ServerRequestError(
                rpc.METHOD_NOT_FOUND,
                f"codex-manager does not support the server request {request.method!r}",
            )
        timeout = self._ctx.config.request_timeout
        record = InteractiveRequest(
            request_id=request_id,
            kind=kind,
            method=request.method,
            generation=generation,
            rpc_id=request.id,
            thread_id=thread_id,
            turn_id=turn_id,
            item_id=item_id_of(params),
            params=params,
            status=RequestStatus.PENDING,
            created_at=now,
            expires_at=None if timeout is None or system else now + timedelta(seconds=timeout),
        )
        requested = self._ctx.event(
            REQUESTED_EVENT[kind], thread_id, request_view(record), system=system
        )
        tool_call = kind is RequestKind.TOOL_CALL
        worker_tool = (
            tool_call
            and system
            and self._worker_tools is not None
            and params.get("tool") in self._worker_tools.names
        )
        registered_tool = tool_call and not worker_tool and params.get("tool") in self._ctx.tools
        if system and not registered_tool and not worker_tool:
            return await self._resolve_by_policy(record, [passthrough, requested])
        # Tracked before the write is committed: a turn end that arrives meanwhile must see
        # it (its expiry is queued after this write, so it applies to the stored row).
        self._lifecycle.track(record)
        try:
            await self._ctx.write([PutRequest(record)], [passthrough, requested])
        except BaseException:
            self._lifecycle.open.pop(record.request_id, None)
            raise
        if registered_tool:
            self._ctx.spawn(f"tool {params.get('tool')}", self._run_registered_tool, record)
        elif worker_tool:
            self._ctx.spawn(f"worker tool {params.get('tool')}", self._run_worker_tool, record)
        elif record.expires_at is not None and timeout is not None:
            self._ctx.spawn(
                f"expire {request_id}", self._lifecycle.expire_after, request_id, timeout
            )
        return DEFERRED

    async def _resolve_by_policy(self, record: InteractiveRequest, events: list[EventDraft]) -> Any:
        """System-owned sessions have nobody to ask: answer by policy, record it."""
        policy = self._ctx.config.system_request_policy
        if record.kind is RequestKind.APPROVAL:
            decision, reply = approval_reply(
                record.method, policy.approval_decision, None, record.params
            )
            resolution: dict[str, Any] = {"decision": decision, "by": "policy"}
            resolved_payload: dict[str, Any] = {"decision": decision}
        elif record.kind is RequestKind.USER_INPUT:
            reply = {"answers": {}}
            resolution = {"decision": policy.user_input_decision, "by": "policy"}
            resolved_payload = {"decision": policy.user_input_decision}
        else:
            reply = {
                "success": policy.tool_call_success,
                "contentItems": [
                    {"type": "inputText", "text": "system-owned session: tool calls are refused"}
                ],
            }
            resolution = {"success": policy.tool_call_success, "by": "policy"}
            resolved_payload = {"success": policy.tool_call_success}
        resolved = attrs.evolve(
            record,
            status=RequestStatus.RESOLVED,
            resolved_at=self._ctx.now(),
            resolution=resolution,
            reason="resolved by the system-session policy",
        )
        events.append(self._lifecycle.resolved_event(resolved, "resolved", resolved_payload))
        await self._ctx.write([PutRequest(resolved)], events)
        return reply

    async def _run_registered_tool(self, record: InteractiveRequest) -> None:
        tool = str(record.params.get("tool"))
        result = await self._ctx.tools.call(tool, record.params.get("arguments"))
        try:
            await self._lifecycle.answer(
                record,
                result.to_response(),
                {"success": result.success, "actor": f"tool:{tool}"},
                {"success": result.success},
            )
        except Conflict:
            logger.info("tool call %s was answered elsewhere first", record.request_id)

    async def _run_worker_tool(self, record: InteractiveRequest) -> None:
        """A worker's call of a worker tool: the action executor answers it, in scope of
        the job running on that worker."""
        assert self._worker_tools is not None
        assert record.thread_id is not None
        tool = str(record.params.get("tool"))
        reply = dict(
            await self._worker_tools.answer(record.thread_id, tool, record.params.get("arguments"))
        )
        success = bool(reply.get("success"))
        try:
            await self._lifecycle.answer(
                record,
                reply,
                {"success": success, "actor": f"worker-tool:{tool}"},
                {"success": success},
            )
        except Conflict:
            logger.info("worker tool call %s was answered elsewhere first", record.request_id)
