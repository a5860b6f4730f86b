"""Discovery routes (the original's section 1.2): models, experimental features,
collaboration modes, apps, skills, remote skills and MCP servers.

Each one proxies one app-server method. Reads answer the runtime's page (`{data,
nextCursor}`) plus `status: "ok"`; writes answer `{status: "ok", result}` like the original.
A method the installed codex does not have answers `501 method_not_supported`.
"""

from typing import Annotated, Any, NotRequired, TypedDict, cast

import msgspec
from litestar import get, post
from litestar.params import Parameter

from codex_manager_http.app import ManagerDep

NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]

#: The original's list query: `cursor` (non-empty) and `limit` (1-200).
Cursor = Annotated[
    str | None, Parameter(min_length=1, description="Opaque cursor from a previous page")
]
Limit = Annotated[int | None, Parameter(ge=1, le=200, description="Page size (1-200)")]


class Page(TypedDict):
    """One page of a runtime list (other fields of the runtime's answer are kept)."""

    status: str
    data: list[dict[str, Any]]
    nextCursor: NotRequired[str | None]


class RuntimeResult(TypedDict):
    """`{status: "ok", result}`: `result` is the runtime's answer, unchanged."""

    status: str
    result: Any


class SkillConfigResult(TypedDict):
    status: str
    result: dict[str, Any]
    """The runtime's answer (`{effectiveEnabled}` with codex 0.163)."""


class McpOauthLoginResult(TypedDict):
    status: str
    result: dict[str, Any]
    """The runtime's answer: `{authorizationUrl, loginId}`. Completion arrives on the
    stream as `mcp_oauth_completed`."""


class SkillConfigBody(TypedDict):
    path: NonEmpty
    enabled: bool


class RemoteSkillBody(TypedDict):
    hazelnutId: NonEmpty
    isPreload: bool


class McpOauthLoginBody(TypedDict):
    scopes: NotRequired[list[str]]
    timeoutSecs: NotRequired[Annotated[int, msgspec.Meta(gt=0)]]


def page(result: Any) -> Page:
    """The runtime's page with `status: "ok"`; `data` and `nextCursor` always present."""
    body: dict[str, Any] = {"status": "ok"}
    if isinstance(result, dict):
        body.update(result)
    data = body.get("data")
    body["data"] = data if isinstance(data, list) else []
    cursor = body.get("nextCursor")
    body["nextCursor"] = cursor if isinstance(cursor, str) else None
    return cast(Page, body)


def ok(result: Any) -> RuntimeResult:
    return {"status": "ok", "result": result}


@get("/api/models", tags=["discovery"], summary="List available models")
async def list_models(manager: ManagerDep, cursor: Cursor = None, limit: Limit = None) -> Page:
    """`model/list`."""
    return page(await manager.runtime.list_models(cursor=cursor, limit=limit))


@get("/api/features/experimental", tags=["discovery"], summary="List experimental features")
async def list_experimental_features(
    manager: ManagerDep, cursor: Cursor = None, limit: Limit = None
) -> Page:
    """`experimentalFeature/list`."""
    return page(await manager.runtime.list_experimental_features(cursor=cursor, limit=limit))


@get("/api/collaboration/modes", tags=["discovery"], summary="List collaboration modes")
async def list_collaboration_modes(
    manager: ManagerDep, cursor: Cursor = None, limit: Limit = None
) -> Page:
    """`collaborationMode/list` (experimental API). The runtime returns every mode at once:
    `cursor` and `limit` are accepted (and checked) for compatibility."""
    return page(await manager.runtime.list_collaboration_modes())


@get("/api/apps", tags=["discovery"], summary="List configured apps/connectors")
async def list_apps(
    manager: ManagerDep,
    cursor: Cursor = None,
    limit: Limit = None,
    thread_id: Annotated[str | None, Parameter(query="threadId", min_length=1)] = None,
    force_refetch: Annotated[bool, Parameter(query="forceRefetch")] = False,
) -> Page:
    """`app/list`."""
    result = await manager.runtime.list_apps(
        cursor=cursor, limit=limit, thread_id=thread_id, force_refetch=force_refetch
    )
    return page(result)


@get("/api/skills", tags=["discovery"], summary="List local skills")
async def list_skills(
    manager: ManagerDep,
    force_reload: Annotated[bool, Parameter(query="forceReload")] = False,
    cwd: Annotated[str | None, Parameter(min_length=1, description="Working directory")] = None,
) -> Page:
    """`skills/list` (for `cwd`, else the runtime's working directory)."""
    return page(await manager.runtime.list_skills(cwd=cwd, force_reload=force_reload))


@post("/api/skills/config", tags=["discovery"], summary="Write local skill config", status_code=200)
async def write_skill_config(manager: ManagerDep, data: SkillConfigBody) -> SkillConfigResult:
    """`skills/config/write`: enable or disable a local skill."""
    result = await manager.runtime.write_skill_config(path=data["path"], enabled=data["enabled"])
    return {"status": "ok", "result": result}


@get("/api/skills/remote", tags=["discovery"], summary="Read remote skill settings")
async def read_remote_skills(manager: ManagerDep) -> RuntimeResult:
    """`skills/remote/read` (absent from recent codex versions: 501)."""
    return ok(await manager.runtime.read_remote_skills())


@post(
    "/api/skills/remote", tags=["discovery"], summary="Write remote skill settings", status_code=200
)
async def write_remote_skills(manager: ManagerDep, data: RemoteSkillBody) -> RuntimeResult:
    """`skills/remote/write` (absent from recent codex versions: 501)."""
    result = await manager.runtime.write_remote_skills(
        hazelnut_id=data["hazelnutId"], is_preload=data["isPreload"]
    )
    return ok(result)


@get("/api/mcp/servers", tags=["discovery"], summary="List MCP server statuses")
async def list_mcp_servers(manager: ManagerDep, cursor: Cursor = None, limit: Limit = None) -> Page:
    """`mcpServerStatus/list`."""
    return page(await manager.runtime.list_mcp_servers(cursor=cursor, limit=limit))


@post("/api/mcp/reload", tags=["discovery"], summary="Reload MCP configuration", status_code=200)
async def reload_mcp(manager: ManagerDep) -> RuntimeResult:
    """`config/mcpServer/reload`."""
    return ok(await manager.runtime.reload_mcp())


@post(
    "/api/mcp/servers/{server_name:str}/oauth/login",
    tags=["discovery"],
    summary="Start MCP OAuth login",
    status_code=200,
)
async def mcp_oauth_login(
    manager: ManagerDep, server_name: str, data: McpOauthLoginBody | None = None
) -> McpOauthLoginResult:
    """`mcpServer/oauth/login`. The body is optional."""
    body = data or {}
    result = await manager.runtime.mcp_oauth_login(
        server_name, scopes=body.get("scopes"), timeout_secs=body.get("timeoutSecs")
    )
    return {"status": "ok", "result": result}


ROUTES = [
    list_models,
    list_experimental_features,
    list_collaboration_modes,
    list_apps,
    list_skills,
    write_skill_config,
    read_remote_skills,
    write_remote_skills,
    list_mcp_servers,
    reload_mcp,
    mcp_oauth_login,
]
