"""One place where the remote client meets HTTP: a request in, the JSON answer out, or a
typed error.

Every group of `RemoteManager` sends its calls through `Transport.call`, over the one
`httpx.AsyncClient` they share; the request and its error mapping (an error status ->
`error_from_response`, no answer -> `TransportError`, too slow -> `ClientTimeout`, each
naming the URL) are `http_call.call_api`, the live pieces' too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from codex_manager_client.http_call import call_api
from codex_manager_client.target import Target, path_segment


class Transport:
    """A `Target` and the one `httpx.AsyncClient` every call of a RemoteManager shares."""

    def __init__(self, target: Target, client: httpx.AsyncClient | None = None) -> None:
        self.target = target
        self._own = client is None
        # call_api sends the target's headers (the token) with each request.
        self.client = client or httpx.AsyncClient(timeout=target.timeout)

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
        empty body). Errors are typed (`http_call.call_api`)."""
        return await call_api(
            self.target, method, path, json, query=query, client=self.client, timeout=timeout
        )


seg = path_segment
"""An id as one path segment (a hostile id cannot change the route)."""


def drop_none(values: Mapping[str, Any]) -> dict[str, Any]:
    """A request body without the keys left unset."""
    return {key: value for key, value in values.items() if value is not None}
