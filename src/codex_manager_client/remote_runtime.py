"""`RemoteManager.runtime` and `.events`: the app-server methods the server routes, and the
REST replay of the event ledger.

The runtime's answers are relayed as the server shows them: a read is the runtime's object
with the original's `status: "ok"` merged in (taken out again here), a write is
`{status, result}` (its `result` here). Pages always carry `data` and `nextCursor`.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from codex_manager_client import decode
from codex_manager_client.transport import Transport, drop_none, seg
from codex_manager_core import Event, RuntimeHealth
from codex_manager_core.models import JsonValue

if TYPE_CHECKING:
    from codex_manager_client.stream import EventStream


def _read(body: Any) -> JsonValue:
    """A relayed read without the envelope's `status`."""
    if isinstance(body, dict):
        return {key: value for key, value in body.items() if key != "status"}
    result: JsonValue = body
    return result


def _result(body: Any) -> JsonValue:
    result: JsonValue = decode.field(body, "result")
    return result


class RemoteRuntime:
    """`manager.runtime` over HTTP (not `call`: only routed methods)."""

    def __init__(self, http: Transport) -> None:
        self._http = http

    async def _get(self, path: str, **query: object) -> JsonValue:
        return _read(await self._http.call("GET", path, query=query))

    async def _post(self, path: str, body: Mapping[str, Any]) -> JsonValue:
        return _result(await self._http.call("POST", path, json=dict(body)))

    async def capabilities(self, *, refresh: bool = False) -> dict[str, Any]:
        """Which methods the installed codex offers, and the feature map (which also names
        the original web UI's features)."""
        found = await self._get("/capabilities", refresh=refresh)
        return dict(found) if isinstance(found, dict) else {}

    async def list_models(
        self,
        *,
        cursor: str | None = None,
        limit: int | None = None,
        include_hidden: bool | None = None,
    ) -> JsonValue:
        return await self._get("/models", cursor=cursor, limit=limit, includeHidden=include_hidden)

    async def list_experimental_features(
        self, *, cursor: str | None = None, limit: int | None = None
    ) -> JsonValue:
        return await self._get("/features/experimental", cursor=cursor, limit=limit)

    async def list_collaboration_modes(self) -> JsonValue:
        return await self._get("/collaboration/modes")

    async def list_apps(
        self,
        *,
        cursor: str | None = None,
        limit: int | None = None,
        thread_id: str | None = None,
        force_refetch: bool | None = None,
    ) -> JsonValue:
        return await self._get(
            "/apps", cursor=cursor, limit=limit, threadId=thread_id, forceRefetch=force_refetch
        )

    async def list_skills(
        self, *, cwd: str | None = None, force_reload: bool | None = None
    ) -> JsonValue:
        return await self._get("/skills", cwd=cwd, forceReload=force_reload)

    async def write_skill_config(self, *, path: str, enabled: bool) -> JsonValue:
        return await self._post("/skills/config", {"path": path, "enabled": enabled})

    async def read_remote_skills(self) -> JsonValue:
        return _result(await self._http.call("GET", "/skills/remote"))

    async def write_remote_skills(
        self, *, hazelnut_id: str, is_preload: bool | None = None
    ) -> JsonValue:
        return await self._post(
            "/skills/remote", {"hazelnutId": hazelnut_id, "isPreload": bool(is_preload)}
        )

    async def list_mcp_servers(
        self, *, cursor: str | None = None, limit: int | None = None
    ) -> JsonValue:
        return await self._get("/mcp/servers", cursor=cursor, limit=limit)

    async def reload_mcp(self) -> JsonValue:
        return await self._post("/mcp/reload", {})

    async def mcp_oauth_login(
        self,
        server_name: str,
        *,
        scopes: Sequence[str] | None = None,
        timeout_secs: int | None = None,
    ) -> JsonValue:
        body = drop_none(
            {"scopes": None if scopes is None else list(scopes), "timeoutSecs": timeout_secs}
        )
        return await self._post(f"/mcp/servers/{seg(server_name)}/oauth/login", body)

    async def read_config(
        self, *, cwd: str | None = None, include_layers: bool | None = None
    ) -> JsonValue:
        return await self._get("/config", cwd=cwd, includeLayers=include_layers)

    async def read_config_requirements(self) -> JsonValue:
        return await self._get("/config/requirements")

    async def write_config_value(
        self,
        *,
        key_path: str,
        value: Any,
        merge_strategy: str = "replace",
        expected_version: str | None = None,
        file_path: str | None = None,
    ) -> JsonValue:
        body = drop_none({"expectedVersion": expected_version, "filePath": file_path})
        body.update(keyPath=key_path, value=value, mergeStrategy=merge_strategy)
        return await self._post("/config/value", body)

    async def write_config_batch(
        self,
        *,
        edits: Sequence[Mapping[str, Any]],
        expected_version: str | None = None,
        file_path: str | None = None,
    ) -> JsonValue:
        body = drop_none({"expectedVersion": expected_version, "filePath": file_path})
        body["edits"] = [dict(edit) for edit in edits]
        return await self._post("/config/batch", body)

    async def exec_command(
        self, command: Sequence[str], *, cwd: str | None = None, timeout_ms: int | None = None
    ) -> JsonValue:
        """Run a one-off command outside any thread (`command/exec`)."""
        body = drop_none({"command": list(command), "cwd": cwd, "timeoutMs": timeout_ms})
        return await self._post("/commands/exec", body)

    async def upload_feedback(
        self,
        *,
        classification: str,
        include_logs: bool = False,
        reason: str | None = None,
        thread_id: str | None = None,
    ) -> JsonValue:
        body = drop_none({"reason": reason, "threadId": thread_id})
        body.update(classification=classification, includeLogs=include_logs)
        return await self._post("/feedback", body)

    async def read_account(self) -> JsonValue:
        return await self._get("/account")

    async def login_start(self, params: Mapping[str, Any]) -> JsonValue:
        return await self._post("/account/login/start", params)

    async def login_cancel(self, login_id: str) -> JsonValue:
        return await self._post("/account/login/cancel", {"loginId": login_id})

    async def logout(self) -> JsonValue:
        return await self._post("/account/logout", {})

    async def read_rate_limits(self) -> JsonValue:
        return await self._get("/account/rate-limits")

    async def restart(self) -> RuntimeHealth:
        """Restart the server's codex process and wait until it is ready again."""
        answer = await self._http.call("POST", "/runtime/restart", json={})
        return decode.structure(decode.field(answer, "record"), RuntimeHealth)


