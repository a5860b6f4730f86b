"""Dynamic tools: answer app-server's `item/tool/call` requests with plain Python callables.

`codex app-server` lets a client declare "dynamic tools" on `thread/start`
(`dynamicTools: [{"type": "function", "name", "description", "inputSchema"}]`). When the model
calls one, app-server sends the server request `item/tool/call` with
`{threadId, turnId, callId, tool, arguments}` and waits for
`{"success": bool, "contentItems": [{"type": "inputText", "text": ...}, ...]}`.

`ToolRegistry` turns ordinary functions into such tools::

    registry = ToolRegistry()

    @registry.register
    async def lookup_order(order_id: str, include_items: bool = False) -> dict[str, Any]:
        '''Look up an order by id.

        Args:
            order_id: The order number, e.g. "A-17".
            include_items: Also return the line items.
        '''

    registry.specs()                                    # -> the `dynamicTools` list
    result = await registry.call("lookup_order", {"order_id": "A-17"})
    result.to_response()                                # -> the `item/tool/call` reply

The input JSON Schema is derived from the type hints once, at registration, into a small tree
that also checks and converts the model's arguments at call time, so what the schema promises
and what a call accepts come from one place (call-time checks are only ever stricter where
codex cannot carry a constraint, such as the positions of a fixed-length tuple). Everything that can go wrong *at call time* (bad arguments, a
timeout, an exception in the tool) becomes a failed `ToolResult` whose text the model reads,
because the model can usually correct itself; only definition mistakes raise
(`ToolDefinitionError`, at registration, where the developer sees them).

Only anyio is used, so the registry works under asyncio and trio alike.
"""

from __future__ import annotations

import collections.abc
import copy
import dataclasses
import enum
import functools
import inspect
import json
import logging
import math
import re
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final, TypeVar, overload

import anyio
import anyio.to_thread
import attrs
from cattrs.preconf.json import make_converter

from codex_manager_core.errors import CodexManagerError

__all__ = [
    "TOOL_NAME_PATTERN",
    "Tool",
    "ToolDefinitionError",
    "ToolRegistry",
    "ToolResult",
]

logger = logging.getLogger(__name__)

#: What app-server (and the model APIs behind it) accept as a tool name; use `fullmatch`.
TOOL_NAME_PATTERN: Final = re.compile(r"[a-zA-Z0-9_-]{1,64}")

F = TypeVar("F", bound=Callable[..., Any])

JsonSchema = dict[str, Any]

# Return values are unstructured (attrs/dataclass -> dict, Enum -> value, set/tuple -> list,
# datetime -> ISO-8601) by cattrs' JSON preset; aliases match the keys of our input schemas.
_RESULT_CONVERTER: Final = make_converter(use_alias=True)

_SUPPORTED: Final = (
    "str, int, float, bool, None, Any, list[T], tuple[...], set[T], dict[str, T], "
    "Optional/Union, Literal[...], Enum, Annotated[T, 'description'], TypedDict, "
    "attrs classes and dataclasses"
)


class ToolDefinitionError(CodexManagerError):
    """A callable cannot become a tool (bad name, duplicate, unsupported signature or type).

    Raised at registration, never at call time: definition mistakes are the developer's to fix,
    while call-time problems are reported to the model as a failed `ToolResult`.
    """


# ---------------------------------------------------------------------- results


def _content_items(items: Iterable[Mapping[str, Any]]) -> tuple[dict[str, Any], ...]:
    converted = tuple(dict(item) for item in items)
    for item in converted:
        if not isinstance(item.get("type"), str):
            raise ValueError(f"every content item needs a string 'type', got {item!r}")
    return converted


@attrs.frozen
class ToolResult:
    """The answer to one `item/tool/call`: success plus content items for the model.

    Content items use app-server's wire shape, e.g. `{"type": "inputText", "text": "..."}` or
    `{"type": "inputImage", "imageUrl": "data:image/png;base64,..."}`. A tool may return a
    `ToolResult` itself to control success or send several items (text and images).
    """

    success: bool
    content_items: tuple[dict[str, Any], ...] = attrs.field(converter=_content_items)

    @classmethod
    def text(cls, text: str) -> ToolResult:
        """A successful result with one text item."""
        return cls(True, ({"type": "inputText", "text": text},))

    @classmethod
    def error(cls, message: str) -> ToolResult:
        """A failed result; `message` tells the model what went wrong (and what to do)."""
        return cls(False, ({"type": "inputText", "text": message},))

    @classmethod
    def image(cls, image_url: str) -> ToolResult:
        """A successful result with one image (an http(s) or `data:` URL)."""
        return cls(True, ({"type": "inputImage", "imageUrl": image_url},))

    def to_response(self) -> dict[str, Any]:
        """The JSON-RPC result for `item/tool/call`: `{"success", "contentItems"}`."""
        return {
            "success": self.success,
            "contentItems": [dict(item) for item in self.content_items],
        }


# ---------------------------------------------------------------------- compiled types
#
# Each supported annotation compiles to a node that knows its JSON Schema, checks a decoded
# JSON value strictly (collecting every problem with its path) and converts a checked value
# to the Python value the function expects.


_JSON_KIND_NAMES: Final = {
    "null": "null",
    "boolean": "true or false",
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "array": "an array",
    "object": "an object",
}


