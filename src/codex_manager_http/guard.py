"""Browser defences that run before routing: a Host allow-list, an Origin check and JSON-only
bodies (docs/security.md).

Why: by default the server listens on loopback without a token, and a web page open in the
user's browser can reach loopback too. Three checks stop such a page:

- DNS rebinding. A page on evil.example re-resolves its own name to 127.0.0.1; its requests
  then reach us and the browser lets it read the answers (same origin, for the browser), but
  they carry `Host: evil.example`. Only allowed Host names pass: the loopback names, the
  configured host and `allowed_hosts`. (An IP literal cannot be rebound: it has no DNS.)
- Cross-site requests. Any page may send a "simple" request (a form, or `fetch` with a
  `text/plain` body) to any origin without asking first, and open a WebSocket to anyone.
  A request that may change state (anything but GET/HEAD/OPTIONS), and every WebSocket
  handshake, is refused when it carries an `Origin` that is neither this server's own nor
  allowed. Clients that send no Origin (curl, CLIs, SDKs, the original's Python client) are
  not browser pages and pass.
- JSON only. A body must be declared JSON (`application/json`, `application/*+json`), which
  a browser sends cross-origin only after a CORS preflight that this server never grants.

A raw ASGI middleware like auth.py's: it runs on every request, before routing (an unknown
path is refused too), so it reads each header once and caches its verdicts on Host values.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, TypeAlias

import attrs

from codex_manager_http.asgi import ASGIApp, Receive, Scope, Send, error_json

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
OriginKey: TypeAlias = tuple[bytes, bytes, bytes]
"""(scheme, host, port) of an http(s) origin, the port filled in from the scheme."""

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_DEFAULT_PORTS = {b"http": b"80", b"https": b"443"}
_WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::", "[::]"})
_NAME = re.compile(rb"[a-z0-9_.-]+|\[[0-9a-f:.]+\]")
_CACHE_SIZE = 256
_SHOWN = 200
"""Characters of a refused header value quoted in the answer."""


def split_authority(value: bytes) -> tuple[bytes, bytes | None] | None:
    """`host[:port]` (a Host header, or an origin without its scheme) as (lower-case host
    without a trailing dot, port or None); None when malformed. IPv6 keeps its brackets."""
    value = value.strip().lower()
    port: bytes | None
    if value.startswith(b"["):
        end = value.find(b"]")
        if end < 0:
            return None
        name, rest = value[: end + 1], value[end + 1 :]
        if rest and rest[:1] != b":":
            return None
        port = rest[1:] if rest else None
    else:
        name, colon, after = value.partition(b":")
        port = after if colon else None
    if port is not None and not (port.isdigit() and len(port) <= 5):
        return None
    name = name.rstrip(b".")
    if not _NAME.fullmatch(name):
        return None
    return name, port


def _ip(name: bytes) -> IPAddress | None:
    try:
        return ipaddress.ip_address(name.strip(b"[]").decode("ascii"))
    except ValueError:
        return None


def _is_loopback(ip: IPAddress) -> bool:
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)


def origin_key(value: bytes) -> OriginKey | None:
    """An http(s) origin (`http://localhost:5173`) as (scheme, host, port); None for anything
    else (`null`, other schemes, a path, malformed)."""
    scheme, separator, authority = value.strip().lower().partition(b"://")
    default_port = _DEFAULT_PORTS.get(scheme)
    if not separator or default_port is None:
        return None
    parts = split_authority(authority)
    if parts is None:
        return None
    name, port = parts
    return scheme, name, port or default_port


def is_json_media_type(value: bytes | None) -> bool:
    """`application/json` or `application/<anything>+json`, with or without parameters."""
    if value is None:
        return False
    media_type = value.partition(b";")[0].strip().lower()
    return media_type == b"application/json" or (
        media_type.startswith(b"application/") and media_type.endswith(b"+json")
    )


@attrs.frozen
class GuardPolicy:
    """Which Host names and which Origins the server accepts."""

    host_names: frozenset[bytes] = frozenset({b"localhost"})
    host_ips: frozenset[IPAddress] = frozenset()
    any_host: bool = False
    """`*` in the allowed hosts: the Host check is off (e.g. behind a reverse proxy)."""
    any_ip: bool = False
    """Bound to every interface: an IP literal is accepted (it cannot be DNS-rebound)."""
    origins: frozenset[OriginKey] = frozenset()
    other_origins: frozenset[bytes] = frozenset()
    """Allowed origins of other schemes (`chrome-extension://...`), compared as written."""

    @classmethod
    def from_lists(
        cls, bind_host: str, allowed_hosts: tuple[str, ...], allowed_origins: tuple[str, ...]
    ) -> GuardPolicy:
        """The policy for a server bound to `bind_host`; ValueError names a bad entry."""
        names = {b"localhost"}
        ips: set[IPAddress] = set()
        any_host = False
        any_ip = bind_host.strip() in _WILDCARD_BINDS
        entries = list(allowed_hosts) + ([] if any_ip else [bind_host])
        for entry in entries:
            text = entry.strip()
            if text == "*":
                any_host = True
                continue
            bare_ip = _ip(text.encode("latin-1", "replace"))
            parts = None if bare_ip else split_authority(text.encode("latin-1", "replace"))
            if bare_ip is None and parts is None:
                raise ValueError(
                    f"allowed host {entry!r} is not a host name or IP address (give names "
                    "like 'devbox.local' or '192.168.1.5', '*' for any; no scheme, no path)"
                )
            ip = bare_ip or (_ip(parts[0]) if parts else None)
            if ip is not None:
                ips.add(ip)
            elif parts is not None:
                names.add(parts[0])
        origins: set[OriginKey] = set()
        others: set[bytes] = set()
        for entry in allowed_origins:
            text = entry.strip().rstrip("/").lower()
            if text in ("*", "null"):
                raise ValueError(
                    f"allowed origin {entry!r} would let any web page drive this server: "
                    "list the exact origins (e.g. http://localhost:5173)"
                )
            key = origin_key(text.encode("latin-1", "replace"))
            scheme, separator, rest = text.partition("://")
            if key is not None:
                origins.add(key)
            elif separator and scheme in ("http", "https"):
                raise ValueError(
                    f"allowed origin {entry!r} is not an origin: give scheme://host[:port] "
                    "with no path (e.g. http://localhost:5173)"
                )
            elif separator and scheme and rest and "/" not in rest:
                others.add(text.encode("latin-1", "replace"))
            else:
                raise ValueError(
                    f"allowed origin {entry!r} is not an origin: give scheme://host[:port] "
                    "(e.g. http://localhost:5173)"
                )
        return cls(
            frozenset(names),
            frozenset(ips),
            any_host,
            any_ip,
            frozenset(origins),
            frozenset(others),
        )

    def host_allowed(self, value: bytes) -> bool:
        if self.any_host:
            return True
        parts = split_authority(value)
        if parts is None:
            return False
        name = parts[0]
        if name in self.host_names:
            return True
        ip = _ip(name)
        if ip is None:
            return False
        return self.any_ip or _is_loopback(ip) or ip in self.host_ips

    def origin_allowed(self, origin: bytes, host: bytes | None) -> bool:
        """Same origin as the request's Host, or in the allow-list."""
        key = origin_key(origin)
        if key is None:
            return origin.strip().lower() in self.other_origins
        if key in self.origins:
            return True
        if host is None:
            return False
        parts = split_authority(host)
        if parts is None:
            return False
        scheme, name, port = key
        host_name, host_port = parts
        # A Host without a port means the default port of the scheme the page used.
        return name == host_name and port == (host_port or _DEFAULT_PORTS[scheme])


