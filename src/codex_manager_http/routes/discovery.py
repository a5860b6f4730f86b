"""Discovery routes (the original's section 1.2): models, experimental features,
collaboration modes, apps, skills, remote skills and MCP servers.

Each one proxies one app-server method. Reads answer the runtime's page (`{data,
nextCursor}`) plus `status: "ok"`; writes answer `{status: "ok", result}` like the original.
A method the installed codex does not have answers `501 method_not_supported`. The shapes
are in `wire/discovery.py`.
"""

from typing import Annotated, Any

from litestar import get, post
from litestar.params import FromPath, JSONBody, QueryParameter

from codex_manager_http.host import ManagerDep
from codex_manager_http.wire import discovery as wire
from codex_manager_http.wire.common import RuntimeResult, ok

#: The original's list query: `cursor` (non-empty) and `limit` (1-200).
Cursor = Annotated[
    str | None, QueryParameter(min_length=1, description="Opaque cursor from a previous page")
]
Limit = Annotated[int | None, QueryParameter(ge=1, le=200, description="Page size (1-200)")]


@get("/api/models", tags=["discovery"], summary="List available models")
async def list_models(manager: ManagerDep, cursor: Cursor = None, limit: Limit = None) -> wire.Page:
    """`model/list`."""
    return wire.page(await manager.runtime.list_models(cursor=cursor, limit=limit))


@get("/api/features/experimental", tags=["discovery"], summary="List experimental features")
async def list_experimental_features(
    manager: ManagerDep, cursor: Cursor = None, limit: Limit = None
) -> wire.Page:
    """`experimentalFeature/list`."""
    return wire.page(await manager.runtime.list_experimental_features(cursor=cursor, limit=limit))


@get("/api/collaboration/modes", tags=["discovery"], summary="List collaboration modes")
async def list_collaboration_modes(
    manager: ManagerDep, cursor: Cursor = None, limit: Limit = None
) -> wire.Page:
    """`collaborationMode/list` (experimental API). The runtime returns every mode at once:
    `cursor` and `limit` are accepted (and checked) for compatibility."""
    return wire.page(await manager.runtime.list_collaboration_modes())


@get("/api/apps", tags=["discovery"], summary="List configured apps/connectors")
async def list_apps(
    manager: ManagerDep,
    cursor: Cursor = None,
    limit: Limit = None,
    thread_id: Annotated[str | None, QueryParameter(name="threadId", min_length=1)] = None,
    force_refetch: Annotated[bool, QueryParameter(name="forceRefetch")] = False,
) -> wire.Page:
    """`app/list`."""
    result = await manager.runtime.list_apps(
        cursor=cursor, limit=limit, thread_id=thread_id, force_refetch=force_refetch
    )
    return wire.page(result)


@get("/api/skills", tags=["discovery"], summary="List local skills")
async def list_skills(
    manager: ManagerDep,
    force_reload: Annotated[bool, QueryParameter(name="forceReload")] = False,
    cwd: Annotated[
        str | None, QueryParameter(min_length=1, description="Working directory")
    ] = None,
) -> wire.Page:
    """`skills/list` (for `cwd`, else the runtime's working directory)."""
    return wire.page(await manager.runtime.list_skills(cwd=cwd, force_reload=force_reload))


@post("/api/skills/config", tags=["discovery"], summary="Write local skill config", status_code=200)
async def write_skill_config(
    manager: ManagerDep, data: JSONBody[wire.SkillConfigBody]
) -> wire.SkillConfigResult:
    """`skills/config/write`: enable or disable a local skill."""
    result = await manager.runtime.write_skill_config(path=data["path"], enabled=data["enabled"])
    return wire.skill_config_result(result)


@get("/api/skills/remote", tags=["discovery"], summary="Read remote skill settings")
async def read_remote_skills(manager: ManagerDep) -> RuntimeResult:
    """`skills/remote/read` (absent from recent codex versions: 501)."""
    return ok(await manager.runtime.read_remote_skills())


@post(
    "/api/skills/remote", tags=["discovery"], summary="Write remote skill settings", status_code=200
)
async def write_remote_skills(
    manager: ManagerDep, data: JSONBody[wire.RemoteSkillBody]
) -> RuntimeResult:
    """`skills/remote/write` (absent from recent codex versions: 501)."""
    result = await manager.runtime.write_remote_skills(
        hazelnut_id=data["hazelnutId"], is_preload=data["isPreload"]
    )
    return ok(result)


@get("/api/mcp/servers", tags=["discovery"], summary="List MCP server statuses")
async def list_mcp_servers(
    manager: ManagerDep, cursor: Cursor = None, limit: Limit = None
) -> wire.Page:
    """`mcpServerStatus/list`."""
    return wire.page(await manager.runtime.list_mcp_servers(cursor=cursor, limit=limit))


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
    manager: ManagerDep,
    server_name: FromPath[str],
    data: JSONBody[wire.McpOauthLoginBody | None] = None,
) -> wire.McpOauthLoginResult:
    """`mcpServer/oauth/login`. The body is optional."""
    body = data or {}
    result = await manager.runtime.mcp_oauth_login(
        server_name, scopes=body.get("scopes"), timeout_secs=body.get("timeoutSecs")
    )
    return wire.mcp_oauth_login_result(result)


ROUTES: list[Any] = [
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