def _json_kind(value: Any) -> str:
    """The JSON Schema type of a decoded JSON value (Python int: "integer", float: "number")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _describe(value: Any) -> str:
    """A short description of a JSON value for error messages."""
    kind = _json_kind(value)
    if kind in ("boolean", "null"):
        return json.dumps(value)
    if kind in ("integer", "number", "string"):
        text = json.dumps(value, ensure_ascii=False)
        short = text if len(text) <= 60 else text[:57] + "..."
        return f"{'string' if kind == 'string' else 'number'} {short}"
    if kind in ("array", "object"):
        return f"an {kind}"
    return f"a {kind}"


def _same_json_value(a: Any, b: Any) -> bool:
    """JSON equality: keeps true apart from 1 and "1" apart from 1 (Python mixes the first)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, str) != isinstance(b, str):
        return False
    return bool(a == b)


class _Node:
    """A compiled annotation. Subclasses override `schema`, `accepts` and `expected`."""

    def schema(self) -> JsonSchema:
        raise NotImplementedError

    def accepts(self, value: Any) -> bool:
        """The shallow check: is the value of the right JSON kind (not looking inside)?"""
        raise NotImplementedError

    def expected(self) -> str:
        raise NotImplementedError

    def check(self, value: Any, path: str, errors: list[str]) -> None:
        """Append a message for every way `value` does not fit, prefixed with its path."""
        if not self.accepts(value):
            errors.append(f"{path}: expected {self.expected()}, got {_describe(value)}")
        else:
            self.check_inside(value, path, errors)

    def check_inside(self, value: Any, path: str, errors: list[str]) -> None:
        """The deep check of a value `accepts` already took."""

    def convert(self, value: Any) -> Any:
        """The Python value for a checked JSON value."""
        return value


def _any_json_value() -> JsonSchema:
    """A schema for any JSON value that, unlike `{}`, keeps a description through codex.

    codex app-server 0.163 reduces `{"description": ...}` to `{}` before the model sees it;
    spelling out every JSON type means the same and the description survives.
    """
    return {
        "anyOf": [
            {"type": "string"},
            {"type": "number"},
            {"type": "boolean"},
            {"type": "object"},
            {"type": "array", "items": {}},
            {"type": "null"},
        ]
    }


def _with_description(schema: JsonSchema, description: str) -> JsonSchema:
    return {**(schema or _any_json_value()), "description": description}


class _AnyNode(_Node):
    def schema(self) -> JsonSchema:
        return {}

    def accepts(self, value: Any) -> bool:
        return True

    def expected(self) -> str:
        return "any JSON value"


@attrs.frozen
class _ScalarNode(_Node):
    kind: str

    def schema(self) -> JsonSchema:
        return {"type": self.kind}

    def accepts(self, value: Any) -> bool:
        kind = _json_kind(value)
        if self.kind == "number":
            return kind in ("integer", "number")
        if self.kind == "integer":
            # JSON has one number type; 3.0 is an integer to most producers.
            return kind == "integer" or (kind == "number" and float(value).is_integer())
        return kind == self.kind

    def expected(self) -> str:
        return _JSON_KIND_NAMES[self.kind]

    def convert(self, value: Any) -> Any:
        if self.kind == "integer":
            return int(value)
        if self.kind == "number":
            return float(value)
        return value


@attrs.frozen
class _ChoiceNode(_Node):
    """`Literal[...]` and `Enum`: a fixed set of JSON values, each mapped to a Python value."""

    choices: tuple[tuple[Any, Any], ...]
    """(JSON value, Python value) pairs."""

    def schema(self) -> JsonSchema:
        # One enum per JSON type: codex app-server gives a type-less enum the type "string",
        # so a mixed `Literal["auto", 0, None]` must spell its types out.
        groups: dict[str, list[Any]] = {}
        for json_value, _ in self.choices:
            kind = _json_kind(json_value)
            groups.setdefault("number" if kind == "integer" else kind, []).append(json_value)
        alternatives: list[JsonSchema] = []
        for kind, values in groups.items():
            if kind == "number" and all(_json_kind(v) == "integer" for v in values):
                kind = "integer"
            alternatives.append(
                {"type": "null"} if kind == "null" else {"type": kind, "enum": values}
            )
        return alternatives[0] if len(alternatives) == 1 else {"anyOf": alternatives}

    def accepts(self, value: Any) -> bool:
        return any(_same_json_value(value, json_value) for json_value, _ in self.choices)

    def expected(self) -> str:
        return "one of " + ", ".join(json.dumps(v, ensure_ascii=False) for v, _ in self.choices)

    def convert(self, value: Any) -> Any:
        for json_value, python_value in self.choices:
            if _same_json_value(value, json_value):
                return python_value
        raise AssertionError(f"convert() of an unchecked value {value!r}")  # pragma: no cover


@attrs.frozen
class _ArrayNode(_Node):
    item: _Node
    container: Callable[[Iterator[Any]], Any]
    unique: bool

    def schema(self) -> JsonSchema:
        # Always spell out `items`: codex app-server turns an array without `items` into an
        # array of strings, while `"items": {}` (anything) reaches the model as is.
        schema: JsonSchema = {"type": "array", "items": self.item.schema()}
        if self.unique:
            schema["uniqueItems"] = True
        return schema

    def accepts(self, value: Any) -> bool:
        return isinstance(value, list | tuple)

    def expected(self) -> str:
        return "an array"

    def check_inside(self, value: Any, path: str, errors: list[str]) -> None:
        for index, item in enumerate(value):
            self.item.check(item, f"{path}[{index}]", errors)

    def convert(self, value: Any) -> Any:
        return self.container(self.item.convert(item) for item in value)


