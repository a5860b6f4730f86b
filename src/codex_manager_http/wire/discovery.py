"""Discovery shapes (the original's section 1.2): runtime pages (models, features, modes,
apps, skills, MCP servers) with `status: "ok"`, and the bodies of the discovery writes."""

from typing import Annotated, Any, NotRequired, TypedDict, cast

import msgspec

from codex_manager_http.wire.common import NonEmpty


class Page(TypedDict):
    """One page of a runtime list (other fields of the runtime's answer are kept)."""

    status: str
    data: list[dict[str, Any]]
    nextCursor: NotRequired[str | None]


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


def skill_config_result(result: Any) -> SkillConfigResult:
    return {"status": "ok", "result": result}


def mcp_oauth_login_result(result: Any) -> McpOauthLoginResult:
    return {"status": "ok", "result": result}
