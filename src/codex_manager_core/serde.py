"""JSON forms of the public models: camelCase keys, ISO-8601 UTC times, enum values.

One cattrs converter serves every host, so the embedded API, the HTTP API and the CLI show
the same shapes.
"""

from __future__ import annotations

import enum
import functools
import re
from datetime import UTC, datetime
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

T = TypeVar("T")
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


def iso_exact(value: datetime | None) -> str | None:
    """`2026-11-25T01:02:03.456789Z`: UTC with microseconds (what a datetime holds)."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(timespec="microseconds")[:-6] + "Z"


def parse_iso(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


converter = cattrs.Converter()
converter.register_unstructure_hook(datetime, iso)
converter.register_unstructure_hook(enum.Enum, lambda value: value.value)
# StrEnum's MRO puts `str` before `Enum`, so it needs its own hook to become a plain str.
converter.register_unstructure_hook(enum.StrEnum, lambda value: str(value.value))


def _renames(cls: type) -> dict[str, Any]:
    attrs.resolve_types(cls)
    return {field.name: override(rename=camel(field.name)) for field in attrs.fields(cls)}


@functools.cache
def _camel_hook(cls: type) -> Any:
    return make_dict_unstructure_fn(cls, converter, **_renames(cls))


converter.register_unstructure_hook_factory(attrs.has, _camel_hook)

# The same shapes with every datetime at full (microsecond) precision: the records the HTTP
# answers carry for the remote client (`record` keys), so it rebuilds them exactly.
exact_converter = cattrs.Converter()
exact_converter.register_unstructure_hook(datetime, iso_exact)
exact_converter.register_unstructure_hook(enum.Enum, lambda value: value.value)
exact_converter.register_unstructure_hook(enum.StrEnum, lambda value: str(value.value))


@functools.cache
def _exact_hook(cls: type) -> Any:
    return make_dict_unstructure_fn(cls, exact_converter, **_renames(cls))


exact_converter.register_unstructure_hook_factory(attrs.has, _exact_hook)

# The way back: camelCase JSON to the models (the remote client decodes answers with it).
reader = cattrs.Converter()
reader.register_structure_hook(datetime, lambda value, _: parse_iso(value))
# Free-form JSON (ids that are numbers or strings, payloads) passes through unchanged.
reader.register_structure_hook(int | str, lambda value, _: value)


@functools.cache
def _reader_hook(cls: type) -> Any:
    return make_dict_structure_fn(cls, reader, **_renames(cls))


reader.register_structure_hook_factory(attrs.has, _reader_hook)


def to_json(value: Any) -> Any:
    """A model (or a list/dict of them) as JSON-ready Python data."""
    return converter.unstructure(value)


def to_exact_json(value: Any) -> Any:
    """`to_json` with microsecond times: `from_json` gives back an equal value."""
    return exact_converter.unstructure(value)


def from_json(value: Any, cls: type[T]) -> T:
    """The model `cls` from its JSON form (`to_json` / `to_exact_json`); cattrs names the
    field that does not fit."""
    return reader.structure(value, cls)
