"""Compiled annotations: each node knows its JSON Schema, checks a value, and converts it.

Each supported annotation compiles (`compiler.Compiler`) to a node that knows its JSON Schema,
checks a decoded JSON value strictly (collecting every problem with its path) and converts a
checked value to the Python value the function expects. Schema and check live side by side
so what the schema promises and what a call accepts cannot drift apart (the property tests
in tests/unit/test_tools.py hold them to it).

The schemas are written for what codex app-server 0.163 forwards to the model, not for
general JSON Schema: every object is inline (codex gives a schema without a `type`, such as
a `$ref`, the type "string"), enums carry their type, `items` is always spelled out, and
a fixed-length tuple is checked here rather than in the schema. Each node says why.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

import attrs

from codex_manager_core.tools.json_values import (
    JSON_KIND_NAMES,
    describe,
    json_kind,
    same_json_value,
)

JsonSchema = dict[str, Any]


class Node:
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
            errors.append(f"{path}: expected {self.expected()}, got {describe(value)}")
        else:
            self.check_inside(value, path, errors)

    def check_inside(self, value: Any, path: str, errors: list[str]) -> None:
        """The deep check of a value `accepts` already took."""

    def convert(self, value: Any) -> Any:
        """The Python value for a checked JSON value."""
        return value


def any_json_value() -> JsonSchema:
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


def with_description(schema: JsonSchema, description: str) -> JsonSchema:
    return {**(schema or any_json_value()), "description": description}


class AnyNode(Node):
    def schema(self) -> JsonSchema:
        return {}

    def accepts(self, value: Any) -> bool:
        return True

    def expected(self) -> str:
        return "any JSON value"


@attrs.frozen
class ScalarNode(Node):
    kind: str

    def schema(self) -> JsonSchema:
        return {"type": self.kind}

    def accepts(self, value: Any) -> bool:
        kind = json_kind(value)
        if self.kind == "number":
            return kind in ("integer", "number")
        if self.kind == "integer":
            # JSON has one number type; 3.0 is an integer to most producers.
            return kind == "integer" or (kind == "number" and float(value).is_integer())
        return kind == self.kind

    def expected(self) -> str:
        return JSON_KIND_NAMES[self.kind]

    def convert(self, value: Any) -> Any:
        if self.kind == "integer":
            return int(value)
        if self.kind == "number":
            return float(value)
        return value


@attrs.frozen
class ChoiceNode(Node):
    """`Literal[...]` and `Enum`: a fixed set of JSON values, each mapped to a Python value."""

    choices: tuple[tuple[Any, Any], ...]
    """(JSON value, Python value) pairs."""

    def schema(self) -> JsonSchema:
        # One enum per JSON type: codex app-server gives a type-less enum the type "string",
        # so a mixed `Literal["auto", 0, None]` must spell its types out.
        groups: dict[str, list[Any]] = {}
        for json_value, _ in self.choices:
            kind = json_kind(json_value)
            groups.setdefault("number" if kind == "integer" else kind, []).append(json_value)
        alternatives: list[JsonSchema] = []
        for kind, values in groups.items():
            if kind == "number" and all(json_kind(v) == "integer" for v in values):
                kind = "integer"
            alternatives.append(
                {"type": "null"} if kind == "null" else {"type": kind, "enum": values}
            )
        return alternatives[0] if len(alternatives) == 1 else {"anyOf": alternatives}

    def accepts(self, value: Any) -> bool:
        return any(same_json_value(value, json_value) for json_value, _ in self.choices)

    def expected(self) -> str:
        return "one of " + ", ".join(json.dumps(v, ensure_ascii=False) for v, _ in self.choices)

    def convert(self, value: Any) -> Any:
        for json_value, python_value in self.choices:
            if same_json_value(value, json_value):
                return python_value
        raise AssertionError(f"convert() of an unchecked value {value!r}")  # pragma: no cover


@attrs.frozen
class ArrayNode(Node):
    item: Node
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
class TupleNode(Node):
    """A fixed-length `tuple[A, B]`: an array of exactly that many items.

    The schema cannot say which position takes which type: codex app-server 0.163 rejects
    draft-07 positional `items: [...]` ("invalid type: map, expected a string") on
    `thread/start`, so `items` is the union of the position types and the positions are
    checked at call time (a mismatch is reported to the model with its index).
    """

    items: tuple[Node, ...]

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
class MapNode(Node):
    """`dict[str, T]`: an object with arbitrary keys."""

    value: Node

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
class UnionNode(Node):
    members: tuple[Node, ...]

    def schema(self) -> JsonSchema:
        return {"anyOf": [member.schema() for member in self.members]}

    def accepts(self, value: Any) -> bool:
        return any(member.accepts(value) for member in self.members)

    def expected(self) -> str:
        return " or ".join(member.expected() for member in self.members)

    def _match(self, value: Any) -> Node | None:
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
            errors.append(f"{path}: expected {self.expected()}, got {describe(value)}")

    def convert(self, value: Any) -> Any:
        member = self._match(value)
        assert member is not None, f"convert() of an unchecked value {value!r}"
        return member.convert(value)


@attrs.frozen
class DescribedNode(Node):
    """`Annotated[T, "description"]`: T with a description."""

    inner: Node
    description: str

    def schema(self) -> JsonSchema:
        return with_description(self.inner.schema(), self.description)

    def accepts(self, value: Any) -> bool:
        return self.inner.accepts(value)

    def expected(self) -> str:
        return self.inner.expected()

    def check_inside(self, value: Any, path: str, errors: list[str]) -> None:
        self.inner.check_inside(value, path, errors)

    def convert(self, value: Any) -> Any:
        return self.inner.convert(value)


NO_DEFAULT: Final = object()


@attrs.frozen
class Field:
    """A parameter of the tool function or a field of a nested object."""

    key: str
    """The JSON property name."""
    init_name: str
    """The keyword the function or class constructor takes."""
    node: Node
    required: bool
    default: Any = NO_DEFAULT
    """The JSON form of the default, or NO_DEFAULT when there is none worth showing."""
    description: str | None = None

    def schema(self) -> JsonSchema:
        schema = self.node.schema()
        if self.description:
            schema = with_description(schema, self.description)
        if self.default is not NO_DEFAULT:
            schema["default"] = self.default
        return schema


def object_schema(fields: tuple[Field, ...]) -> JsonSchema:
    return {
        "type": "object",
        "properties": {field.key: field.schema() for field in fields},
        "required": [field.key for field in fields if field.required],
        "additionalProperties": False,
    }


def check_object(
    fields: tuple[Field, ...], value: Mapping[str, Any], path: str, errors: list[str]
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
class ObjectNode(Node):
    """A TypedDict, attrs class or dataclass: a closed object with named fields."""

    cls: type
    fields: tuple[Field, ...]
    description: str | None
    typed_dict: bool

    def schema(self) -> JsonSchema:
        schema = object_schema(self.fields)
        if self.description:
            schema["description"] = self.description
        return schema

    def accepts(self, value: Any) -> bool:
        return isinstance(value, Mapping)

    def expected(self) -> str:
        return f"an object ({self.cls.__name__})"

    def check_inside(self, value: Any, path: str, errors: list[str]) -> None:
        check_object(self.fields, value, path, errors)

    def convert(self, value: Any) -> Any:
        kwargs = {
            field.init_name: field.node.convert(value[field.key])
            for field in self.fields
            if field.key in value
        }
        if self.typed_dict:
            return kwargs
        return self.cls(**kwargs)