@attrs.frozen
class _TupleNode(_Node):
    """A fixed-length `tuple[A, B]`: an array of exactly that many items.

    The schema cannot say which position takes which type: codex app-server 0.163 rejects
    draft-07 positional `items: [...]` ("invalid type: map, expected a string") on
    `thread/start`, so `items` is the union of the position types and the positions are
    checked at call time (a mismatch is reported to the model with its index).
    """

    items: tuple[_Node, ...]

    def schema(self) -> JsonSchema:
        n = len(self.items)
        schema: JsonSchema = {"type": "array", "minItems": n, "maxItems": n}
        distinct: dict[str, JsonSchema] = {}
        for item in self.items:
            item_schema = item.schema()
            distinct.setdefault(json.dumps(item_schema, sort_keys=True), item_schema)
        alternatives = list(distinct.values())
        if not alternatives or not all(alternatives):
            schema["items"] = {}
        elif len(alternatives) == 1:
            schema["items"] = alternatives[0]
        else:
            schema["items"] = {"anyOf": alternatives}
        return schema

    def accepts(self, value: Any) -> bool:
        return isinstance(value, list | tuple)

    def expected(self) -> str:
        return f"an array of {len(self.items)} items"

    def check_inside(self, value: Any, path: str, errors: list[str]) -> None:
        if len(value) != len(self.items):
            errors.append(f"{path}: expected {self.expected()}, got {len(value)}")
            return
        for index, (node, item) in enumerate(zip(self.items, value, strict=True)):
            node.check(item, f"{path}[{index}]", errors)

    def convert(self, value: Any) -> Any:
        return tuple(node.convert(item) for node, item in zip(self.items, value, strict=True))


@attrs.frozen
class _MapNode(_Node):
    """`dict[str, T]`: an object with arbitrary keys."""

    value: _Node

    def schema(self) -> JsonSchema:
        value_schema = self.value.schema()
        if not value_schema:
            return {"type": "object"}
        return {"type": "object", "additionalProperties": value_schema}

    def accepts(self, value: Any) -> bool:
        return isinstance(value, Mapping) and all(isinstance(k, str) for k in value)

    def expected(self) -> str:
        return "an object"

    def check_inside(self, value: Any, path: str, errors: list[str]) -> None:
        for key, item in value.items():
            self.value.check(item, f"{path}.{key}", errors)

    def convert(self, value: Any) -> Any:
        return {key: self.value.convert(item) for key, item in value.items()}


@attrs.frozen
class _UnionNode(_Node):
    members: tuple[_Node, ...]

    def schema(self) -> JsonSchema:
        return {"anyOf": [member.schema() for member in self.members]}

    def accepts(self, value: Any) -> bool:
        return any(member.accepts(value) for member in self.members)

    def expected(self) -> str:
        return " or ".join(member.expected() for member in self.members)

    def _match(self, value: Any) -> _Node | None:
        for member in self.members:
            errors: list[str] = []
            member.check(value, "", errors)
            if not errors:
                return member
        return None

    def check_inside(self, value: Any, path: str, errors: list[str]) -> None:
        if self._match(value) is not None:
            return
        candidates = [member for member in self.members if member.accepts(value)]
        if len(candidates) == 1:
            # `Order | None` given a broken order: say what is wrong with the order.
            candidates[0].check(value, path, errors)
        else:
            errors.append(f"{path}: expected {self.expected()}, got {_describe(value)}")

    def convert(self, value: Any) -> Any:
        member = self._match(value)
        assert member is not None, f"convert() of an unchecked value {value!r}"
        return member.convert(value)


@attrs.frozen
class _DescribedNode(_Node):
    """`Annotated[T, "description"]`: T with a description."""

    inner: _Node
    description: str

    def schema(self) -> JsonSchema:
        return _with_description(self.inner.schema(), self.description)

    def accepts(self, value: Any) -> bool:
        return self.inner.accepts(value)

    def expected(self) -> str:
        return self.inner.expected()

    def check_inside(self, value: Any, path: str, errors: list[str]) -> None:
        self.inner.check_inside(value, path, errors)

    def convert(self, value: Any) -> Any:
        return self.inner.convert(value)


_NO_DEFAULT: Final = object()


@attrs.frozen
class _Field:
    """A parameter of the tool function or a field of a nested object."""

    key: str
    """The JSON property name."""
    init_name: str
    """The keyword the function or class constructor takes."""
    node: _Node
    required: bool
    default: Any = _NO_DEFAULT
    """The JSON form of the default, or _NO_DEFAULT when there is none worth showing."""
    description: str | None = None

    def schema(self) -> JsonSchema:
        schema = self.node.schema()
        if self.description:
            schema = _with_description(schema, self.description)
        if self.default is not _NO_DEFAULT:
            schema["default"] = self.default
        return schema


def _object_schema(fields: tuple[_Field, ...]) -> JsonSchema:
    return {
        "type": "object",
        "properties": {field.key: field.schema() for field in fields},
        "required": [field.key for field in fields if field.required],
        "additionalProperties": False,
    }


def _check_object(
    fields: tuple[_Field, ...], value: Mapping[str, Any], path: str, errors: list[str]
) -> None:
    """Unknown keys, missing required keys and every present value (`path` "" = top level)."""
    prefix = f"{path}: " if path else ""
    noun = "field" if path else "argument"
    known = {field.key: field for field in fields}
    unknown = [key for key in value if key not in known]
    for key in unknown:
        errors.append(f"{prefix}unknown {noun} {key!r}")
    if unknown:
        accepted = ", ".join(repr(key) for key in known) or "none"
        errors.append(f"{prefix}accepted {noun}s: {accepted}")
    for field in fields:
        if field.key in value:
            field.node.check(value[field.key], f"{path}.{field.key}" if path else field.key, errors)
        elif field.required:
            errors.append(f"{prefix}missing required {noun} {field.key!r}")


