"""Server settings: command-line options, with `CODEX_MANAGER_*` environment variables as
defaults (documented in docs/configuration.md)."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path

import attrs

from codex_manager_core.errors import InvalidInput
from codex_manager_core.models import (
    APPROVAL_POLICIES,
    FILESYSTEM_SANDBOXES,
    NETWORK_ACCESS_VALUES,
    ApprovalPolicy,
    FilesystemSandbox,
    NetworkAccess,
)
from codex_manager_core.queue.agents import AgentDefinition, load_agents_file
from codex_manager_http.guard import GuardPolicy

ENV_PREFIX = "CODEX_MANAGER_"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 3001
DEFAULT_BODY_LIMIT = 2 * 1024 * 1024
DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_MAX_CONNECTIONS = 1000


class SettingsError(ValueError):
    """A setting has a value we cannot use; the message names it and says what is allowed."""


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _names(value: object) -> tuple[str, ...]:
    """A list setting: a sequence, or one string of names separated by commas or spaces."""
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    if not isinstance(value, list | tuple | set | frozenset):
        raise SettingsError(f"expected a list of names, got {value!r}")
    return tuple(str(item).strip() for item in value if str(item).strip())


@attrs.frozen
class ServerSettings:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    data_dir: Path = Path(".data")
    codex_bin: str | None = None
    codex_home: Path | None = None
    """The runtime's CODEX_HOME; None: `<data_dir>/codex-home`."""
    token: str | None = attrs.field(default=None, repr=False)
    demo: bool = False
    body_limit: int = DEFAULT_BODY_LIMIT
    """Largest request body in bytes (413 above it)."""
    ws_buffer: int = 10_000
    """Events a WebSocket client may fall behind before it gets `lagged`."""
    ws_send_timeout: float = 10.0
    """Seconds a single frame may take to send before the client is disconnected as stuck."""
    defaults_locked: bool = False
    default_approval_policy: ApprovalPolicy = "untrusted"
    default_sandbox: FilesystemSandbox = "read-only"
    default_network_access: NetworkAccess = "restricted"
    """The three controls of new sessions, until someone saves defaults through the API."""
    request_timeout: float | None = None
    runtime_retry_interval: float | None = 300.0
    """Seconds between automatic attempts to start a runtime that has `failed` (crashed
    more often than the restart policy allows); None: only POST /api/runtime/restart."""
    log_level: str = "info"
    demo_chunk_delay: float = 0.02
    """Demo mode: seconds between the pieces of a streamed answer."""
    allowed_hosts: tuple[str, ...] = attrs.field(default=(), converter=_names)
    """Host header names accepted besides the loopback names and `host` (`*`: any)."""
    allowed_origins: tuple[str, ...] = attrs.field(default=(), converter=_names)
    """Origins (`scheme://host[:port]`) whose pages may call the API, besides the server's own."""
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    """Seconds a connection may take to send a request's headers before it is closed."""
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    """Open connections (WebSockets included) above which new requests get 503."""
    agents_file: Path | None = None
    """A TOML file of agent definitions (`[agents.<name>]` tables) for the worker sessions;
    one named like a built-in (`default`, `supervisor`) replaces it."""
    extension_rbac: str = "disabled"
    """Who may list and reload extensions (rbac.py): disabled | header | jwt."""
    extension_rbac_header_secret: str | None = attrs.field(default=None, repr=False)
    """Header mode: the shared secret callers send in `x-codex-rbac-token`."""
    extension_rbac_allow_insecure_header: bool = False
    """Header mode: start on a non-loopback host or without a secret anyway."""
    extension_rbac_jwt_secret: str | None = attrs.field(default=None, repr=False)
    """JWT mode: the HMAC secret (HS256/384/512) tokens are signed with."""
    extension_rbac_jwt_issuer: str | None = None
    extension_rbac_jwt_audience: str | None = None
    extension_rbac_jwt_role_claim: str = "role"
    extension_rbac_jwt_actor_claim: str = "sub"

    def agents(self) -> tuple[AgentDefinition, ...]:
        """The definitions of `agents_file` (none without one); SettingsError naming the
        file and the field when it cannot be used."""
        if self.agents_file is None:
            return ()
        try:
            return load_agents_file(self.agents_file)
        except InvalidInput as exc:
            raise SettingsError(str(exc)) from None

    def check(self) -> None:
        """Refuse unsafe or impossible combinations (before anything starts)."""
        if not 0 <= self.port <= 65535:
            raise SettingsError(f"port must be 0-65535, got {self.port}")
        if not 0 <= self.demo_chunk_delay <= 10:
            raise SettingsError(f"demo chunk delay must be 0-10 s, got {self.demo_chunk_delay}")
        if self.runtime_retry_interval is not None and not self.runtime_retry_interval >= 1:
            raise SettingsError(
                "the runtime retry interval must be at least 1 s (or off), got "
                f"{self.runtime_retry_interval}"
            )
        if self.body_limit < 1024:
            raise SettingsError(f"body limit must be at least 1024 bytes, got {self.body_limit}")
        if self.token is not None and len(self.token) < 16:
            raise SettingsError("the token must be at least 16 characters long")
        if not 0 < self.header_timeout <= 3600:
            raise SettingsError(
                f"the header timeout must be more than 0 and at most 3600 s, got {self.header_timeout}"
            )
        if not 1 <= self.max_connections <= 1_000_000:
            raise SettingsError(f"max connections must be 1-1000000, got {self.max_connections}")
        try:
            GuardPolicy.from_lists(self.host, self.allowed_hosts, self.allowed_origins)
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
        for field, allowed in (
            ("default_approval_policy", APPROVAL_POLICIES),
            ("default_sandbox", FILESYSTEM_SANDBOXES),
            ("default_network_access", NETWORK_ACCESS_VALUES),
        ):
            if getattr(self, field) not in allowed:
                raise SettingsError(
                    f"{field.replace('_', ' ')} must be one of {', '.join(allowed)}, "
                    f"got {getattr(self, field)!r}"
                )
        self.agents()
        self._check_rbac()
        if not is_loopback(self.host) and not self.token:
            raise SettingsError(
                f"refusing to listen on {self.host}: it is not a loopback address and no token "
                "is set. Anyone who can reach it could drive codex on this machine. Pass "
                "--token (or --token-file, or CODEX_MANAGER_TOKEN), or bind 127.0.0.1."
            )

    def _check_rbac(self) -> None:
        mode = self.extension_rbac
        if mode not in RBAC_MODES:
            raise SettingsError(
                f"extension RBAC must be one of {', '.join(RBAC_MODES)}, got {mode!r}"
            )
        if mode == "header" and not self.extension_rbac_allow_insecure_header:
            if not (self.extension_rbac_header_secret or "").strip():
                raise SettingsError(
                    "extension RBAC header mode needs a shared secret "
                    "(CODEX_MANAGER_EXTENSION_RBAC_HEADER_SECRET): without one anyone can "
                    "claim any role (CODEX_MANAGER_EXTENSION_RBAC_ALLOW_INSECURE_HEADER=true "
                    "to start anyway)"
                )
            if not is_loopback(self.host):
                raise SettingsError(
                    f"extension RBAC header mode on {self.host}, not a loopback address: "
                    "headers are the caller's word; use jwt mode "
                    "(CODEX_MANAGER_EXTENSION_RBAC_ALLOW_INSECURE_HEADER=true to start anyway)"
                )
        if mode == "jwt":
            secret = self.extension_rbac_jwt_secret or ""
            if len(secret.strip()) < 32:
                raise SettingsError(
                    "extension RBAC jwt mode needs an HMAC secret of at least 32 characters "
                    "(CODEX_MANAGER_EXTENSION_RBAC_JWT_SECRET)"
                )
            for name in ("role", "actor"):
                if not getattr(self, f"extension_rbac_jwt_{name}_claim").strip():
                    raise SettingsError(f"the JWT {name} claim name must not be empty")


