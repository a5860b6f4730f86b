"""Row codecs shared by the store adapters: records to rows and back.

Both adapters keep records in the same encoded form: JSON values as compact JSON text,
datetimes as float epoch seconds (UTC), enums by value, booleans as 0/1. `SqliteStore`
writes these tuples to its tables; `MemoryStore` encodes and decodes every record it
stores, so what it hands back is exactly what `SqliteStore` would hand back (tz-aware UTC
datetimes, JSON round-tripped payloads, the same errors for values that cannot be stored).
That is what lets one contract suite hold both adapters to the same behaviour.

The records are encoded and decoded by a configured `cattrs.Converter` (`ROW`): one hook
per value type (validating ones for encoding: a wrong type is refused, not stored) and a
per-field override for the JSON columns; a record's row is its fields in declaration order.
A new record type needs one `RecordCodec(...)` line at the bottom of this module.

Kept by hand, and why:
- the event row (`store.event_rows`): every delta goes through it, and a generated cattrs
  function builds a dict per row that the ledger does not need (bench/store_ops.py and
  bench/event_pipeline.py measure this path);
- the compact JSON encoder (`dumps`): cattrs does not serialize to text, and the
  standard `json.dumps` rebuilds its encoder on every call;
- the listing cursor (sessions, jobs): an opaque string, not a record.

Errors raised here (`TypeError`, `ValueError`) are programming errors of the caller: a
naive datetime, a payload that is not JSON, a field name that does not exist. They name the
record and field (`session.archived: ...`).
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Generic, TypeAlias, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from codex_manager_core.models import (
    Controls,
    InteractiveRequest,
    Project,
    SessionRecord,
    Tombstone,
    TranscriptEntry,
    TurnRecord,
)
from codex_manager_core.ports.store.workers import WorkerRecord
from codex_manager_core.queue.model import Job, RunningContext

Row: TypeAlias = tuple[Any, ...]
T = TypeVar("T")

# ---------------------------------------------------------------------- JSON text


def _json_default(value: object) -> object:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (set, frozenset)):
        raise TypeError(f"a {type(value).__name__} is not JSON (use a list)")
    raise TypeError(f"a {type(value).__name__} is not JSON")


def _make_dumps() -> Callable[[Any], str]:
    """Compact, strict (no NaN) JSON. `json.dumps` builds a new C encoder on every call,
    which is 2/3 of its cost for a small payload; the event hot path encodes each payload,
    so keep one C encoder (stateless: markers=None, no circularity bookkeeping that an
    exception could leave dirty; a cycle ends in RecursionError instead)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - interpreters without the C accelerator
        encoder = json.JSONEncoder(
            ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_json_default
        )
        return encoder.encode
    c_encode = make(
        None, _json_default, json.encoder.encode_basestring, None, ":", ",", False, False, False
    )

    def dumps(value: Any) -> str:
        return "".join(c_encode(value, 0))

    return dumps


dumps = _make_dumps()


def dump_json(value: Any, what: str = "value") -> str:
    try:
        return dumps(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} cannot be stored as JSON: {exc}") from exc


def load_json_or_none(text: str | None) -> Any:
    return None if text is None else json.loads(text)


# ---------------------------------------------------------------------- scalars


def enc_dt(value: Any, what: str = "datetime") -> float:
    if type(value) is datetime and value.tzinfo is UTC:  # the common case, fast
        return value.timestamp()
    if not isinstance(value, datetime):
        raise TypeError(f"{what} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (UTC), got naive {value!r}")
    return value.timestamp()


def dec_dt(value: float) -> datetime:
    # Float seconds near the present keep sub-microsecond resolution (ulp ~0.24 us), and
    # fromtimestamp rounds to the nearest microsecond: a datetime survives exactly.
    return datetime.fromtimestamp(value, UTC)


def check_str(value: Any, what: str = "value") -> str:
    if type(value) is not str and not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    return value


def _enc_str(value: Any) -> str:
    return check_str(value, "a text field")


