"""Pass-throughs to the runtime (models, config, account, MCP, skills, apps, ...) and
capability discovery.

Capabilities come from the installed binary's own protocol schema
(`codex app-server generate-json-schema`), cached per codex version: discovery never calls a
runtime method at all, let alone one that changes state (the original probed
`account/logout` and config writes with junk payloads).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Final, cast

from codex_manager_core.errors import InvalidInput
from codex_manager_core.models import JsonValue
from codex_manager_core.runtime.supervisor import RuntimeHealth
from codex_manager_core.services.context import ServiceContext, is_absolute_directory

logger = logging.getLogger("codex_manager_core.passthrough")

#: Features the UI shows, and the methods each needs.
FEATURES: Final = {
    "threadFork": ("thread/fork",),
    "turnSteer": ("turn/steer",),
    "reviewStart": ("review/start",),
    "commandExec": ("command/exec",),
    "mcpOauth": ("mcpServer/oauth/login",),
    "accountLifecycle": ("account/login/start", "account/logout"),
    "configWrite": ("config/value/write", "config/batchWrite"),
    "apps": ("app/list",),
    "skills": ("skills/list",),
    "remoteSkills": ("skills/remote/read", "skills/remote/write"),
    "collaborationModes": ("collaborationMode/list",),
    "experimentalFeatures": ("experimentalFeature/list",),
    "threadDelete": ("thread/delete",),
    "threadRevert": ("thread/revert",),
    "backgroundTerminals": ("thread/backgroundTerminals/clean",),
    "compaction": ("thread/compact/start",),
}


def _opt(params: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        params[key] = value


def _page(cursor: Any, limit: Any) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if cursor is not None:
        if not isinstance(cursor, str):
            raise InvalidInput(
                "cursor must be a string", issues=[{"path": ["cursor"], "message": "not a string"}]
            )
        params["cursor"] = cursor
    if limit is not None:
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 1000:
            raise InvalidInput(
                "limit must be an integer from 1 to 1000",
                issues=[{"path": ["limit"], "message": "out of range"}],
            )
        params["limit"] = limit
    return params


async def _existing_directory(value: object, field: str) -> str:
    """`value` if it is the absolute path of an existing directory, else InvalidInput."""
    if not isinstance(value, str) or not value or "\x00" in value:
        raise InvalidInput(
            f"{field} must be a path string, got {value!r}",
            issues=[{"path": [field], "message": "not a path"}],
        )
    if not await is_absolute_directory(value):
        raise InvalidInput(
            f"{field} must be the absolute path of an existing directory, got {value!r}",
            issues=[{"path": [field], "message": "not an existing absolute directory"}],
        )
    return value


class RuntimeService:
    """The runtime's own methods, passed through (`manager.runtime`)."""

    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx
        self._capabilities: dict[str, Any] | None = None

    async def call(
        self, method: str, params: Any = None, *, timeout: float | None = None
    ) -> JsonValue:
        """Call any app-server method (errors mapped; unknown methods: MethodNotSupported)."""
        if not isinstance(method, str) or not method or len(method) > 200:
            raise InvalidInput(
                "method must be a non-empty string",
                issues=[{"path": ["method"], "message": "invalid"}],
            )
        return await self._request(method, params, timeout=timeout)

    async def _request(
        self, method: str, params: Any = None, *, timeout: float | None = None
    ) -> JsonValue:
        """A pass-through call: the runtime's JSON answer, errors mapped."""
        return cast(JsonValue, await self._ctx.call(method, params, timeout=timeout))

    async def wait_ready(self, timeout: float | None = None) -> RuntimeHealth:
        """Wait until the runtime is ready (RuntimeUnavailable if it failed)."""
        return await self._ctx.supervisor.wait_ready(timeout)

    async def restart(self, *, wait: bool = False, timeout: float | None = None) -> RuntimeHealth:
        """Restart the runtime process now (history survives; threads resume on demand).
        From `failed` this starts a new round of attempts at once (the restart cap counts
        afresh). With `wait`, return once the new process is ready (RuntimeUnavailable if
        it fails, or is not ready within `timeout`, default `ready_timeout`)."""
        supervisor = self._ctx.supervisor
        before = supervisor.epoch
        await supervisor.restart()
        if wait:
            return await supervisor.wait_restarted(before, timeout)
        return supervisor.health

    @property
    def health(self) -> RuntimeHealth:
        """The runtime's state now (starting, ready, restarting, failed...)."""
        return self._ctx.supervisor.health

    # ------------------------------------------------------------------ capabilities

    async def capabilities(self, *, refresh: bool = False) -> dict[str, Any]:
        """Which methods the installed codex offers (stable / experimental-only), and the
        derived feature map. Reads the binary's schema; calls nothing on the runtime."""
        if self._capabilities is not None and not refresh:
            return self._capabilities
        version = self._ctx.supervisor.health.codex_version or "unknown"
        schema = await self._ctx.home.schema_methods(version, refresh=refresh)
        stable, experimental, reason = schema.stable, schema.experimental, schema.problem
        experimental_api = bool(
            self._ctx.supervisor.initialize_result
            and self._ctx.supervisor.initialize_result.experimental_api
        )
        methods: dict[str, str] = {}
        for method in sorted(stable | experimental):
            if method in stable:
                methods[method] = "available"
            else:
                methods[method] = "available" if experimental_api else "disabled"
        features = {
            name: bool(methods) and all(methods.get(m) == "available" for m in needed)
            for name, needed in FEATURES.items()
        }
        result = {
            "methods": methods,
            "details": {
                method: {
                    "status": status,
                    "reason": "experimental API" if method not in stable else "in the stable API",
                }
                for method, status in methods.items()
            },
            "features": features,
            "runtime": {
                "initialized": self._ctx.supervisor.initialize_result is not None,
                "codexVersion": self._ctx.supervisor.health.codex_version,
                "experimentalApi": experimental_api,
                "capabilitiesLastUpdatedAt": self._ctx.now().isoformat(),
                "source": "schema" if methods else "unavailable",
                "reason": reason,
            },
        }
        self._capabilities = result
        return result

    # ------------------------------------------------------------------ discovery

    async def list_models(
        self,
        *,
        cursor: str | None = None,
        limit: int | None = None,
        include_hidden: bool | None = None,
    ) -> JsonValue:
        params = _page(cursor, limit)
        _opt(params, "includeHidden", include_hidden)
        return await self._request("model/list", params)

    async def list_experimental_features(
        self, *, cursor: str | None = None, limit: int | None = None
    ) -> JsonValue:
        return await self._request("experimentalFeature/list", _page(cursor, limit))

    async def list_collaboration_modes(self) -> JsonValue:
        return await self._request("collaborationMode/list", {})

    async def list_apps(
        self,
        *,
        cursor: str | None = None,
        limit: int | None = None,
        thread_id: str | None = None,
        force_refetch: bool | None = None,
    ) -> JsonValue:
        params = _page(cursor, limit)
        _opt(params, "threadId", thread_id)
        _opt(params, "forceRefetch", force_refetch)
        return await self._request("app/list", params)

    async def list_skills(
        self, *, cwd: str | None = None, force_reload: bool | None = None
    ) -> JsonValue:
        params: dict[str, Any] = {}
        if cwd is not None:
            params["cwds"] = [cwd]
        _opt(params, "forceReload", force_reload)
        return await self._request("skills/list", params)

    async def write_skill_config(self, *, path: str, enabled: bool) -> JsonValue:
        if not isinstance(enabled, bool):
            raise InvalidInput(
                "enabled must be a boolean",
                issues=[{"path": ["enabled"], "message": "not a boolean"}],
            )
        return await self._request("skills/config/write", {"path": path, "enabled": enabled})

    async def read_remote_skills(self) -> JsonValue:
        return await self._request("skills/remote/read", {})

    async def write_remote_skills(
        self, *, hazelnut_id: str, is_preload: bool | None = None
    ) -> JsonValue:
        params: dict[str, Any] = {"hazelnutId": hazelnut_id}
        _opt(params, "isPreload", is_preload)
        return await self._request("skills/remote/write", params)

    async def list_mcp_servers(
        self, *, cursor: str | None = None, limit: int | None = None
    ) -> JsonValue:
        return await self._request("mcpServerStatus/list", _page(cursor, limit))

    async def reload_mcp(self) -> JsonValue:
        return await self._request("config/mcpServer/reload")

    async def mcp_oauth_login(
        self,
        server_name: str,
        *,
        scopes: Sequence[str] | None = None,
        timeout_secs: int | None = None,
    ) -> JsonValue:
        params: dict[str, Any] = {"name": server_name}
        _opt(params, "scopes", list(scopes) if scopes is not None else None)
        _opt(params, "timeoutSecs", timeout_secs)
        return await self._request("mcpServer/oauth/login", params)

    # ------------------------------------------------------------------ config

    async def read_config(
        self, *, cwd: str | None = None, include_layers: bool | None = None
    ) -> JsonValue:
        params: dict[str, Any] = {}
        _opt(params, "cwd", cwd)
        _opt(params, "includeLayers", include_layers)
        return await self._request("config/read", params)

    async def read_config_requirements(self) -> JsonValue:
        return await self._request("configRequirements/read")

    async def write_config_value(
        self,
        *,
        key_path: str,
        value: Any,
        merge_strategy: str = "replace",
        expected_version: str | None = None,
        file_path: str | None = None,
    ) -> JsonValue:
        if merge_strategy not in ("replace", "upsert"):
            raise InvalidInput(
                "merge_strategy must be replace or upsert",
                issues=[{"path": ["merge_strategy"], "message": "invalid"}],
            )
        params: dict[str, Any] = {
            "keyPath": key_path,
            "value": value,
            "mergeStrategy": merge_strategy,
        }
        _opt(params, "expectedVersion", expected_version)
        _opt(params, "filePath", file_path)
        return await self._request("config/value/write", params)

    async def write_config_batch(
        self,
        *,
        edits: Sequence[Mapping[str, Any]],
        expected_version: str | None = None,
        file_path: str | None = None,
    ) -> JsonValue:
        params: dict[str, Any] = {"edits": [dict(edit) for edit in edits]}
        _opt(params, "expectedVersion", expected_version)
        _opt(params, "filePath", file_path)
        return await self._request("config/batchWrite", params)

    # ------------------------------------------------------------------ utilities

    async def exec_command(
        self, command: Sequence[str], *, cwd: str | None = None, timeout_ms: int | None = None
    ) -> JsonValue:
        """Run a one-off command outside any thread (`command/exec`). Values the runtime
        cannot run (a `cwd` that is no directory, a NUL byte) are refused here, naming the
        field, instead of as a runtime failure."""
        if (
            isinstance(command, str)
            or not isinstance(command, Sequence)
            or not command
            or not all(isinstance(part, str) for part in command)
            or not command[0]
        ):
            raise InvalidInput(
                "command must be a non-empty list of strings (argv), the first one the program",
                issues=[{"path": ["command"], "message": "invalid"}],
            )
        for index, part in enumerate(command):
            if "\x00" in part:
                raise InvalidInput(
                    f"command[{index}] contains a NUL byte, which no program argument can hold",
                    issues=[{"path": ["command", index], "message": "NUL byte"}],
                )
        params: dict[str, Any] = {"command": list(command)}
        if cwd is not None:
            params["cwd"] = await _existing_directory(cwd, "cwd")
        if timeout_ms is not None:
            if not isinstance(timeout_ms, int) or isinstance(timeout_ms, bool) or timeout_ms < 1:
                raise InvalidInput(
                    f"timeout_ms must be a positive integer (milliseconds), got {timeout_ms!r}",
                    issues=[{"path": ["timeout_ms"], "message": "not a positive integer"}],
                )
            params["timeoutMs"] = timeout_ms
        return await self._request("command/exec", params)

    async def upload_feedback(
        self,
        *,
        classification: str,
        include_logs: bool = False,
        reason: str | None = None,
        thread_id: str | None = None,
    ) -> JsonValue:
        """Send feedback to OpenAI (`feedback/upload`). codex makes one HTTPS request to its
        feedback service; where that host cannot be reached the call fails (RuntimeCallFailed,
        HTTP 502) once the resolver or the connection gives up, about 5 s when no DNS server
        answers. `ManagerConfig.feedback_timeout` bounds the wait."""
        params: dict[str, Any] = {"classification": classification, "includeLogs": include_logs}
        _opt(params, "reason", reason)
        _opt(params, "threadId", thread_id)
        return await self._request(
            "feedback/upload", params, timeout=self._ctx.config.feedback_timeout
        )

    # ------------------------------------------------------------------ account

    async def read_account(self) -> JsonValue:
        return await self._request("account/read", {})

    async def login_start(self, params: Mapping[str, Any]) -> JsonValue:
        """Start a login: {type: apiKey, apiKey} | {type: chatgpt} | {type:
        chatgptAuthTokens, accessToken, chatgptAccountId, chatgptPlanType?}."""
        kind = params.get("type") if isinstance(params, Mapping) else None
        if kind not in ("apiKey", "chatgpt", "chatgptAuthTokens"):
            raise InvalidInput(
                "type must be apiKey, chatgpt or chatgptAuthTokens",
                issues=[{"path": ["type"], "message": "invalid"}],
            )
        return await self._request("account/login/start", dict(params))

    async def login_cancel(self, login_id: str) -> JsonValue:
        return await self._request("account/login/cancel", {"loginId": login_id})

    async def logout(self) -> JsonValue:
        return await self._request("account/logout")

    async def read_rate_limits(self) -> JsonValue:
        return await self._request("account/rateLimits/read")


__all__ = ["RuntimeService"]
