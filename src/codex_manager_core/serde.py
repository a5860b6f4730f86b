"""JSON forms of the public models: camelCase keys, ISO-8601 UTC times, enum values.

One cattrs converter serves every host, so the embedded API, the HTTP API and the CLI show
the same shapes.
"""

from __future__ import annotations

import enum
import functools
import re
from datetime import UTC, datetime
from typing import Any

import attrs
import cattrs
from cattrs.gen import make_dict_unstructure_fn, override

_CAMEL = re.compile(r"_([a-z0-9])")


def camel(name: str) -> str:
    return _CAMEL.sub(lambda match: match.group(1).upper(), name)


def iso(value: datetime | None) -> str | None:
    """`2026-11-25T01:02:03.456Z`: UTC with milliseconds."""
    if value is None:
        return None
    if value.tzinfo is not UTC:  # the hot path (every event) is already UTC
        value = value.astimezone(UTC)
    return value.isoformat(timespec="milliseconds")[:-6] + "Z"


def parse_iso(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


converter = cattrs.Converter()
converter.register_unstructure_hook(datetime, iso)
converter.register_unstructure_hook(enum.Enum, lambda value: value.value)
# StrEnum's MRO puts `str` before `Enum`, so it needs its own hook to become a plain str.
converter.register_unstructure_hook(enum.StrEnum, lambda value: str(value.value))


@functools.cache
def _camel_hook(cls: type) -> Any:
    attrs.resolve_types(cls)
    overrides = {field.name: override(rename=camel(field.name)) for field in attrs.fields(cls)}
    return make_dict_unstructure_fn(cls, converter, **overrides)  # type: ignore[arg-type]


converter.register_unstructure_hook_factory(attrs.has, _camel_hook)


def to_json(value: Any) -> Any:
    """A model (or a list/dict of them) as JSON-ready Python data."""
    return converter.unstructure(value)