def _enc_bool(value: Any) -> int:
    if not isinstance(value, bool):
        raise TypeError(f"must be a bool, not {type(value).__name__}")
    return int(value)


def _enc_int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"must be an int, not {type(value).__name__}")
    return value


def _enc_rpc_id(value: Any) -> int | str:
    return value if isinstance(value, str) else _enc_int(value)


def _enc_enum(cls: type[enum.Enum]) -> Callable[[Any], str]:
    def encode(value: Any) -> str:
        try:
            return str(cls(value).value)
        except ValueError:
            raise ValueError(f"{value!r} is not a {cls.__name__}") from None

    return encode


def _optional_arg(tp: Any) -> Any:
    """X for `X | None` (one X), else None."""
    if typing.get_origin(tp) not in (typing.Union, types.UnionType):
        return None
    args = [arg for arg in typing.get_args(tp) if arg is not type(None)]
    return args[0] if len(args) == 1 and len(typing.get_args(tp)) == 2 else None


def _is_literal(tp: Any) -> bool:
    return typing.get_origin(tp) is typing.Literal


def _make_row_converter() -> cattrs.Converter:
    """The converter between records and their row form (see the module docstring)."""
    conv = cattrs.Converter(detailed_validation=False)
    # Encoding: validate, then convert.
    conv.register_unstructure_hook(str, _enc_str)
    conv.register_unstructure_hook(bool, _enc_bool)
    conv.register_unstructure_hook(int, _enc_int)
    conv.register_unstructure_hook(datetime, enc_dt)
    # A Literal of strings is stored as its string (as any str: the models do not
    # validate them either, and a read must return what was written).
    conv.register_unstructure_hook_factory(_is_literal, lambda _tp: _enc_str)
    conv.register_structure_hook_factory(_is_literal, lambda _tp: lambda value, _: value)

    def optional_unstructure(tp: Any) -> Callable[[Any], Any]:
        inner = conv.get_unstructure_hook(_optional_arg(tp))
        return lambda value: None if value is None else inner(value)

    conv.register_unstructure_hook_factory(
        lambda tp: _optional_arg(tp) is not None, optional_unstructure
    )
    # Decoding: rows hold exactly what encoding wrote.
    conv.register_structure_hook(datetime, lambda value, _: dec_dt(value))
    # Controls live in a JSON column; their free-form settings go to JSON as they are
    # (a value JSON cannot hold fails there, not silently converted by a hook).
    conv.register_unstructure_hook(
        Controls,
        make_dict_unstructure_fn(Controls, conv, settings=override(unstruct_hook=_identity)),
    )
    conv.register_structure_hook(
        Controls,
        make_dict_structure_fn(Controls, conv, settings=override(struct_hook=_as_is)),
    )
    return conv


def _identity(value: Any) -> Any:
    return value


def _as_is(value: Any, _type: Any) -> Any:
    return value


ROW = _make_row_converter()
"""The converter between records and their row form."""


def controls_to_json(controls: Any, what: str = "controls") -> str:
    if not isinstance(controls, Controls):
        raise TypeError(f"{what} must be Controls, not {type(controls).__name__}")
    return dump_json(ROW.unstructure(controls, Controls), what)


def controls_from_json(text: str) -> Controls:
    # Built directly, not through the converter: rows were checked when written, and a
    # listing decodes this for each of its hundred rows (the converter took 40% longer).
    data = json.loads(text)
    return Controls(
        model=data["model"],
        approval_policy=data["approval_policy"],
        network_access=data["network_access"],
        filesystem_sandbox=data["filesystem_sandbox"],
        settings=data["settings"],
    )


def _tools_to_json(value: Any) -> str:
    if isinstance(value, (str, bytes, Mapping)):
        raise TypeError("must be a sequence of JSON objects")
    return dump_json(list(value))


def _json_or_none(value: Any) -> str | None:
    return None if value is None else dump_json(value)


# ---------------------------------------------------------------------- records


def _is_enum(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, enum.Enum)


#: Field types whose stored value is already the value (no hook call when decoding).
_STORED_AS_IS = (str, int, str | None, int | None)


