"""One JSON request to the server, for the live pieces (waits, remote tools, the CLI's live
commands): the typed error of an error answer, `TransportError` / `ClientTimeout` when there
is no answer. The full remote client has its own transport; these pieces need only this."""

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
) -> Any:
    """`method path` (relative to the API prefix, e.g. `/sessions`) with a JSON `body`;
    the decoded JSON answer (None when it has none)."""
    own = client is None
    http = client or httpx.AsyncClient(timeout=target.timeout)
    try:
        response = await http.request(
            method,
            target.url(path, query),
            json=body,
            headers=target.request_headers(),
        )
    except httpx.TimeoutException as exc:
        raise ClientTimeout(f"{method} {path}: no answer within {target.timeout:g} s") from exc
    except httpx.TransportError as exc:
        raise TransportError(
            f"{method} {path}: cannot reach {target.server} ({exc or type(exc).__name__})"
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