@attrs.frozen
class _ObjectNode(_Node):
    """A TypedDict, attrs class or dataclass: a closed object with named fields."""

    cls: type
    fields: tuple[_Field, ...]
    description: str | None
    typed_dict: bool

    def schema(self) -> JsonSchema:
        schema = _object_schema(self.fields)
        if self.description:
            schema["description"] = self.description
        return schema

    def accepts(self, value: Any) -> bool:
        return isinstance(value, Mapping)

    def expected(self) -> str:
        return f"an object ({self.cls.__name__})"

    def check_inside(self, value: Any, path: str, errors: list[str]) -> None:
        _check_object(self.fields, value, path, errors)

    def convert(self, value: Any) -> Any:
        kwargs = {
            field.init_name: field.node.convert(value[field.key])
            for field in self.fields
            if field.key in value
        }
        if self.typed_dict:
            return kwargs
        return self.cls(**kwargs)


# ---------------------------------------------------------------------- docstrings

_SECTION_RE: Final = re.compile(r"^(?P<indent>\s*)(?P<name>[A-Za-z][A-Za-z ]*?)\s*:\s*$")
_GOOGLE_SECTIONS: Final = frozenset(
    {
        "args",
        "arguments",
        "parameters",
        "params",
        "keyword args",
        "keyword arguments",
        "attributes",
        "returns",
        "return",
        "yields",
        "yield",
        "raises",
        "example",
        "examples",
        "note",
        "notes",
        "warning",
        "warnings",
        "see also",
        "todo",
    }
)
_PARAMETER_SECTIONS: Final = frozenset(
    {"args", "arguments", "parameters", "params", "keyword args", "keyword arguments", "attributes"}
)
_ENTRY_RE: Final = re.compile(r"^\*{0,2}(?P<name>\w+)\s*(?:\([^)]*\))?\s*:(?:\s*(?P<text>.*))?$")


def _is_section_header(line: str, sections: frozenset[str]) -> re.Match[str] | None:
    match = _SECTION_RE.match(line)
    if match and match.group("name").lower() in sections:
        return match
    return None


def _join_paragraphs(lines: list[str]) -> str:
    paragraphs: list[list[str]] = [[]]
    for line in lines:
        if line:
            paragraphs[-1].append(line)
        elif paragraphs[-1]:
            paragraphs.append([])
    return "\n".join(" ".join(p) for p in paragraphs if p)