def _field_hook(tp: Any, field_override: Any) -> Callable[[Any, Any], Any] | None:
    """The structure hook from a stored value to a field of type `tp`, None if there is
    none (the stored value is the value)."""
    if field_override is not None and field_override.struct_hook is not None:
        hook: Callable[[Any, Any], Any] = field_override.struct_hook
    elif tp in _STORED_AS_IS or _is_literal(tp):
        return None
    else:
        hook = ROW.get_structure_hook(tp)
    return None if hook is _as_is else hook


def _make_decoder(cls: type[T], fields: Sequence[Any], overrides: Mapping[str, Any]) -> Any:
    """`row -> cls(...)` as one generated function, the way cattrs generates its own: each
    column passed through, or through its field's hook, with no loop and no copy of the
    row (a listing decodes a hundred rows per page)."""
    namespace: dict[str, Any] = {"cls": cls}
    arguments = []
    for index, field in enumerate(fields):
        hook = _field_hook(field.type, overrides.get(field.name))
        if hook is None:
            arguments.append(f"row[{index}]")
        else:
            namespace[f"hook_{index}"], namespace[f"type_{index}"] = hook, field.type
            arguments.append(f"hook_{index}(row[{index}], type_{index})")
    source = f"def decode(row):\n    return cls({', '.join(arguments)})\n"
    exec(compile(source, f"<decode {cls.__name__}>", "exec"), namespace)
    return namespace["decode"]


#: The JSON columns: (encode, decode) per value shape.
JSON = override(unstruct_hook=dump_json, struct_hook=lambda text, _: json.loads(text))
JSON_OR_NONE = override(
    unstruct_hook=_json_or_none, struct_hook=lambda text, _: load_json_or_none(text)
)
CONTROLS = override(
    unstruct_hook=controls_to_json, struct_hook=lambda text, _: controls_from_json(text)
)
JSON_TUPLE = override(
    unstruct_hook=_tools_to_json, struct_hook=lambda text, _: tuple(json.loads(text))
)
RPC_ID = override(unstruct_hook=_enc_rpc_id, struct_hook=_as_is)


def _running_context_to_json(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, RunningContext):
        raise TypeError(f"must be a RunningContext, not {type(value).__name__}")
    return dump_json(ROW.unstructure(value, RunningContext))


def _running_context_from_json(text: str | None) -> RunningContext | None:
    return None if text is None else RunningContext(**json.loads(text))


RUNNING_CONTEXT = override(
    unstruct_hook=_running_context_to_json,
    struct_hook=lambda text, _: _running_context_from_json(text),
)


_VALID_NAMES_KEPT = 256
"""Sets of patch names a codec remembers as valid (the code's own patches: a few)."""


