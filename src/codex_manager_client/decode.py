"""The server's answers back into the core's typed records (the embedded Manager's results).

Each view the server answers with carries, additively, a `record` key: the core record
exactly (times in microseconds), without the fields the view already shows whole under a
name of its own (e.g. a session's `controls` are its `sessionControls`). cattrs
(`codex_manager_core.serde.from_json`) builds the record; nothing is copied field by field.
A body that does not fit raises `InvalidResponse` naming what was wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from codex_manager_client.errors import ClientError
from codex_manager_core import InteractiveRequest, Project, SessionRecord, TranscriptEntry
from codex_manager_core.queue.model import Job
from codex_manager_core.serde import from_json

T = TypeVar("T")


class InvalidResponse(ClientError):
    """The server answered 2xx with a body this client cannot read (a server too old to
    carry the `record` keys, or not a codex-manager server)."""

    code = "invalid_response"


def field(body: Any, name: str) -> Any:
    """`body[name]`, or InvalidResponse naming the missing key."""
    if not isinstance(body, Mapping) or name not in body:
        raise InvalidResponse(f"the server's answer has no {name!r}: {str(body)[:200]}")
    return body[name]


def record(view: Any, cls: type[T], shown: Mapping[str, str] | None = None) -> T:
    """`cls` from `view["record"]` plus the fields the view shows whole
    (`{record field: view key}`)."""
    data = dict(field(view, "record"))
    for name, key in (shown or {}).items():
        data[name] = view.get(key)
    return structure(data, cls)


def structure(data: Any, cls: type[T]) -> T:
    try:
        return from_json(data, cls)
    except Exception as exc:  # cattrs raises ClassValidationError groups and KeyErrors
        raise InvalidResponse(f"the server's answer is not a {cls.__name__}: {exc!r}") from exc


def session(view: Any) -> SessionRecord:
    return record(view, SessionRecord, {"controls": "sessionControls"})


def project(view: Any) -> Project:
    return record(view, Project)


def request(view: Any) -> InteractiveRequest:
    return record(view, InteractiveRequest, {"params": "details"})


def requests(body: Any) -> list[InteractiveRequest]:
    return [request(view) for view in field(body, "data")]


def job(view: Any) -> Job:
    return record(
        view,
        Job,
        {"payload": "payload", "result": "result", "progress": "progress", "steps": "steps"},
    )


def transcript_entry(body: Any) -> TranscriptEntry:
    return structure(field(body, "record"), TranscriptEntry)
