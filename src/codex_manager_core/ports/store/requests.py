"""Store domain "interactive requests": approvals, user-input requests and dynamic tool
calls, with their `pending -> resolved | expired | invalidated` lifecycle. Its mutations
(`TransitionRequest` is the compare-and-set that makes exactly one answer win), its query
and its reads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, TypeAlias

import attrs

from codex_manager_core.models import InteractiveRequest, RequestStatus


@attrs.frozen
class PutRequest:
    request: InteractiveRequest


@attrs.frozen
class TransitionRequest:
    """Compare-and-set: move a request from one of `from_statuses` to `to_status`, setting
    `changes` (names of `InteractiveRequest` fields, not `request_id` or `status`, else
    ValueError). Fails the batch with StoreConflict (key "request <id>") otherwise."""

    request_id: str
    from_statuses: tuple[RequestStatus, ...]
    to_status: RequestStatus
    changes: Mapping[str, Any] = attrs.field(factory=dict)


RequestMutation: TypeAlias = PutRequest | TransitionRequest


@attrs.frozen
class RequestQuery:
    thread_id: str | None = None
    turn_id: str | None = None
    statuses: tuple[RequestStatus, ...] | None = None
    kinds: tuple[str, ...] | None = None
    generation: int | None = None
    generation_below: int | None = None


class RequestReads(Protocol):
    async def get_request(self, request_id: str) -> InteractiveRequest | None: ...

    async def list_requests(self, query: RequestQuery) -> list[InteractiveRequest]:
        """Oldest (created_at) first; ties in insertion order."""
        ...


__all__ = ["PutRequest", "RequestMutation", "RequestQuery", "RequestReads", "TransitionRequest"]