RBAC_MODES = ("disabled", "header", "jwt")


def _bool(value: str, name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise SettingsError(f"{name} must be true or false, got {value!r}")


def _int(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {value!r}") from None


def _float(value: str, name: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {value!r}") from None


def read_token_file(path: str | Path) -> str:
    try:
        token = Path(path).read_text().strip()
    except OSError as exc:
        raise SettingsError(f"cannot read the token file {path}: {exc.strerror}") from exc
    if not token:
        raise SettingsError(f"the token file {path} is empty")
    return token


def env_defaults(environ: Mapping[str, str] | None = None) -> dict[str, object]:
    """Settings from CODEX_MANAGER_* variables (only those that are set)."""
    environ = os.environ if environ is None else environ
    values: dict[str, object] = {}

    def get(name: str) -> str | None:
        value = environ.get(ENV_PREFIX + name)
        return value if value not in (None, "") else None

    if (value := get("HOST")) is not None:
        values["host"] = value
    if (value := get("PORT")) is not None:
        values["port"] = _int(value, ENV_PREFIX + "PORT")
    if (value := get("DATA_DIR")) is not None:
        values["data_dir"] = Path(value)
    if (value := get("CODEX_BIN")) is not None:
        values["codex_bin"] = value
    if (value := get("CODEX_HOME")) is not None:
        values["codex_home"] = Path(value)
    if (value := get("TOKEN")) is not None:
        values["token"] = value
    elif (value := get("TOKEN_FILE")) is not None:
        values["token"] = read_token_file(value)
    if (value := get("DEMO")) is not None:
        values["demo"] = _bool(value, ENV_PREFIX + "DEMO")
    if (value := get("BODY_LIMIT")) is not None:
        values["body_limit"] = _int(value, ENV_PREFIX + "BODY_LIMIT")
    if (value := get("WS_BUFFER")) is not None:
        values["ws_buffer"] = _int(value, ENV_PREFIX + "WS_BUFFER")
    if (value := get("DEFAULTS_LOCKED")) is not None:
        values["defaults_locked"] = _bool(value, ENV_PREFIX + "DEFAULTS_LOCKED")
    for field in ("APPROVAL_POLICY", "SANDBOX", "NETWORK_ACCESS"):
        if (value := get("DEFAULT_" + field)) is not None:
            values["default_" + field.lower()] = value.strip()
    if (value := get("REQUEST_TIMEOUT")) is not None:
        values["request_timeout"] = _float(value, ENV_PREFIX + "REQUEST_TIMEOUT")
    if (value := get("RUNTIME_RETRY_INTERVAL")) is not None:
        name = ENV_PREFIX + "RUNTIME_RETRY_INTERVAL"
        values["runtime_retry_interval"] = (
            None if value.strip().lower() in ("off", "none") else _float(value, name)
        )
    if (value := get("DEMO_CHUNK_DELAY")) is not None:
        values["demo_chunk_delay"] = _float(value, ENV_PREFIX + "DEMO_CHUNK_DELAY")
    if (value := get("ALLOWED_HOSTS")) is not None:
        values["allowed_hosts"] = _names(value)
    if (value := get("ALLOWED_ORIGINS")) is not None:
        values["allowed_origins"] = _names(value)
    if (value := get("HEADER_TIMEOUT")) is not None:
        values["header_timeout"] = _float(value, ENV_PREFIX + "HEADER_TIMEOUT")
    if (value := get("MAX_CONNECTIONS")) is not None:
        values["max_connections"] = _int(value, ENV_PREFIX + "MAX_CONNECTIONS")
    if (value := get("AGENTS_FILE")) is not None:
        values["agents_file"] = Path(value)
    if (value := get("EXTENSION_RBAC")) is not None:
        values["extension_rbac"] = value.strip().lower()
    for field in ("HEADER_SECRET", "JWT_SECRET", "JWT_ISSUER", "JWT_AUDIENCE"):
        if (value := get("EXTENSION_RBAC_" + field)) is not None:
            values["extension_rbac_" + field.lower()] = value
    for field in ("JWT_ROLE_CLAIM", "JWT_ACTOR_CLAIM"):
        if (value := get("EXTENSION_RBAC_" + field)) is not None:
            values["extension_rbac_" + field.lower()] = value.strip()
    if (value := get("EXTENSION_RBAC_ALLOW_INSECURE_HEADER")) is not None:
        name = ENV_PREFIX + "EXTENSION_RBAC_ALLOW_INSECURE_HEADER"
        values["extension_rbac_allow_insecure_header"] = _bool(value, name)
    if (value := get("LOG_LEVEL")) is not None:
        values["log_level"] = value.lower()
    return values