class RemoteEvents:
    """`manager.events` over HTTP: the REST replay; `subscribe` follows /api/stream."""

    def __init__(self, http: Transport) -> None:
        self._http = http

    async def read(
        self,
        *,
        since: int = 0,
        limit: int = 100,
        thread_ids: Sequence[str] | None = None,
        types: Sequence[str] | None = None,
    ) -> builtins.list[Event]:
        """Stored events after `since` (ascending seq), at most `limit`."""
        answer = await self._http.call(
            "GET",
            "/events",
            query={
                "since": since,
                "limit": limit,
                "threadId": None if thread_ids is None else tuple(thread_ids),
                "types": None if types is None else tuple(types),
            },
        )
        return [
            decode.record(frame, Event, {"payload": "payload"})
            for frame in decode.field(answer, "events")
        ]

    def subscribe(
        self,
        *,
        thread_ids: Sequence[str] | None = None,
        types: Sequence[str] | None = None,
        since: int | None = None,
    ) -> EventStream:
        """The live stream from `since` (every frame exactly once, resuming after a cut):
        `async with cm.events.subscribe(...) as stream: async for frame in stream`."""
        from codex_manager_client.stream import EventStream

        return EventStream(
            self._http.target,
            thread_ids=thread_ids,
            types=types,
            since=since,
            client=self._http.client,
        )
