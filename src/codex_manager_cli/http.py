"""One HTTP request of the CLI, with the standard library's `http.client`.

The CLI makes one request per invocation, so a connection pool buys nothing and httpx
would cost about 145 ms of import on every start-up. Failures that got no answer are the
client's `TransportError` / `ClientTimeout`; an error status is left to the caller (some
statuses are outcomes for some commands), which maps it with `error_from_response`.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import attrs

from codex_manager_client.target import Target

USER_AGENT = "codex-manager-cli"


@attrs.frozen
class Answer:
    """What the server answered: status, body (parsed JSON, else text), content type."""

    status: int
    body: Any
    content_type: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def request_url(target: Target, path: str, query: Mapping[str, Any] | None = None) -> str:
    """The absolute URL; list values repeat the parameter, booleans are true/false."""
    url = target.url(path)
    pairs: list[tuple[str, str]] = []
    for key, value in (query or {}).items():
        values: Sequence[Any] = value if isinstance(value, (list, tuple)) else (value,)
        for item in values:
            if item is None:
                continue
            if isinstance(item, bool):
                item = "true" if item else "false"
            pairs.append((key, str(item)))
    return url + ("?" + urlencode(pairs, quote_via=quote) if pairs else "")


def send(
    target: Target,
    method: str,
    url: str,
    *,
    body: Any = None,
    raw_body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float | None = None,
) -> Answer:
    """Send one request to `url` (from `request_url`) and read the whole answer.

    `body` is sent as JSON (None: no body); `raw_body` as is. Raises TransportError
    (refused, reset, name not found) or ClientTimeout (no answer within the timeout)."""
    parts = urlsplit(url)
    wait = target.timeout if timeout is None else timeout
    connection_type = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_type(parts.netloc, timeout=wait)
    all_headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
    all_headers.update(target.request_headers())
    all_headers.update(headers or {})
    payload = raw_body
    if body is not None and payload is None:
        payload = json.dumps(body, ensure_ascii=False).encode()
        all_headers.setdefault("Content-Type", "application/json")
    target_path = parts.path + ("?" + parts.query if parts.query else "")
    try:
        connection.request(method, target_path or "/", body=payload, headers=all_headers)
        response = connection.getresponse()
        data = response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise _transport_error(exc, target, method, url, wait) from None
    finally:
        connection.close()
    content_type = response.getheader("Content-Type") or ""
    return Answer(response.status, _decode(data, content_type), content_type)


def _transport_error(
    exc: Exception, target: Target, method: str, url: str, wait: float
) -> Exception:
    """The client's error for a request that got no answer (imported only then: the
    errors module loads the core's)."""
    from codex_manager_client.errors import ClientTimeout, TransportError

    if isinstance(exc, TimeoutError):
        return ClientTimeout(f"{method} {url}: no answer within {wait:g} s")
    if isinstance(exc, ConnectionRefusedError):
        return TransportError(unreachable(target))
    if isinstance(exc, socket.gaierror):
        return TransportError(
            f"server not reachable at {target.server}: cannot resolve its name ({exc.strerror})"
        )
    return TransportError(f"{method} {url} failed: {exc or type(exc).__name__}")


def unreachable(target: Target) -> str:
    return (
        f"server not reachable at {target.server} (start it with `codex-manager serve`, "
        "or pass --server/--data-dir)"
    )


def _decode(data: bytes, content_type: str) -> Any:
    if not data:
        return None
    text = data.decode("utf-8", errors="replace")
    if "json" in content_type or content_type == "":
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    return text
