"""What the route modules share: the OpenAPI entries of their error answers, and the way a
route answers a Manager error with the original's own body (`Reshaped`).

Its own module so that no route module imports another for these (they lived in
`sessions.py`, which every domain then depended on).
"""

from collections.abc import Mapping
from typing import Any, cast

from litestar import Request, Response
from litestar.openapi.datastructures import ResponseSpec

from codex_manager_core.errors import ManagerError
from codex_manager_http.errors import manager_error_response
from codex_manager_http.wire.common import DeletedBody, ErrorBody

_DESCRIPTIONS = {
    400: "Invalid request (body, query or values)",
    403: "The session is system-owned (code system_session)",
    404: "Not found",
    409: "Conflict with the current state",
    410: "The session was deleted",
    423: "The default controls are locked",
    429: "The job queue is full (code queue_full): retry once jobs have finished",
    500: "The runtime failed the call",
    501: "The installed codex does not support this method",
    503: "The runtime is not running (retry shortly)",
}


def error_responses(*codes: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the error statuses a route can answer."""
    return {
        code: ResponseSpec(
            data_container=DeletedBody if code == 410 else ErrorBody,
            description=_DESCRIPTIONS[code],
        )
        for code in codes
    }


class Reshaped(Exception):
    """Raised by a route to answer a Manager error with the original's own body."""

    def __init__(self, response: Response[Any]) -> None:
        super().__init__(response.content)
        self.response = response


def _answer_reshaped(request: Request[Any, Any, Any], exc: Reshaped) -> Response[Any]:
    return exc.response


#: `exception_handlers=` of the routes that raise Reshaped.
RESHAPED: dict[Any, Any] = {Reshaped: _answer_reshaped}


def reshaped(
    exc: ManagerError, status: str | None = None, *, status_code: int | None = None, **extra: Any
) -> Reshaped:
    """The Manager error's response with the original's `status` word and extra fields
    (and, where the original answered another one, its HTTP status code)."""
    response = manager_error_response(exc)
    body = dict(cast(Mapping[str, Any], response.content))
    if status is not None:
        body["status"] = status
    body.update(extra)
    return Reshaped(
        Response(body, status_code=status_code or response.status_code, headers=response.headers)
    )
