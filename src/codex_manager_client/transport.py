"""One place where the remote client meets HTTP: a request in, the JSON answer out, or a
typed error.

Every group of `RemoteManager` sends its calls through `Transport.call`, so the error
mapping (an error status -> `error_from_response`, no answer -> `TransportError`, too slow
-> `ClientTimeout`, each naming the URL) is written once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from codex_manager_client.errors import ClientTimeout, TransportError, error_from_response
from codex_manager_client.target import Target, path_segment


class Transport:
    """A `Target` and the one `httpx.AsyncClient` every call of a RemoteManager shares."""

    def __init__(self, target: Target, client: httpx.AsyncClient | None = None) -> None:
        self.target = target
        self._own = client is None
        self.client = client or httpx.AsyncClient(
            headers=target.request_headers(), timeout=target.timeout
        )

    async def aclose(self) -> None:
        if self._own:
            await self.client.aclose()

    async def call(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, object] | None = None,
        json: Any = None,
        timeout: float | None = None,
    ) -> Any:
        """`method path` (relative to the API prefix); the decoded JSON answer (None for an
        empty body). Errors are typed: see the module docstring."""
        url = self.target.url(path, query)
        kwargs: dict[str, Any] = {}
        if json is not None:
            kwargs["json"] = json
        if timeout is not None:
            kwargs["timeout"] = timeout
        if self._own is False:
            kwargs["headers"] = self.target.request_headers()
        try:
            response = await self.client.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            limit = timeout if timeout is not None else self.target.timeout
            raise ClientTimeout(f"{method} {url}: no answer within {limit:g} s") from exc
        except httpx.HTTPError as exc:
            raise TransportError(f"{method} {url}: {type(exc).__name__}: {exc}") from exc
        body = _body(response)
        if response.status_code >= 400:
            raise error_from_response(response.status_code, body, method=method, path=url)
        return body


def _body(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


def seg(value: str) -> str:
    """An id as one path segment (see `path_segment`)."""
    return path_segment(value)


def drop_none(values: Mapping[str, Any]) -> dict[str, Any]:
    """A request body without the keys left unset."""
    return {key: value for key, value in values.items() if value is not None}
