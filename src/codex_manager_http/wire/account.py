"""Account shapes (the original's section 1.4): the account, rate limits, and the login
bodies (discriminated by `type`)."""

from typing import Any, NotRequired, TypedDict, cast

import msgspec

from codex_manager_http.wire.common import NonEmpty, with_status


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


def login_params(body: LoginStartBody) -> dict[str, Any]:
    """`account/login/start` parameters: the body without its unset optional fields."""
    return {key: value for key, value in msgspec.to_builtins(body).items() if value is not None}


def account_view(result: Any) -> AccountView:
    return cast(AccountView, with_status(result))


def rate_limits_view(result: Any) -> RateLimitsView:
    return cast(RateLimitsView, with_status(result))


def account_result(result: Any) -> AccountResult:
    return {"status": "ok", "result": result}
