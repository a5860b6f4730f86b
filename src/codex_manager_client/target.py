"""Where a server is and how to reach it: the one value every remote piece is built from.

The remote client (`RemoteManager`), its event stream and the CLI take a `Target`, so a
base URL, a token and a timeout are parsed and checked in one place. Standard library and
attrs only: the CLI builds a `Target` before it knows whether it will need httpx at all.

A stdlib dataclass, not attrs (the project's rule for data classes): this module is on
every `cmgr` start-up, whose budget is 150 ms, and importing attrs costs ~15 ms of it
(docs/performance.md, "CLI start-up").
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

DEFAULT_SERVER = "http://127.0.0.1:3001"
DEFAULT_TIMEOUT = 30.0


def _server(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"server URL {value!r} is not an http(s) URL with a host, e.g. http://127.0.0.1:3001"
        )
    if parts.query or parts.fragment:
        raise ValueError(f"server URL {value!r} must not have a query or a fragment")
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def _timeout(value: float) -> float:
    if not value > 0:
        raise ValueError(f"timeout must be a positive number of seconds, not {value!r}")
    return float(value)


def _prefix(value: str) -> str:
    cleaned = "/" + value.strip("/")
    return "" if cleaned == "/" else cleaned


@dataclasses.dataclass(frozen=True, slots=True)
class Target:
    """A codex-manager server: its base URL (without `/api`), its bearer token, the
    default per-request timeout in seconds, and extra headers sent on every request.
    Checked and normalized when made (ValueError naming the value); a changed copy:
    `dataclasses.replace(target, server=...)`."""

    server: str = DEFAULT_SERVER
    token: str | None = dataclasses.field(default=None, repr=False)
    timeout: float = DEFAULT_TIMEOUT
    api_prefix: str = "/api"
    headers: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "server", _server(self.server))
        object.__setattr__(self, "timeout", _timeout(self.timeout))
        object.__setattr__(self, "api_prefix", _prefix(self.api_prefix))
        object.__setattr__(self, "headers", tuple(self.headers))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Target:
        """The Target the environment describes (`env_fields`), defaults for the rest."""
        return cls(**env_fields(environ))

    def url(self, path: str, query: Mapping[str, object] | None = None) -> str:
        """The absolute URL of API path `path` (`/sessions/x`, relative to the prefix)."""
        url = f"{self.server}{self.api_prefix}{path}"
        if query:
            # A list or tuple repeats the parameter (`threadId=a&threadId=b`).
            pairs = [
                (key, _query_value(item))
                for key, value in query.items()
                if value is not None
                for item in (value if isinstance(value, list | tuple) else (value,))
            ]
            if pairs:
                url += "?" + urlencode(pairs, quote_via=quote)
        return url

    def ws_url(self, path: str, query: Mapping[str, object] | None = None) -> str:
        """`url` with the ws(s) scheme, for `/stream`."""
        url = self.url(path, query)
        return "ws" + url[4:] if url.startswith("http") else url

    def request_headers(self) -> dict[str, str]:
        """Authorization (when a token is set) plus the extra headers."""
        headers = dict(self.headers)
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers


def env_fields(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The Target fields the environment sets: `CODEX_MANAGER_SERVER` and
    `CODEX_MANAGER_TOKEN` (ours), else the original client's `CODEX_MANAGER_API_BASE`,
    `_BEARER_TOKEN`; `CODEX_MANAGER_TIMEOUT_MS`, `CODEX_MANAGER_API_PREFIX`. Only those
    set, so a caller can tell them from defaults (the CLI ranks them between its flags and
    a saved context). ValueError for a timeout that is not a number."""
    env = os.environ if environ is None else environ
    fields: dict[str, Any] = {}
    if server := env.get("CODEX_MANAGER_SERVER") or env.get("CODEX_MANAGER_API_BASE"):
        fields["server"] = server
    if token := env.get("CODEX_MANAGER_TOKEN") or env.get("CODEX_MANAGER_BEARER_TOKEN"):
        fields["token"] = token
    if timeout_ms := env.get("CODEX_MANAGER_TIMEOUT_MS"):
        try:
            fields["timeout"] = float(timeout_ms) / 1000
        except ValueError:
            raise ValueError(
                f"CODEX_MANAGER_TIMEOUT_MS must be a number of milliseconds, not {timeout_ms!r}"
            ) from None
    if prefix := env.get("CODEX_MANAGER_API_PREFIX"):
        fields["api_prefix"] = prefix
    return fields


def _query_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def path_segment(value: str) -> str:
    """An id as one path segment: a hostile id (`../x`, `a/b`) cannot change the route."""
    return quote(value, safe="")