def _parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into its summary and parameter descriptions.

    The summary is the first paragraph, joined into one line. Parameter descriptions come from
    `Args:`, `Arguments:`, `Parameters:` (also `Keyword Args:` and, for classes,
    `Attributes:`) sections; an entry is `name: text` or `name (type): text`, and more
    indented lines continue it.
    """
    if not doc:
        return "", {}
    lines = inspect.cleandoc(doc).splitlines()
    summary: list[str] = []
    for line in lines:
        if not line.strip() or _is_section_header(line, _GOOGLE_SECTIONS):
            break
        summary.append(line.strip())
    descriptions: dict[str, list[str]] = {}
    index = 0
    while index < len(lines):
        header = _is_section_header(lines[index], _PARAMETER_SECTIONS)
        index += 1
        if header is None:
            continue
        header_indent = len(header.group("indent"))
        opening = index == 1
        if opening:
            # `"""Args:` on the docstring's first line: cleandoc cannot see that line's real
            # indentation, so the entries may come out at the header's level.
            header_indent = -1
        entry_indent: int | None = None
        current: list[str] | None = None
        while index < len(lines):
            line = lines[index]
            if not line.strip():
                if current is not None:
                    current.append("")
                index += 1
                continue
            indent = len(line) - len(line.lstrip())
            if indent <= header_indent or (
                opening
                and indent <= (entry_indent or 0)
                and _is_section_header(line, _GOOGLE_SECTIONS)
            ):
                break  # the next section (or prose after the section)
            if entry_indent is None:
                entry_indent = indent
            entry = _ENTRY_RE.match(line.strip()) if indent <= entry_indent else None
            if entry is not None:
                current = descriptions.setdefault(entry.group("name"), [])
                current.append((entry.group("text") or "").strip())
            elif current is not None:
                current.append(line.strip())
            index += 1
    return " ".join(summary), {
        name: text for name, lines_ in descriptions.items() if (text := _join_paragraphs(lines_))
    }


def _own_class_doc(cls: type) -> str | None:
    """The class's own docstring; not an inherited one, not dataclasses' generated signature."""
    doc = cls.__dict__.get("__doc__")
    if not isinstance(doc, str):
        return None
    if dataclasses.is_dataclass(cls) and doc.startswith(f"{cls.__name__}("):
        return None
    return doc


# ---------------------------------------------------------------------- the compiler


def _type_name(tp: Any) -> str:
    if isinstance(tp, type) and not typing.get_args(tp):
        if tp.__module__ == "builtins":
            return tp.__qualname__
        return f"{tp.__module__}.{tp.__qualname__}"
    return repr(tp).replace("typing.", "")


def _json_default(value: Any) -> Any:
    """The JSON form of a default value, or _NO_DEFAULT if it has none."""
    if isinstance(value, enum.Enum):
        value = value.value
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError):
        return _NO_DEFAULT


_QUALIFIERS: Final = (typing.Required, typing.NotRequired, typing.ClassVar, typing.Final)
_SEQUENCES: Final = {
    list: list,
    collections.abc.Sequence: list,
    collections.abc.MutableSequence: list,
}
_SETS: Final = {
    set: set,
    frozenset: frozenset,
    collections.abc.Set: frozenset,
    collections.abc.MutableSet: set,
}
_MAPPINGS: Final = (dict, collections.abc.Mapping, collections.abc.MutableMapping)


class _Compiler:
    """Compiles annotations to nodes; errors name the tool function, the parameter and type."""

    def __init__(self, owner: str) -> None:
        self._owner = owner
        self._in_progress: list[type] = []

    def fail(self, where: str, problem: str) -> ToolDefinitionError:
        return ToolDefinitionError(f"cannot make {self._owner} a tool: {where}: {problem}")

    def unsupported(self, where: str, tp: Any) -> ToolDefinitionError:
        return self.fail(
            where,
            f"type {_type_name(tp)} has no JSON form here (supported: {_SUPPORTED}); "
            "change the annotation, or use Any / dict[str, Any] and convert inside the tool",
        )

    def hints(self, obj: Any, where: str) -> dict[str, Any]:
        try:
            return typing.get_type_hints(obj, include_extras=True)
        except Exception as exc:  # NameError for unresolvable names, TypeError for junk
            raise self.fail(
                where,
                f"cannot resolve the type hints ({type(exc).__name__}: {exc}); every annotation "
                "must name a type visible from the module's globals (classes defined inside a "
                "function are not, under `from __future__ import annotations`)",
            ) from exc

    def compile(self, tp: Any, where: str) -> _Node:
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if tp is Any or tp is object:
            return _AnyNode()
        if tp is None or tp is types.NoneType:
            return _ScalarNode("null")
        if origin is typing.Annotated:
            inner = self.compile(args[0], where)
            descriptions = [m for m in tp.__metadata__ if isinstance(m, str)]
            return _DescribedNode(inner, descriptions[0]) if descriptions else inner
        if origin in _QUALIFIERS:
            return self.compile(args[0], where)
        if isinstance(tp, typing.NewType):
            return self.compile(tp.__supertype__, where)
        if origin is typing.Literal:
            return self._choices(tp, [(_literal_json(v), v) for v in args], where)
        if origin is typing.Union or origin is types.UnionType:
            members = tuple(self.compile(arg, where) for arg in args)
            if any(isinstance(member, _AnyNode) for member in members):
                return _AnyNode()
            return _UnionNode(members)
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return self._choices(tp, [(member.value, member) for member in tp], where)
        if tp is bool:
            return _ScalarNode("boolean")
        if tp is int:
            return _ScalarNode("integer")
        if tp is float:
            return _ScalarNode("number")
        if tp is str:
            return _ScalarNode("string")
        base = origin if origin is not None else tp
        if base in _SEQUENCES:
            item = self.compile(args[0], where) if args else _AnyNode()
            return _ArrayNode(item, _SEQUENCES[base], unique=False)
        if base is tuple:
            if tp is tuple or tp is typing.Tuple:  # noqa: UP006 - the bare alias is a case
                return _ArrayNode(_AnyNode(), tuple, unique=False)
            if len(args) == 2 and args[1] is Ellipsis:
                return _ArrayNode(self.compile(args[0], where), tuple, unique=False)
            if args in ((), ((),)):  # tuple[()]: 3.11 reports no args, older Pythons ((),)
                return _TupleNode(())
            return _TupleNode(tuple(self.compile(arg, where) for arg in args))
        if base in _SETS:
            item = self.compile(args[0], where) if args else _AnyNode()
            return _ArrayNode(item, _SETS[base], unique=True)
        if base in _MAPPINGS:
            if args:
                key, value = args
                key_base = typing.get_origin(key) or key
                if key_base is typing.Annotated:
                    key_base = typing.get_args(key)[0]
                if key_base is not str and key_base is not Any:
                    raise self.fail(
                        where,
                        f"{_type_name(tp)}: dict keys must be str (JSON object keys are "
                        f"strings), not {_type_name(key)}",
                    )
                return _MapNode(self.compile(value, where))
            return _MapNode(_AnyNode())
        if isinstance(tp, type) and (
            typing.is_typeddict(tp) or attrs.has(tp) or dataclasses.is_dataclass(tp)
        ):
            return self._object(tp, where)
        raise self.unsupported(where, tp)

    def _choices(self, tp: Any, choices: list[tuple[Any, Any]], where: str) -> _ChoiceNode:
        if not choices:
            raise self.fail(where, f"{_type_name(tp)} has no values to choose from")
        for json_value, _ in choices:
            if _json_kind(json_value) not in ("null", "boolean", "integer", "number", "string"):
                raise self.fail(
                    where,
                    f"{_type_name(tp)} has the value {json_value!r}, which is not a JSON "
                    "string, number, boolean or null",
                )
        return _ChoiceNode(tuple(choices))

    def _object(self, cls: type, where: str) -> _ObjectNode:
        if cls in self._in_progress:
            raise self.fail(
                where, f"{_type_name(cls)} is recursive, which these schemas cannot express"
            )
        self._in_progress.append(cls)
        try:
            doc_summary, doc_fields = _parse_docstring(_own_class_doc(cls))
            hints = self.hints(cls, f"{where}: {_type_name(cls)}")
            if typing.is_typeddict(cls):
                fields = self._typeddict_fields(cls, hints, doc_fields, where)
            elif attrs.has(cls):
                fields = self._attrs_fields(cls, hints, doc_fields, where)
            else:
                fields = self._dataclass_fields(cls, hints, doc_fields, where)
        finally:
            self._in_progress.pop()
        return _ObjectNode(
            cls, tuple(fields), doc_summary or None, typed_dict=typing.is_typeddict(cls)
        )

    def _field(
        self,
        cls: type,
        key: str,
        init_name: str,
        tp: Any,
        required: bool,
        default: Any,
        doc: str | None,
        where: str,
    ) -> _Field:
        node = self.compile(tp, f"{where}, field {key!r} of {cls.__name__}")
        return _Field(
            key,
            init_name,
            node,
            required,
            _NO_DEFAULT if required else default,
            _annotated_description(tp) or doc,
        )

    def _typeddict_fields(
        self, cls: type, hints: Mapping[str, Any], doc_fields: Mapping[str, str], where: str
    ) -> list[_Field]:
        required_keys: frozenset[str] = getattr(cls, "__required_keys__", frozenset())
        fields = []
        for key, tp in hints.items():
            # Judge Required/NotRequired from the resolved hint: on 3.11 a string annotation
            # (`from __future__ import annotations`) hides them from __required_keys__.
            qualifier = typing.get_origin(tp)
            if qualifier is typing.Required:
                required = True
            elif qualifier is typing.NotRequired:
                required = False
            else:
                required = key in required_keys
            fields.append(
                self._field(cls, key, key, tp, required, _NO_DEFAULT, doc_fields.get(key), where)
            )
        return fields

    def _attrs_fields(
        self, cls: type, hints: Mapping[str, Any], doc_fields: Mapping[str, str], where: str
    ) -> list[_Field]:
        fields = []
        for attribute in attrs.fields(cls):
            if not attribute.init:
                continue
            tp = hints.get(attribute.name, attribute.type)
            if tp is None:  # attrs.field() without a type: anything goes
                tp = Any
            elif isinstance(tp, str):
                raise self.fail(
                    where,
                    f"field {attribute.name!r} of {cls.__name__}: cannot resolve the type {tp!r}",
                )
            default = attribute.default
            required = default is attrs.NOTHING
            # attrs types Factory as a function (for its overloads); it is a class at runtime.
            factory = isinstance(default, attrs.Factory)  # type: ignore[arg-type]
            shown = _NO_DEFAULT if factory else _json_default(default)
            # The JSON key is the init name (attrs strips a leading underscore).
            doc = doc_fields.get(attribute.alias) or doc_fields.get(attribute.name)
            fields.append(
                self._field(cls, attribute.alias, attribute.alias, tp, required, shown, doc, where)
            )
        return fields

    def _dataclass_fields(
        self, cls: type, hints: Mapping[str, Any], doc_fields: Mapping[str, str], where: str
    ) -> list[_Field]:
        fields = []
        for field in dataclasses.fields(cls):
            if not field.init:
                continue
            required = (
                field.default is dataclasses.MISSING
                and field.default_factory is dataclasses.MISSING
            )
            shown = (
                _json_default(field.default)
                if field.default is not dataclasses.MISSING
                else _NO_DEFAULT
            )
            tp = hints.get(field.name, Any)
            fields.append(
                self._field(
                    cls,
                    field.name,
                    field.name,
                    tp,
                    required,
                    shown,
                    doc_fields.get(field.name),
                    where,
                )
            )
        return fields


def _literal_json(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def _annotated_description(tp: Any) -> str | None:
    """The description of `Annotated[T, "text"]` (also under Required/NotRequired)."""
    while typing.get_origin(tp) in _QUALIFIERS:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) is typing.Annotated:
        for meta in tp.__metadata__:
            if isinstance(meta, str):
                return meta
    return None


# ---------------------------------------------------------------------- tools


def _unwrap_partial(fn: Any) -> Any:
    while isinstance(fn, functools.partial):
        fn = fn.func
    return fn


def _hint_source(fn: Callable[..., Any]) -> Any:
    """The object whose annotations describe calling `fn`."""
    target = _unwrap_partial(fn)
    if inspect.isfunction(target) or inspect.ismethod(target):
        return target
    if inspect.isclass(target):
        return target.__init__
    return type(target).__call__


def _is_async(fn: Callable[..., Any]) -> bool:
    target = _unwrap_partial(fn)
    if inspect.iscoroutinefunction(target):
        return True
    if inspect.isfunction(target) or inspect.ismethod(target) or inspect.isclass(target):
        return False
    return inspect.iscoroutinefunction(type(target).__call__)


def _callable_label(fn: Callable[..., Any]) -> str:
    target = _unwrap_partial(fn)
    module = getattr(target, "__module__", None) or type(target).__module__
    qualname = getattr(target, "__qualname__", None) or type(target).__qualname__
    return f"{module}.{qualname}"


def _callable_doc(fn: Callable[..., Any]) -> str | None:
    target = _unwrap_partial(fn)
    if inspect.isfunction(target) or inspect.ismethod(target):
        return inspect.getdoc(target)
    if inspect.isclass(target):
        return _own_class_doc(target)
    # Only __call__'s own docstring: getdoc would find "Call self as a function." on `type`.
    return getattr(type(target).__call__, "__doc__", None) or _own_class_doc(type(target))


def _parse_arguments(arguments: Any) -> Mapping[str, Any] | str:
    """The arguments as a mapping, or a message saying why they are not usable."""
    if isinstance(arguments, str | bytes):
        if not arguments.strip():
            return {}
        try:
            arguments = json.loads(arguments)
        except ValueError as exc:
            return f"the arguments are not valid JSON ({exc}); send a JSON object"
    if arguments is None:
        return {}
    if not isinstance(arguments, Mapping):
        return f"the arguments must be a JSON object, got {_describe(arguments)}"
    return arguments


def _to_result(name: str, value: Any) -> ToolResult:
    """Turn what a tool returned into a ToolResult (see `Tool.call`)."""
    if isinstance(value, ToolResult):
        return value
    if value is None:
        return ToolResult.text("")
    if isinstance(value, str):
        return ToolResult.text(value)
    try:
        text = json.dumps(_RESULT_CONVERTER.unstructure(value), ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        logger.error("tool %r returned a value JSON cannot encode: %r", name, value)
        return ToolResult.error(
            f"tool {name!r} returned a {type(value).__name__} that cannot be encoded as JSON "
            f"({exc})"
        )
    return ToolResult.text(text)


@attrs.frozen(eq=False)
class Tool:
    """One tool: its name, description, input JSON Schema, the callable and its timeout.

    Build one with `Tool.from_function` (or `ToolRegistry.register`). `input_schema` is the
    tool's own copy: treat it as read-only and use `spec()` for something to send or modify.
    """

    name: str
    description: str
    input_schema: JsonSchema
    fn: Callable[..., Any]
    timeout: float | None = None
    _parameters: tuple[_Field, ...] = attrs.field(default=(), repr=False, alias="_parameters")
    _is_async: bool = attrs.field(default=False, repr=False, alias="_is_async")

    @classmethod
    def from_function(
        cls,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float | None = None,
    ) -> Tool:
        """Describe `fn` as a tool; see `ToolRegistry.register` for the rules.

        Raises:
            ToolDefinitionError: the name is invalid, the timeout is not positive, or the
                signature has `*args`/`**kwargs`, positional-only parameters or annotations
                with no JSON form.
        """
        if not callable(fn):
            raise ToolDefinitionError(f"a tool must be callable, got {fn!r}")
        label = f"{_callable_label(fn)!r}"
        if name is None:
            target = _unwrap_partial(fn)
            name = getattr(target, "__name__", None) or type(target).__name__
        if not TOOL_NAME_PATTERN.fullmatch(name):
            raise ToolDefinitionError(
                f"cannot make {label} a tool: the name {name!r} is invalid; tool names must "
                f"match ^{TOOL_NAME_PATTERN.pattern}$ (pass name=...)"
            )
        if timeout is not None and not (timeout > 0 and math.isfinite(timeout)):
            raise ToolDefinitionError(
                f"cannot make {label} a tool: timeout must be a positive number of seconds or "
                f"None, got {timeout!r}"
            )
        compiler = _Compiler(label)
        try:
            signature = inspect.signature(fn)
        except (TypeError, ValueError) as exc:
            raise ToolDefinitionError(
                f"cannot make {label} a tool: its signature cannot be inspected ({exc})"
            ) from exc
        hints = compiler.hints(_hint_source(fn), "its signature")
        summary, doc_params = _parse_docstring(_callable_doc(fn))
        parameters: list[_Field] = []
        for index, param in enumerate(signature.parameters.values()):
            where = f"parameter {param.name!r}"
            if param.kind is inspect.Parameter.VAR_POSITIONAL:
                raise compiler.fail(
                    f"parameter '*{param.name}'", "*args cannot be passed by name; list them"
                )
            if param.kind is inspect.Parameter.VAR_KEYWORD:
                raise compiler.fail(
                    f"parameter '**{param.name}'",
                    "**kwargs has no schema; declare each argument as a parameter",
                )
            if param.kind is inspect.Parameter.POSITIONAL_ONLY:
                raise compiler.fail(
                    where, "positional-only parameters cannot be passed by name; remove the '/'"
                )
            if index == 0 and param.name in ("self", "cls") and inspect.isfunction(fn):
                raise compiler.fail(
                    where,
                    "this looks like a method taken from its class; register the bound method "
                    "(instance.method) instead",
                )
            tp = hints.get(param.name, Any)
            required = param.default is inspect.Parameter.empty
            parameters.append(
                _Field(
                    key=param.name,
                    init_name=param.name,
                    node=compiler.compile(tp, f"{where} ({_type_name(tp)})"),
                    required=required,
                    default=_NO_DEFAULT if required else _json_default(param.default),
                    description=_annotated_description(tp) or doc_params.get(param.name),
                )
            )
        fields = tuple(parameters)
        if description is None or not description.strip():
            description = summary or f"Tool {name}."
        return cls(
            name=name,
            description=description.strip(),
            input_schema=_object_schema(fields),
            fn=fn,
            timeout=timeout,
            _parameters=fields,
            _is_async=_is_async(fn),
        )

    def spec(self) -> dict[str, Any]:
        """The entry for `dynamicTools` on `thread/start` (a fresh copy)."""
        return {
            "type": "function",
            "name": self.name,
            "description": self.description,
            "inputSchema": copy.deepcopy(self.input_schema),
        }

    def bind(self, arguments: Any) -> dict[str, Any] | list[str]:
        """Check `arguments` and convert them to keyword arguments for `fn`.

        Returns the keyword arguments, or the list of problems found (each naming the
        argument path, e.g. `order.items[2].quantity: expected an integer, got string "x"`).
        Parameters left out take the function's defaults.
        """
        parsed = _parse_arguments(arguments)
        if isinstance(parsed, str):
            return [parsed]
        errors: list[str] = []
        _check_object(self._parameters, parsed, "", errors)
        if errors:
            return errors
        kwargs: dict[str, Any] = {}
        for field in self._parameters:
            if field.key not in parsed:
                continue
            try:
                kwargs[field.init_name] = field.node.convert(parsed[field.key])
            except Exception as exc:  # a constructor or attrs validator refused the value
                errors.append(f"{field.key}: {type(exc).__name__}: {exc}")
        return errors or kwargs

    async def call(self, arguments: Any) -> ToolResult:
        """Run the tool for the model and say how it went; never raises for the model's sake.

        `arguments` is a JSON object (a mapping), its JSON text, or None/"" for no arguments.
        Invalid arguments, a timeout or an exception in the tool become a failed result whose
        text explains the problem (exceptions are also logged). Sync functions run in a worker
        thread; on timeout such a thread is abandoned, not stopped (Python cannot stop threads).
        Cancellation of the caller propagates as usual.

        Return values become: `ToolResult` as is; str one text item; None an empty text; any
        other value (dict, list, number, bool, attrs/dataclass instance, ...) its JSON text.
        """
        bound = self.bind(arguments)
        if isinstance(bound, list):
            return ToolResult.error(
                f"invalid arguments for tool {self.name!r}:\n" + "\n".join(f"- {e}" for e in bound)
            )
        deadline = math.inf if self.timeout is None else self.timeout
        value: Any = None
        try:
            with anyio.move_on_after(deadline) as scope:
                value = await self._invoke(bound)
        except Exception as exc:
            logger.exception("tool %r raised", self.name)
            message = str(exc)
            return ToolResult.error(
                f"{type(exc).__name__}: {message}" if message else type(exc).__name__
            )
        if scope.cancelled_caught:
            logger.warning("tool %r timed out after %g s", self.name, deadline)
            return ToolResult.error(
                f"tool {self.name!r} timed out: no result within {deadline:g} seconds"
            )
        return _to_result(self.name, value)

    async def _invoke(self, kwargs: dict[str, Any]) -> Any:
        if self._is_async:
            return await self.fn(**kwargs)

        def run() -> tuple[Any]:
            # Boxed: trio refuses a thread function whose result is a coroutine.
            return (self.fn(**kwargs),)

        (value,) = await anyio.to_thread.run_sync(run, abandon_on_cancel=True)
        if inspect.isawaitable(value):  # a sync wrapper around a coroutine function
            value = await value
        return value


class ToolRegistry:
    """The tools an embedding program offers to the model, by name.

    Register callables with `register`, declare them on `thread/start` with `specs`, and
    answer `item/tool/call` with `call` (or `handle_call`, which takes the request params
    and returns the reply). Registration order is kept.
    """

    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}

    @overload
    def register(
        self,
        fn: F,
        /,
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float | None = None,
        replace: bool = False,
    ) -> F: ...

    @overload
    def register(
        self,
        fn: None = None,
        /,
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float | None = None,
        replace: bool = False,
    ) -> Callable[[F], F]: ...

    def register(
        self,
        fn: F | None = None,
        /,
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float | None = None,
        replace: bool = False,
    ) -> F | Callable[[F], F]:
        """Register `fn` as a tool; usable as `@register`, `@register(...)` or a call.

        Returns `fn` unchanged, so a decorated function stays an ordinary function.

        - name: defaults to the function's `__name__`; must match `^[a-zA-Z0-9_-]{1,64}$`.
        - description: defaults to the docstring's first paragraph, else "Tool <name>.".
        - timeout: seconds before a call gives up with a failed result (None: no limit).
        - replace: allow replacing a tool of the same name (otherwise that is an error).

        The input schema comes from the type hints: str, int, float, bool, None, Any,
        list/tuple/set, dict[str, T], Optional/Union, Literal, Enum, Annotated[T, "text"]
        (a description), TypedDict, attrs classes and dataclasses (nested objects). A missing
        annotation accepts anything; a parameter with a default is optional and its default
        is shown when it is JSON. Parameter descriptions come from the docstring's `Args:`
        section. Bound methods work (`self` is not an argument).

        Raises:
            ToolDefinitionError: a duplicate name without `replace=True`, or anything
                `Tool.from_function` rejects.
        """

        def decorate(function: F) -> F:
            tool = Tool.from_function(function, name=name, description=description, timeout=timeout)
            if tool.name in self._tools and not replace:
                raise ToolDefinitionError(
                    f"a tool named {tool.name!r} is already registered; pass replace=True to "
                    "replace it, or name=... to register under another name"
                )
            self._tools[tool.name] = tool
            return function

        if fn is None:
            return decorate
        return decorate(fn)

    def unregister(self, name: str) -> Tool:
        """Remove a tool and return it. Raises KeyError if there is none by that name."""
        try:
            return self._tools.pop(name)
        except KeyError:
            raise KeyError(self._unknown(name)) from None

    def get(self, name: str) -> Tool | None:
        """The tool registered as `name`, or None."""
        return self._tools.get(name)

    def __getitem__(self, name: str) -> Tool:
        try:
            return self._tools[name]
        except KeyError:
            raise KeyError(self._unknown(name)) from None

    def names(self) -> list[str]:
        """The registered names, in registration order."""
        return list(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __len__(self) -> int:
        return len(self._tools)

    def specs(self, names: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """The `dynamicTools` list for `thread/start`: the named tools, or all when None.

        Raises KeyError naming an unknown tool.
        """
        if isinstance(names, str):
            raise TypeError("specs() takes a collection of names; wrap a single name in a list")
        selected = self.names() if names is None else list(names)
        return [self[name].spec() for name in selected]

    async def call(self, name: str, arguments: Any = None) -> ToolResult:
        """Call the tool `name` with the model's `arguments`; see `Tool.call`.

        An unknown name is a failed result, not an error: the model (or a thread declared
        with tools this registry no longer has) gets told which tools exist.
        """
        tool = self._tools.get(name)
        if tool is None:
            return ToolResult.error(self._unknown(name))
        return await tool.call(arguments)

    async def handle_call(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Answer an `item/tool/call` request: takes its params, returns its JSON-RPC result."""
        name = params.get("tool")
        if not isinstance(name, str):
            return ToolResult.error(f"the tool name must be a string, got {name!r}").to_response()
        result = await self.call(name, params.get("arguments"))
        return result.to_response()

    def _unknown(self, name: str) -> str:
        known = ", ".join(repr(n) for n in self._tools) or "none"
        return f"unknown tool {name!r}; registered tools: {known}"
