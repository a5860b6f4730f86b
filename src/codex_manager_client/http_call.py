"""One JSON request to the server, for the live pieces (waits, remote tools, the CLI's live
commands) and every call of `RemoteManager` (transport.py): the typed error of an error
answer, `TransportError` / `ClientTimeout` when there is no answer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from codex_manager_client.errors import ClientTimeout, TransportError, error_from_response
from codex_manager_client.target import Target


async def call_api(
    target: Target,
    method: str,
    path: str,
    body: Any = None,
    *,
    query: Mapping[str, object] | None = None,
    client: httpx.AsyncClient | None = None,
    timeout: float | None = None,
) -> Any:
    """`method path` (relative to the API prefix, e.g. `/sessions`) with a JSON `body`;
    the decoded JSON answer (None when it has none). `timeout`: this request's, instead of
    the target's. The errors name the URL."""
    own = client is None
    http = client or httpx.AsyncClient(timeout=target.timeout)
    url = target.url(path, query)
    try:
        response = await http.request(
            method,
            url,
            json=body,
            headers=target.request_headers(),
            timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout,
        )
    except httpx.TimeoutException as exc:
        limit = target.timeout if timeout is None else timeout
        raise ClientTimeout(f"{method} {url}: no answer within {limit:g} s") from exc
    except httpx.TransportError as exc:
        raise TransportError(
            f"{method} {url}: cannot reach {target.server} ({exc or type(exc).__name__})"
        ) from exc
    finally:
        if own:
            await http.aclose()
    try:
        answer: Any = response.json() if response.content else None
    except ValueError:
        answer = None
    if response.status_code >= 400:
        raise error_from_response(response.status_code, answer, method=method, path=path)
    return answer
