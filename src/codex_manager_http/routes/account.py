"""Account routes (the original's section 1.4), all proxied to app-server: read the
account, log in (API key, ChatGPT browser flow, or ChatGPT tokens), cancel a login, log out,
read rate limits.

Completion of a browser login arrives on the stream as `account_login_completed`; account
changes as `account_updated`.
"""

from typing import Any

from litestar import get, post
from litestar.params import JSONBody

from codex_manager_http.host import ManagerDep
from codex_manager_http.wire import account as wire


@get("/api/account", tags=["account"], summary="Read account state")
async def read_account(manager: ManagerDep) -> wire.AccountView:
    """`account/read`."""
    return wire.account_view(await manager.runtime.read_account())


@post("/api/account/login/start", tags=["account"], summary="Start account login", status_code=200)
async def login_start(
    manager: ManagerDep, data: JSONBody[wire.LoginStartBody]
) -> wire.AccountResult:
    """`account/login/start`, with a body discriminated by `type`."""
    return wire.account_result(await manager.runtime.login_start(wire.login_params(data)))


@post(
    "/api/account/login/cancel", tags=["account"], summary="Cancel account login", status_code=200
)
async def login_cancel(
    manager: ManagerDep, data: JSONBody[wire.LoginCancelBody]
) -> wire.AccountResult:
    """`account/login/cancel`."""
    return wire.account_result(await manager.runtime.login_cancel(data["loginId"]))


@post("/api/account/logout", tags=["account"], summary="Logout account", status_code=200)
async def logout(manager: ManagerDep) -> wire.AccountResult:
    """`account/logout`."""
    return wire.account_result(await manager.runtime.logout())


@get("/api/account/rate-limits", tags=["account"], summary="Read account rate limits")
async def rate_limits(manager: ManagerDep) -> wire.RateLimitsView:
    """`account/rateLimits/read`. 409 `codex_auth_required` when codex is not logged in (not
    401, which means a missing server token)."""
    return wire.rate_limits_view(await manager.runtime.read_rate_limits())


ROUTES: list[Any] = [read_account, login_start, login_cancel, logout, rate_limits]
