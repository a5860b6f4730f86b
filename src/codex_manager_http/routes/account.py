"""Account routes (the original's section 1.4), all proxied to app-server: read the
account, log in (API key, ChatGPT browser flow, or ChatGPT tokens), cancel a login, log out,
read rate limits.

Completion of a browser login arrives on the stream as `account_login_completed`; account
changes as `account_updated`.
"""

from typing import Annotated, Any, NotRequired, TypedDict, cast

import msgspec
from litestar import get, post

from codex_manager_http.app import ManagerDep

NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]


class AccountView(TypedDict):
    """`account/read`."""

    status: str
    account: NotRequired[dict[str, Any] | None]
    requiresOpenaiAuth: NotRequired[bool]


class RateLimitsView(TypedDict):
    """`account/rateLimits/read`."""

    status: str
    rateLimits: NotRequired[dict[str, Any]]


class AccountResult(TypedDict):
    status: str
    result: Any
    """The runtime's answer, unchanged (login start with `chatgpt`: `{type, loginId,
    authUrl}`)."""


class ApiKeyLogin(msgspec.Struct, tag_field="type", tag="apiKey"):
    """Log in with an OpenAI API key."""

    apiKey: NonEmpty


class ChatgptLogin(msgspec.Struct, tag_field="type", tag="chatgpt"):
    """Start the ChatGPT browser flow: the answer carries `authUrl`."""


class ChatgptAuthTokensLogin(msgspec.Struct, tag_field="type", tag="chatgptAuthTokens"):
    """Log in with ChatGPT tokens obtained elsewhere."""

    accessToken: NonEmpty
    chatgptAccountId: NonEmpty
    chatgptPlanType: NonEmpty | None = None


LoginStartBody = ApiKeyLogin | ChatgptLogin | ChatgptAuthTokensLogin


class LoginCancelBody(TypedDict):
    loginId: NonEmpty


def _with_status(result: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"status": "ok"}
    if isinstance(result, dict):
        body.update(result)
    else:
        body["result"] = result
    return body


@get("/api/account", tags=["account"], summary="Read account state")
async def read_account(manager: ManagerDep) -> AccountView:
    """`account/read`."""
    return cast(AccountView, _with_status(await manager.runtime.read_account()))


@post("/api/account/login/start", tags=["account"], summary="Start account login", status_code=200)
async def login_start(manager: ManagerDep, data: LoginStartBody) -> AccountResult:
    """`account/login/start`, with a body discriminated by `type`."""
    params: dict[str, Any] = {
        key: value for key, value in msgspec.to_builtins(data).items() if value is not None
    }
    return {"status": "ok", "result": await manager.runtime.login_start(params)}


@post(
    "/api/account/login/cancel", tags=["account"], summary="Cancel account login", status_code=200
)
async def login_cancel(manager: ManagerDep, data: LoginCancelBody) -> AccountResult:
    """`account/login/cancel`."""
    return {"status": "ok", "result": await manager.runtime.login_cancel(data["loginId"])}


@post("/api/account/logout", tags=["account"], summary="Logout account", status_code=200)
async def logout(manager: ManagerDep) -> AccountResult:
    """`account/logout`."""
    return {"status": "ok", "result": await manager.runtime.logout()}


@get("/api/account/rate-limits", tags=["account"], summary="Read account rate limits")
async def rate_limits(manager: ManagerDep) -> RateLimitsView:
    """`account/rateLimits/read`. 409 `codex_auth_required` when codex is not logged in (not
    401, which means a missing server token)."""
    return cast(RateLimitsView, _with_status(await manager.runtime.read_rate_limits()))


ROUTES = [read_account, login_start, login_cancel, logout, rate_limits]
