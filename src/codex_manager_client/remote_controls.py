"""`RemoteManager.controls`, `.settings`, `.approvals`, `.tool_input` and `.tool_calls`:
the controls tuple, the settings document and the interactive requests over HTTP."""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from typing import Any

from codex_manager_client import decode
from codex_manager_client.transport import Transport, drop_none, seg
from codex_manager_core import (
    KEEP,
    ControlsChange,
    ControlsView,
    InteractiveRequest,
    Keep,
    SettingValue,
)


class RemoteControls:
    """`manager.controls` over HTTP."""

    def __init__(self, http: Transport) -> None:
        self._http = http

    async def get(self, session_id: str) -> ControlsView:
        answer = await self._http.call("GET", f"/sessions/{seg(session_id)}/session-controls")
        return decode.structure(answer, ControlsView)

    async def apply(
        self,
        session_id: str,
        *,
        scope: str = "session",
        model: str | Keep | None = KEEP,
        approval_policy: str | None = None,
        network_access: str | None = None,
        filesystem_sandbox: str | None = None,
        settings: Mapping[str, Any] | None = None,
        keep_model: bool = False,
        actor: str | None = None,
        source: str | None = None,
    ) -> ControlsChange:
        """Apply controls to the session or the defaults; what you leave out is kept."""
        controls = drop_none(
            {
                "approvalPolicy": approval_policy,
                "networkAccess": network_access,
                "filesystemSandbox": filesystem_sandbox,
                "settings": None if settings is None else dict(settings),
            }
        )
        if not keep_model and not isinstance(model, Keep):
            controls["model"] = model
        body = drop_none({"scope": scope, "controls": controls, "actor": actor, "source": source})
        answer = await self._http.call(
            "POST", f"/sessions/{seg(session_id)}/session-controls", json=body
        )
        return decode.structure(answer, ControlsChange)

    async def set_approval_policy(self, session_id: str, approval_policy: str) -> ControlsChange:
        """The legacy single-field setter."""
        answer = await self._http.call(
            "POST",
            f"/sessions/{seg(session_id)}/approval-policy",
            json={"approvalPolicy": approval_policy},
        )
        return decode.structure(decode.field(answer, "change"), ControlsChange)


class RemoteSettings:
    """`manager.settings` over HTTP."""

    def __init__(self, http: Transport) -> None:
        self._http = http

    async def get(self, session_id: str, *, scope: str = "session") -> dict[str, Any]:
        answer = await self._http.call(
            "GET", f"/sessions/{seg(session_id)}/settings", query={"scope": scope}
        )
        settings: dict[str, Any] = decode.field(answer, "settings")
        return settings

    async def get_key(self, session_id: str, key: str, *, scope: str = "session") -> SettingValue:
        answer = await self._http.call(
            "GET", f"/sessions/{seg(session_id)}/settings", query={"scope": scope, "key": key}
        )
        return SettingValue(
            key=decode.field(answer, "key"),
            found=decode.field(answer, "found"),
            value=answer.get("value"),
        )

    async def set(
        self,
        session_id: str,
        key: str,
        value: Any,
        *,
        scope: str = "session",
        actor: str | None = None,
        source: str | None = None,
    ) -> dict[str, Any]:
        body = drop_none({"scope": scope, "actor": actor, "source": source})
        return await self._write(session_id, {**body, "key": key, "value": value})

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
        body = drop_none({"scope": scope, "mode": mode, "actor": actor, "source": source})
        return await self._write(session_id, {**body, "settings": dict(settings)})

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
        answer = await self._http.call(
            "DELETE",
            f"/sessions/{seg(session_id)}/settings/{seg(key)}",
            query={"scope": scope, "actor": actor, "source": source},
        )
        return bool(decode.field(answer, "removed"))

    async def _write(self, session_id: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = await self._http.call("POST", f"/sessions/{seg(session_id)}/settings", json=body)
        settings: dict[str, Any] = decode.field(answer, "settings")
        return settings


class RemoteApprovals:
    """`manager.approvals` over HTTP."""

    def __init__(self, http: Transport) -> None:
        self._http = http

    async def list(self, session_id: str) -> builtins.list[InteractiveRequest]:
        """The session's pending approvals, oldest first."""
        return decode.requests(
            await self._http.call("GET", f"/sessions/{seg(session_id)}/approvals")
        )

    async def decide(
        self, approval_id: str, decision: str, *, scope: str | None = None, actor: str | None = None
    ) -> InteractiveRequest:
        """Answer an approval: accept, acceptForSession, decline or cancel (legacy names
        approved / approved_for_session / denied / abort too)."""
        body = drop_none({"decision": decision, "scope": scope, "actor": actor})
        answer = await self._http.call("POST", f"/approvals/{seg(approval_id)}/decision", json=body)
        return decode.structure(decode.field(answer, "request"), InteractiveRequest)


class RemoteToolInput:
    """`manager.tool_input` over HTTP."""

    def __init__(self, http: Transport) -> None:
        self._http = http

    async def list(self, session_id: str) -> builtins.list[InteractiveRequest]:
        return decode.requests(
            await self._http.call("GET", f"/sessions/{seg(session_id)}/tool-input")
        )

    async def answer(
        self,
        request_id: str,
        *,
        decision: str = "accept",
        answers: Mapping[str, Any] | None = None,
        response: Any = None,
        actor: str | None = None,
    ) -> InteractiveRequest:
        body = drop_none(
            {
                "decision": decision,
                "answers": None if answers is None else dict(answers),
                "response": response,
                "actor": actor,
            }
        )
        answer = await self._http.call("POST", f"/tool-input/{seg(request_id)}/decision", json=body)
        return decode.structure(decode.field(answer, "request"), InteractiveRequest)


class RemoteToolCalls:
    """`manager.tool_calls` over HTTP."""

    def __init__(self, http: Transport) -> None:
        self._http = http

    async def list(self, session_id: str) -> builtins.list[InteractiveRequest]:
        return decode.requests(
            await self._http.call("GET", f"/sessions/{seg(session_id)}/tool-calls")
        )

    async def respond(
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
        body = drop_none(
            {
                "success": success,
                "contentItems": None if content_items is None else [dict(i) for i in content_items],
                "text": text,
                "response": response,
                "actor": actor,
            }
        )
        answer = await self._http.call("POST", f"/tool-calls/{seg(request_id)}/response", json=body)
        return decode.structure(decode.field(answer, "request"), InteractiveRequest)