class RecordCodec(Generic[T]):
    """One attrs record type <-> its row: its fields in declaration order, each converted
    by the row converter's hook for its type (or the override given for it).

    Encoding is cattrs' generated function. Decoding is generated here: the converter's
    structure hook of each field that needs converting, and the record built positionally
    (cattrs' own dict-based structure function cost 50% more per row, 20 us against 13 us
    for a session, which every listing pays)."""

    def __init__(self, cls: type[T], kind: str, **overrides: Any) -> None:
        self.cls = cls
        self.kind = kind
        """The record's name in error messages (`session.title: ...`)."""
        fields = attrs.fields(attrs.resolve_types(cls))  # type: ignore[type-var, arg-type]
        for field in fields:  # enums are checked against their own class
            if _is_enum(field.type) and field.name not in overrides:
                overrides[field.name] = override(unstruct_hook=_enc_enum(field.type))
        self.columns: tuple[str, ...] = tuple(field.name for field in fields)
        self._unstructure = make_dict_unstructure_fn(cls, ROW, **overrides)
        self._field_hooks: dict[str, Callable[[Any], Any]] = {
            field.name: (
                overrides[field.name].unstruct_hook
                if field.name in overrides
                else ROW.get_unstructure_hook(field.type)
            )
            for field in fields
        }
        self._valid_names: set[tuple[object, ...]] = set()
        """(fixed, *names) of the patches whose names were found valid (`encode_changes`)."""
        self.decode: Callable[[Row], T] = _make_decoder(cls, fields, overrides)
        """A stored row as the record."""

    def encode(self, record: T) -> Row:
        if type(record) is not self.cls:
            raise TypeError(
                f"{self.kind} must be a {self.cls.__name__}, not {type(record).__name__}"
            )
        try:
            return tuple(self._unstructure(record).values())
        except (TypeError, ValueError):
            for name in self.columns:  # find the field, to say which one it was
                self.encode_field(name, getattr(record, name))
            raise

    def encode_field(self, name: str, value: Any) -> Any:
        try:
            return self._field_hooks[name](value)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{self.kind}.{name}: {exc}") from exc

    def encode_changes(self, changes: Mapping[str, Any], fixed: tuple[str, ...]) -> dict[str, Any]:
        """Validate the field names and encode the values of a patch: column -> value.
        An unknown name, or one in `fixed`, is a programming error (ValueError)."""
        names: tuple[object, ...] = (fixed, *changes)
        hooks = self._field_hooks
        if names in self._valid_names:
            # Names checked before (a queue transition's are the same every time): one
            # pass, the field named only if a value fails.
            try:
                return {name: hooks[name](value) for name, value in changes.items()}
            except (TypeError, ValueError):
                pass  # encoded again below, to say which field
        for name in changes:
            if name not in self._field_hooks:
                raise ValueError(
                    f"{self.kind} has no field {name!r} (known: {sorted(self._field_hooks)})"
                )
            if name in fixed:
                raise ValueError(f"{self.kind}.{name} cannot be changed by a patch")
        encoded = {name: self.encode_field(name, value) for name, value in changes.items()}
        if len(self._valid_names) < _VALID_NAMES_KEPT:
            self._valid_names.add(names)
        return encoded

    def canonical(self, record: T) -> T:
        """`record` as a read of it would return it (validated, JSON round-tripped)."""
        return self.decode(self.encode(record))

    def patched(self, record: T, encoded: Mapping[str, Any]) -> T:
        """`record` with the encoded changes (from `encode_changes`) applied, as a read of
        the patched row would return it."""
        row = self.encode(record)
        return self.decode(
            tuple(encoded.get(name, value) for name, value in zip(self.columns, row, strict=True))
        )


SESSIONS = RecordCodec(SessionRecord, "session", controls=CONTROLS, dynamic_tools=JSON_TUPLE)
TURNS = RecordCodec(TurnRecord, "turn")
REQUESTS = RecordCodec(
    InteractiveRequest, "request", rpc_id=RPC_ID, params=JSON, resolution=JSON_OR_NONE
)
TRANSCRIPT = RecordCodec(TranscriptEntry, "transcript", details=JSON_OR_NONE)
PROJECTS = RecordCodec(Project, "project")
TOMBSTONES = RecordCodec(Tombstone, "tombstone")
JOBS = RecordCodec(
    Job,
    "job",
    payload=JSON,
    result=JSON_OR_NONE,
    progress=JSON_OR_NONE,
    running_context=RUNNING_CONTEXT,
    steps=JSON_OR_NONE,
)
WORKERS = RecordCodec(WorkerRecord, "worker")


def name_key(name: str) -> str:
    """The case-insensitive form project names are matched and sorted by."""
    return name.casefold()


# ---------------------------------------------------------------------- listing cursors


def encode_cursor(updated_at: float, session_id: str) -> str:
    """An opaque keyset cursor: the (updated_at, session_id) of the last row of a page
    (for jobs: (created_at, job_id))."""
    raw = json.dumps([updated_at, session_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str, what: str = "session") -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        updated_at, session_id = json.loads(raw)
        if isinstance(updated_at, bool) or not isinstance(updated_at, (int, float)):
            raise TypeError
        if not isinstance(session_id, str):
            raise TypeError
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise ValueError(f"invalid {what} cursor {cursor!r}") from None
    return float(updated_at), session_id
