"""`manager.session(id)`: the calls about one session, with its id bound.

The layout users of the original's Python client know (`cm.session(id).send(...)`,
`.settings.set(...)`, `.approvals.list()`). Every call is the same service call as
`manager.sessions.*` / `manager.turns.*` with the id filled in; nothing is cached here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from codex_manager_core.models import InteractiveRequest, JsonObject, SessionRecord, SettingValue
from codex_manager_core.services.controls import ControlsChange, ControlsView
from codex_manager_core.services.transcript import DEFAULT_LIMIT, TranscriptPage
from codex_manager_core.services.turn_waits import RetryCallback, TurnResult
from codex_manager_core.services.turns import InputItem, TurnHandle

if TYPE_CHECKING:
    from codex_manager_core.api.server import ServerApi
    from codex_manager_core.services.sessions import DeletedSession, SessionDetail


class SessionScope:
    def __init__(self, manager: ServerApi, session_id: str) -> None:
        self._manager = manager
        self.session_id = session_id
        self.controls = SessionControls(manager, session_id)
        self.settings = SessionSettings(manager, session_id)
        self.approvals = SessionRequests(manager.approvals, session_id)
        self.tool_input = SessionRequests(manager.tool_input, session_id)
        self.tool_calls = SessionRequests(manager.tool_calls, session_id)

    def __repr__(self) -> str:
        return f"<session {self.session_id}>"

    # ------------------------------------------------------------------ the session

    async def get(self) -> SessionRecord:
        return await self._manager.sessions.get(self.session_id)

    async def detail(self) -> SessionDetail:
        return await self._manager.sessions.detail(self.session_id)

    async def thread(self) -> JsonObject:
        return await self._manager.sessions.thread(self.session_id)

    async def read_thread(self, *, include_turns: bool = True) -> JsonObject:
        return await self._manager.sessions.read_thread(
            self.session_id, include_turns=include_turns
        )

    async def rename(self, title: str) -> SessionRecord:
        return await self._manager.sessions.rename(self.session_id, title)

    async def archive(self) -> SessionRecord:
        return await self._manager.sessions.archive(self.session_id)

    async def unarchive(self) -> SessionRecord:
        return await self._manager.sessions.unarchive(self.session_id)

    async def resume(self) -> JsonObject:
        return await self._manager.sessions.resume(self.session_id)

    async def delete(self) -> DeletedSession:
        return await self._manager.sessions.delete(self.session_id)

    async def fork(self, *, title: str | None = None) -> SessionRecord:
        return await self._manager.sessions.fork(self.session_id, title=title)

    async def transcript(
        self, *, cursor: str | None = None, limit: int | None = DEFAULT_LIMIT
    ) -> TranscriptPage:
        return await self._manager.transcript.get(self.session_id, cursor=cursor, limit=limit)

    # ------------------------------------------------------------------ turns

    async def send(self, input: str | Sequence[InputItem], **overrides: Any) -> TurnHandle:
        """`manager.turns.send(session_id, input, ...)`."""
        return await self._manager.turns.send(self.session_id, input, **overrides)

    async def send_and_wait(
        self,
        input: str | Sequence[InputItem],
        *,
        timeout: float | None = None,
        on_retry: RetryCallback | None = None,
        **overrides: Any,
    ) -> TurnResult:
        return await self._manager.turns.send_and_wait(
            self.session_id, input, timeout=timeout, on_retry=on_retry, **overrides
        )

    async def wait(
        self, turn_id: str, *, timeout: float | None = None, on_retry: RetryCallback | None = None
    ) -> TurnResult:
        return await self._manager.turns.wait(
            self.session_id, turn_id, timeout=timeout, on_retry=on_retry
        )

    async def interrupt(self, turn_id: str | None = None) -> str:
        return await self._manager.turns.interrupt(self.session_id, turn_id)

    async def steer(self, turn_id: str, input: str | Sequence[InputItem]) -> JsonObject:
        return await self._manager.turns.steer(self.session_id, turn_id, input)


class SessionControls:
    def __init__(self, manager: ServerApi, session_id: str) -> None:
        self._manager = manager
        self._session_id = session_id

    async def get(self) -> ControlsView:
        return await self._manager.controls.get(self._session_id)

    async def apply(self, **changes: Any) -> ControlsChange:
        """`manager.controls.apply(session_id, ...)`."""
        return await self._manager.controls.apply(self._session_id, **changes)

    async def set_approval_policy(self, approval_policy: str) -> ControlsChange:
        return await self._manager.controls.set_approval_policy(self._session_id, approval_policy)


class SessionSettings:
    def __init__(self, manager: ServerApi, session_id: str) -> None:
        self._manager = manager
        self._session_id = session_id

    async def get(self, *, scope: str = "session") -> dict[str, Any]:
        return await self._manager.settings.get(self._session_id, scope=scope)

    async def get_key(self, key: str, *, scope: str = "session") -> SettingValue:
        return await self._manager.settings.get_key(self._session_id, key, scope=scope)

    async def set(self, key: str, value: Any, **options: Any) -> dict[str, Any]:
        return await self._manager.settings.set(self._session_id, key, value, **options)

    async def update(self, settings: Mapping[str, Any], **options: Any) -> dict[str, Any]:
        return await self._manager.settings.update(self._session_id, settings, **options)

    async def unset(self, key: str, **options: Any) -> bool:
        return await self._manager.settings.unset(self._session_id, key, **options)


class _RequestGroup(Protocol):
    async def list(self, session_id: str) -> list[InteractiveRequest]: ...


class SessionRequests:
    def __init__(self, group: _RequestGroup, session_id: str) -> None:
        self._group = group
        self._session_id = session_id

    async def list(self) -> list[InteractiveRequest]:
        """The pending requests of this kind in the session, oldest first."""
        return await self._group.list(self._session_id)