def _shown(value: bytes | None) -> str:
    if value is None:
        return "none"
    text = value.decode("latin-1")
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "...")


def host_refusal(host: bytes) -> tuple[int, bytes]:
    return 403, error_json(
        "host_not_allowed",
        f"the Host header {_shown(host)} is not a name this server answers to (a defence "
        "against DNS rebinding: a web page whose own name was made to point at this "
        "machine). Use http://localhost:<port> or http://127.0.0.1:<port>, or allow the "
        "name with --allow-host NAME (or CODEX_MANAGER_ALLOWED_HOSTS).",
    )


def origin_refusal(origin: bytes) -> tuple[int, bytes]:
    return 403, error_json(
        "origin_not_allowed",
        f"cross-origin request refused: Origin {_shown(origin)} is neither this server's "
        "own origin nor an allowed one. A web page may change state or open the WebSocket "
        "only from the server's own origin or one allowed with --allow-origin ORIGIN (or "
        "CODEX_MANAGER_ALLOWED_ORIGINS); clients that send no Origin header (scripts, CLIs, "
        "SDKs) are not affected.",
    )


def content_type_refusal(content_type: bytes | None) -> tuple[int, bytes]:
    return 415, error_json(
        "unsupported_media_type",
        f"request bodies must be JSON: send 'Content-Type: application/json' (got "
        f"{_shown(content_type)})",
    )


async def _refuse(kind: str, scope: Scope, send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    if kind == "http":
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
    elif "websocket.http.response" in (scope.get("extensions") or {}):
        # A real HTTP answer to the handshake, where the server supports it (as auth.py).
        await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 4000 + status, "reason": "forbidden"})


def guard_middleware(policy: GuardPolicy) -> Any:
    """An ASGI middleware factory enforcing `policy` on HTTP and WebSocket requests."""

    def factory(app: ASGIApp) -> ASGIApp:
        hosts: dict[bytes, bool] = {}

        def host_ok(host: bytes) -> bool:
            verdict = hosts.get(host)
            if verdict is None:
                verdict = policy.host_allowed(host)
                if len(hosts) >= _CACHE_SIZE:  # Host values are client-chosen: stay bounded
                    hosts.clear()
                hosts[host] = verdict
            return verdict

        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            kind = scope["type"]
            if kind != "http" and kind != "websocket":
                await app(scope, receive, send)
                return
            host = origin = content_type = None
            has_body = False
            for name, value in scope["headers"]:
                if name == b"host":
                    host = value
                elif name == b"origin":
                    origin = value
                elif name == b"content-type":
                    content_type = value
                elif name == b"content-length":
                    has_body = value.strip() != b"0"
                elif name == b"transfer-encoding":
                    has_body = True
            # No Host at all is an HTTP/1.0 client, not a browser: browsers always send it.
            if host is not None and not host_ok(host):
                await _refuse(kind, scope, send, *host_refusal(host))
                return
            if kind == "websocket" or scope["method"] not in _SAFE_METHODS:
                if origin is not None and not policy.origin_allowed(origin, host):
                    await _refuse(kind, scope, send, *origin_refusal(origin))
                    return
                if kind == "http" and has_body and not is_json_media_type(content_type):
                    await _refuse(kind, scope, send, *content_type_refusal(content_type))
                    return
            await app(scope, receive, send)

        return middleware

    return factory
