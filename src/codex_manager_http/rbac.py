"""Who may list and reload extensions: the RBAC of the two extension lifecycle routes
(docs/extensions.md "Lifecycle routes and RBAC").

`CODEX_MANAGER_EXTENSION_RBAC` chooses the mode (the original's three):

- `disabled` (default): a loopback caller is `admin` (actor `local-disabled-rbac`); any other
  caller gets 403 `rbac_disabled_remote_forbidden`.
- `header`: the shared secret in `x-codex-rbac-token` (constant-time comparison), the role
  in `x-codex-role`, the actor in `x-codex-actor`.
- `jwt`: an HMAC-signed JWT (PyJWT), with optional issuer and audience; the role and actor
  come from configurable claims (`role`, `sub`). It is read from `x-codex-rbac-authorization:
  Bearer <jwt>`, or, when the server has no token of its own, from `Authorization: Bearer`
  (the original's header; with a server token that header carries the server's token).

The server's own defences (Host/Origin guard, its bearer token) run before any of this.
"""

from __future__ import annotations

import enum
import hmac
from typing import Any, Final

import attrs
import jwt

from codex_manager_http.settings import ServerSettings, is_loopback


class Role(enum.StrEnum):
    MEMBER = "member"
    ADMIN = "admin"
    OWNER = "owner"
    SYSTEM = "system"


LIST_ROLES: Final = (Role.MEMBER, Role.ADMIN, Role.OWNER, Role.SYSTEM)
RELOAD_ROLES: Final = (Role.ADMIN, Role.OWNER, Role.SYSTEM)

ROLE_HEADER: Final = "x-codex-role"
ACTOR_HEADER: Final = "x-codex-actor"
SECRET_HEADER: Final = "x-codex-rbac-token"
JWT_HEADER: Final = "x-codex-rbac-authorization"
LOCAL_ACTOR: Final = "local-disabled-rbac"


@attrs.frozen
class Caller:
    role: Role
    actor: str | None


@attrs.frozen
class Denied:
    """A refusal: the HTTP status and the original's body `{status, code}` (+ message)."""

    status_code: int
    status: str
    code: str
    message: str
    role: str | None = None
    actor: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)

    def body(self) -> dict[str, Any]:
        return {"status": self.status, "code": self.code, "message": self.message, **self.extra}


def _unauthorized(code: str, message: str) -> Denied:
    return Denied(401, "unauthorized", code, message)


def _bearer(value: str | None) -> str | None:
    """The token of `Bearer <token>`; "" when the header is there but not a bearer."""
    if value is None:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return ""
    return token.strip()


def _header(headers: Any, name: str) -> str | None:
    value = headers.get(name)
    if value is None or not str(value).strip():
        return None
    return str(value).strip()


def resolve(settings: ServerSettings, headers: Any, client_host: str | None) -> Caller | Denied:
    """The caller's role and actor from the request, or why not (no role check here)."""
    mode = settings.extension_rbac
    if mode == "disabled":
        if client_host is None or not is_loopback(client_host):
            return Denied(
                403,
                "forbidden",
                "rbac_disabled_remote_forbidden",
                "extension RBAC is disabled: only loopback callers may use the extension "
                "lifecycle routes (set CODEX_MANAGER_EXTENSION_RBAC=header or jwt)",
            )
        return Caller(Role.ADMIN, LOCAL_ACTOR)
    if mode == "jwt":
        return _resolve_jwt(settings, headers)
    return _resolve_header(settings, headers)


def _resolve_header(settings: ServerSettings, headers: Any) -> Caller | Denied:
    secret = (settings.extension_rbac_header_secret or "").strip()
    if secret:
        offered = _header(headers, SECRET_HEADER)
        if offered is None:
            return _unauthorized(
                "missing_header_token", f"send the shared secret in {SECRET_HEADER}"
            )
        if not hmac.compare_digest(offered.encode(), secret.encode()):
            return _unauthorized("invalid_header_token", f"{SECRET_HEADER} does not match")
    role = _header(headers, ROLE_HEADER)
    if role is None:
        return _unauthorized("missing_role", f"send the role in {ROLE_HEADER}")
    if role not in Role.__members__.values():
        return Denied(
            400,
            "error",
            "invalid_role",
            f"{ROLE_HEADER} must be one of {', '.join(Role)}, got {role[:40]!r}",
        )
    return Caller(Role(role), _header(headers, ACTOR_HEADER))


def _resolve_jwt(settings: ServerSettings, headers: Any) -> Caller | Denied:
    raw = _header(headers, JWT_HEADER)
    if raw is None and not settings.token:
        raw = _header(headers, "authorization")
    where = JWT_HEADER if settings.token else f"Authorization (or {JWT_HEADER})"
    token = _bearer(raw)
    if token is None:
        return _unauthorized("missing_bearer_token", f"send 'Bearer <jwt>' in {where}")
    if not token:
        return _unauthorized("invalid_authorization_header", f"{where} must be 'Bearer <jwt>'")
    try:
        claims = jwt.decode(
            token,
            settings.extension_rbac_jwt_secret or "",
            algorithms=["HS256", "HS384", "HS512"],
            issuer=settings.extension_rbac_jwt_issuer,
            audience=settings.extension_rbac_jwt_audience,
        )
    except jwt.InvalidTokenError as exc:
        return _unauthorized("invalid_bearer_token", f"the JWT is not valid: {exc}")
    role = claims.get(settings.extension_rbac_jwt_role_claim)
    if not isinstance(role, str) or role.strip() not in Role.__members__.values():
        return Denied(
            403,
            "forbidden",
            "invalid_role_claim",
            f"the JWT's {settings.extension_rbac_jwt_role_claim!r} claim must be one of "
            f"{', '.join(Role)}",
        )
    actor = claims.get(settings.extension_rbac_jwt_actor_claim)
    return Caller(
        Role(role.strip()), actor.strip() if isinstance(actor, str) and actor.strip() else None
    )


def authorize(
    settings: ServerSettings, headers: Any, client_host: str | None, allowed: tuple[Role, ...]
) -> Caller | Denied:
    """`resolve`, then the role check (403 `insufficient_role`)."""
    found = resolve(settings, headers, client_host)
    if isinstance(found, Denied) or found.role in allowed:
        return found
    return Denied(
        403,
        "forbidden",
        "insufficient_role",
        f"role {found.role} may not do this; it needs one of {', '.join(allowed)}",
        role=found.role,
        actor=found.actor,
        extra={"required": list(allowed), "role": str(found.role)},
    )


__all__ = [
    "LIST_ROLES",
    "RELOAD_ROLES",
    "Caller",
    "Denied",
    "Role",
    "authorize",
    "resolve",
]
