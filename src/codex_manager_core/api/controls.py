"""The protocols of `ManagerApi`: controls, settings and interactive requests."""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from codex_manager_core.api.server import ApprovalsServerApi, ControlsServerApi

if TYPE_CHECKING:
    from codex_manager_core.models import (
        Controls,
        InteractiveRequest,
        RequestKind,
        RequestStatus,
        SettingValue,
    )


class ControlsApi(ControlsServerApi, Protocol):
    """`manager.controls`"""

    async def defaults(self) -> Controls: ...

    @staticmethod
    def resolve(
        base: Controls,
        *,
        model: Any = None,
        approval_policy: Any = None,
        network_access: Any = None,
        filesystem_sandbox: Any = None,
        settings: Any = None,
    ) -> Controls:
        """`base` with the given (validated) overrides; None keeps the base value."""
        ...


class SettingsApi(Protocol):
    """`manager.settings`"""

    async def get(self, session_id: str, *, scope: str = "session") -> dict[str, Any]:
        """The session's settings document (or, with scope="default", the defaults')."""
        ...

    async def get_key(self, session_id: str, key: str, *, scope: str = "session") -> SettingValue:
        """One top-level key: whether it is set, and its value."""
        ...

    async def set(
        self,
        session_id: str,
        key: str,
        value: Any,
        *,
        scope: str = "session",
        actor: str | None = None,
        source: str | None = None,
    ) -> dict[str, Any]: ...

    async def update(
        self,
        session_id: str,
        settings: Mapping[str, Any],
        *,
        mode: str = "merge",
        scope: str = "session",
        actor: str | None = None,
        source: str | None = None,
    ) -> dict[str, Any]:
        """Merge top-level keys into the settings, or replace them all (`mode`)."""
        ...

    async def unset(
        self,
        session_id: str,
        key: str,
        *,
        scope: str = "session",
        actor: str | None = None,
        source: str | None = None,
    ) -> bool:
        """Remove one top-level key; returns whether it existed."""
        ...


class RequestsApi(Protocol):
    """`manager.requests`"""

    async def list(
        self,
        session_id: str | None = None,
        *,
        kind: RequestKind | str | None = None,
        statuses: Sequence[RequestStatus | str] | None = ...,
    ) -> builtins.list[InteractiveRequest]:
        """Interactive requests, oldest first (by default: the pending ones)."""
        ...

    async def get(self, request_id: str) -> InteractiveRequest: ...

    async def decide_approval(
        self, approval_id: str, decision: str, *, scope: str | None = None, actor: str | None = None
    ) -> InteractiveRequest:
        """Answer an approval: accept, acceptForSession, decline or cancel (legacy names
        approved / approved_for_session / denied / abort too)."""
        ...

    async def answer_user_input(
        self,
        request_id: str,
        *,
        decision: str = "accept",
        answers: Mapping[str, Any] | None = None,
        response: Any = None,
        actor: str | None = None,
    ) -> InteractiveRequest:
        """Answer a question of the model: `answers` maps question id to {"answers": [..]} (or
        a plain list / string); decline/cancel send no answers; a raw `response` is sent as
        is."""
        ...

    async def respond_tool_call(
        self,
        request_id: str,
        *,
        success: bool = True,
        content_items: Sequence[Mapping[str, Any]] | None = None,
        text: str | None = None,
        response: Any = None,
        actor: str | None = None,
    ) -> InteractiveRequest:
        """Answer a dynamic tool call with text or content items (or a raw `response`)."""
        ...


class ApprovalsApi(ApprovalsServerApi, Protocol):
    """`manager.approvals`"""

    async def get(self, approval_id: str) -> InteractiveRequest: ...


class ToolInputApi(Protocol):
    """`manager.tool_input`"""

    async def list(self, session_id: str) -> builtins.list[InteractiveRequest]: ...

    async def answer(
        self,
        request_id: str,
        *,
        decision: str = "accept",
        answers: Mapping[str, Any] | None = None,
        response: Any = None,
        actor: str | None = None,
    ) -> InteractiveRequest: ...


class ToolCallsApi(Protocol):
    """`manager.tool_calls`"""

    async def list(self, session_id: str) -> builtins.list[InteractiveRequest]: ...

    async def respond(
        self,
        request_id: str,
        *,
        success: bool = True,
        content_items: Sequence[Mapping[str, Any]] | None = None,
        text: str | None = None,
        response: Any = None,
        actor: str | None = None,
    ) -> InteractiveRequest: ...
