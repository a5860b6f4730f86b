"""One HTTP request of the CLI: a plain socket for http://, `http.client` for https://.

The CLI makes one request per invocation, and its start-up is what a person (or a script
running it in a loop) waits for: httpx costs about 145 ms of import, `http.client` 45 ms
(it loads the `email` package and `ssl`), h11 about 40 ms. An http:// request is therefore
written and read here over a socket: one HTTP/1.1 request with `Connection: close`, its
answer read to the end (status line, headers, then a Content-Length, chunked or
until-close body; nothing else of HTTP is needed for one request). https:// goes through
`http.client`, whose import only such a target pays.

Failures that got no answer are the client's `TransportError` / `ClientTimeout`; an error
status is left to the caller (some statuses are outcomes for some commands), which maps it
with `error_from_response`.
"""

from __future__ import annotations

import dataclasses
import json
import socket
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import SplitResult, quote, urlencode, urlsplit

from codex_manager_client.target import Target

USER_AGENT = "codex-manager-cli"


@dataclasses.dataclass(frozen=True, slots=True)
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
    all_headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
    all_headers.update(target.request_headers())
    all_headers.update(headers or {})
    payload = raw_body
    if body is not None and payload is None:
        payload = json.dumps(body, ensure_ascii=False).encode()
        all_headers.setdefault("Content-Type", "application/json")
    target_path = (parts.path or "/") + ("?" + parts.query if parts.query else "")
    exchange = _exchange_tls if parts.scheme == "https" else _exchange_plain
    try:
        status, content_type, data = exchange(
            parts, method, target_path, payload, all_headers, wait
        )
    except (OSError, MalformedAnswer) as exc:
        raise _transport_error(exc, target, method, url, wait) from None
    return Answer(status, _decode(data, content_type), content_type)


class MalformedAnswer(Exception):
    """The server's bytes are not an HTTP/1.1 answer (or one larger than MAX_ANSWER)."""


#: A bound on one answer: a hostile or broken server cannot make the CLI read forever.
MAX_ANSWER = 256 * 1024 * 1024


def _exchange_plain(
    parts: SplitResult,
    method: str,
    path: str,
    payload: bytes | None,
    headers: Mapping[str, str],
    wait: float,
) -> tuple[int, str, bytes]:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"Content-Length: {len(payload or b'')}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (payload or b"")
    address = (parts.hostname or "", parts.port or 80)
    with socket.create_connection(address, timeout=wait) as sock:
        sock.sendall(request)
        chunks: list[bytes] = []
        size = 0
        while chunk := sock.recv(65536):
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_ANSWER:
                raise MalformedAnswer(f"the answer is larger than {MAX_ANSWER} bytes")
    return _parse_answer(b"".join(chunks))


def _parse_answer(raw: bytes) -> tuple[int, str, bytes]:
    head, separator, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    version, _, rest = status_line.partition(" ")
    if not separator or not version.startswith("HTTP/1.") or not rest[:3].isdigit():
        raise MalformedAnswer(f"not an HTTP/1.1 answer: {status_line[:80]!r}")
    fields: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    if "chunked" in fields.get("transfer-encoding", "").lower():
        body = _unchunk(body)
    elif (length := fields.get("content-length", "")).isdigit():
        body = body[: int(length)]
    return int(rest[:3]), fields.get("content-type", ""), body


def _unchunk(data: bytes) -> bytes:
    out: list[bytes] = []
    position = 0
    while True:
        line_end = data.find(b"\r\n", position)
        if line_end < 0:
            raise MalformedAnswer("a chunked body cut short")
        try:
            size = int(data[position:line_end].split(b";", 1)[0], 16)
        except ValueError:
            raise MalformedAnswer("a chunked body with a bad chunk size") from None
        if size == 0:
            return b"".join(out)
        start = line_end + 2
        if start + size > len(data):
            raise MalformedAnswer("a chunked body cut short")
        out.append(data[start : start + size])
        position = start + size + 2


def _exchange_tls(
    parts: SplitResult,
    method: str,
    path: str,
    payload: bytes | None,
    headers: Mapping[str, str],
    wait: float,
) -> tuple[int, str, bytes]:
    import http.client

    connection = http.client.HTTPSConnection(parts.netloc, timeout=wait)
    try:
        connection.request(method, path, body=payload, headers=dict(headers))
        response = connection.getresponse()
        data = response.read()
    except http.client.HTTPException as exc:
        raise MalformedAnswer(str(exc) or type(exc).__name__) from None
    finally:
        connection.close()
    return response.status, response.getheader("Content-Type") or "", data


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
