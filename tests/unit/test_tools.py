"""Tests of the dynamic tool registry (`codex_manager_core.tools`).

Every schema a test builds also goes through `assert_draft07`, a small structural check that
only draft-07 keywords with well-formed values appear (and that defaults fit their schema);
the property tests at the end check that the call-time validation agrees with the schema.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import datetime
import enum
import functools
import json
import logging
import threading
import typing
from collections.abc import Mapping, Sequence
from typing import (
    Annotated,
    Any,
    Literal,
    NewType,
    NotRequired,
    Optional,
    Required,
    TypedDict,
    Union,
)

import anyio
import anyio.lowlevel
import anyio.to_thread
import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codex_manager_core.errors import CodexManagerError
from codex_manager_core.tools import Tool, ToolDefinitionError, ToolRegistry, ToolResult

JsonSchema = dict[str, Any]

# ---------------------------------------------------------------------- draft-07 check

DRAFT07_KEYWORDS = frozenset(
    {
        "$schema", "$id", "$ref", "$comment", "title", "description", "default", "readOnly",
        "writeOnly", "examples", "type", "enum", "const", "multipleOf", "maximum",
        "exclusiveMaximum", "minimum", "exclusiveMinimum", "maxLength", "minLength", "pattern",
        "items", "additionalItems", "maxItems", "minItems", "uniqueItems", "contains",
        "maxProperties", "minProperties", "required", "properties", "patternProperties",
        "additionalProperties", "dependencies", "propertyNames", "if", "then", "else", "allOf",
        "anyOf", "oneOf", "not", "format", "definitions", "contentMediaType", "contentEncoding",
    }
)  # fmt: skip
JSON_TYPES = frozenset({"string", "number", "integer", "boolean", "null", "array", "object"})


def conforms(value: Any, schema: Any) -> bool:
    """A tiny draft-07 validator for the keywords the registry emits."""
    if schema is True or schema == {}:
        return True
    if schema is False:
        return False
    if "anyOf" in schema and not any(conforms(value, s) for s in schema["anyOf"]):
        return False
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(is_type(value, t) for t in types):
            return False
    if "enum" in schema and not any(same_json(value, e) for e in schema["enum"]):
        return False
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            return False
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            return False
        if schema.get("uniqueItems"):
            dumped = [json.dumps(v, sort_keys=True) for v in value]
            if len(set(dumped)) != len(dumped):
                return False
        if "items" in schema and not all(conforms(v, schema["items"]) for v in value):
            return False
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        if any(key not in value for key in schema.get("required", [])):
            return False
        for key, item in value.items():
            if key in properties:
                if not conforms(item, properties[key]):
                    return False
            elif not conforms(item, schema.get("additionalProperties", True)):
                return False
    return True


def is_type(value: Any, json_type: str) -> bool:
    if json_type == "integer":  # draft-06+: any number with a zero fractional part
        return is_type(value, "number") and float(value).is_integer()
    if json_type == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    kinds = {"string": str, "boolean": bool, "array": list, "object": dict}
    if json_type == "null":
        return value is None
    return isinstance(value, kinds[json_type])


def same_json(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if is_type(a, "number") and is_type(b, "number"):
        return bool(a == b)
    return type(a) is type(b) and a == b


def assert_draft07(schema: Any, where: str = "#") -> None:
    """Structural check: draft-07 keywords only, each with a well-formed value."""
    if isinstance(schema, bool):
        return
    assert isinstance(schema, dict), f"{where}: a schema must be an object or boolean"
    assert json.loads(json.dumps(schema)) == schema, f"{where}: not plain JSON"
    unknown = set(schema) - DRAFT07_KEYWORDS
    assert not unknown, f"{where}: not draft-07 keywords: {sorted(unknown)}"
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        assert types, f"{where}: empty type list"
        assert set(types) <= JSON_TYPES, f"{where}: bad type {schema['type']!r}"
        assert len(set(types)) == len(types), f"{where}: repeated type"
    for key in ("description", "title"):
        if key in schema:
            assert isinstance(schema[key], str), f"{where}: {key} must be a string"
            assert schema[key], f"{where}: empty {key}"
    if "properties" in schema:
        assert isinstance(schema["properties"], dict), f"{where}: properties"
        for name, sub in schema["properties"].items():
            assert_draft07(sub, f"{where}/properties/{name}")
    if "required" in schema:
        required = schema["required"]
        assert isinstance(required, list), f"{where}: required must be an array"
        assert all(isinstance(name, str) for name in required), f"{where}: required"
        assert len(set(required)) == len(required), f"{where}: repeated required name"
        assert set(required) <= set(schema.get("properties", {})), f"{where}: required ghost"
    if "additionalProperties" in schema:
        assert_draft07(schema["additionalProperties"], f"{where}/additionalProperties")
    if "items" in schema:
        items = schema["items"]
        for index, sub in enumerate(items if isinstance(items, list) else [items]):
            assert_draft07(sub, f"{where}/items/{index}")
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            assert isinstance(schema[key], list), f"{where}: {key} must be an array"
            assert schema[key], f"{where}: empty {key}"
            for index, sub in enumerate(schema[key]):
                assert_draft07(sub, f"{where}/{key}/{index}")
    if "enum" in schema:
        values = schema["enum"]
        assert isinstance(values, list), f"{where}: enum must be an array"
        assert values, f"{where}: empty enum"
        dumped = [json.dumps(v) for v in values]
        assert len(set(dumped)) == len(dumped), f"{where}: repeated enum value"
        bare = {k: v for k, v in schema.items() if k != "enum"}
        assert all(conforms(v, bare) for v in values), f"{where}: enum value of the wrong type"
    for key in ("minItems", "maxItems"):
        if key in schema:
            assert isinstance(schema[key], int), f"{where}: {key} must be an integer"
            assert schema[key] >= 0, f"{where}: negative {key}"
    if "minItems" in schema and "maxItems" in schema:
        assert schema["minItems"] <= schema["maxItems"], f"{where}: minItems > maxItems"
    if "uniqueItems" in schema:
        assert isinstance(schema["uniqueItems"], bool), f"{where}: uniqueItems"
    if "default" in schema:
        assert conforms(schema["default"], schema), f"{where}: the default does not fit"


def test_the_draft07_check_catches_mistakes() -> None:
    bad: list[Any] = [
        {"type": "str"},
        {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["b"]},
        {"prefixItems": [{"type": "string"}]},
        {"anyOf": []},
        {"enum": []},
        {"type": "integer", "default": "x"},
        {"type": "array", "items": {"type": "strin"}},
        {"type": "integer", "enum": ["a"]},
    ]
    for schema in bad:
        with pytest.raises(AssertionError):
            assert_draft07(schema)


# ---------------------------------------------------------------------- helpers


def tool_of(fn: Any, **kwargs: Any) -> Tool:
    tool = Tool.from_function(fn, **kwargs)
    assert_draft07(tool.input_schema)
    assert tool.input_schema["type"] == "object"
    assert tool.input_schema["additionalProperties"] is False
    return tool


def schema_of(fn: Any, **kwargs: Any) -> JsonSchema:
    return tool_of(fn, **kwargs).input_schema


def prop(annotation: Any) -> JsonSchema:
    """The schema of a required parameter `x` annotated with `annotation`."""

    def f(x):
        return x

    f.__annotations__ = {"x": annotation}
    schema = schema_of(f)
    assert schema["required"] == ["x"]
    return dict(schema["properties"]["x"])


def text_of(result: ToolResult) -> str:
    [item] = result.content_items
    assert item["type"] == "inputText"
    return str(item["text"])


ANY_VALUE: JsonSchema = {
    "anyOf": [
        {"type": "string"},
        {"type": "number"},
        {"type": "boolean"},
        {"type": "object"},
        {"type": "array", "items": {}},
        {"type": "null"},
    ]
}

# ---------------------------------------------------------------------- module-level types
# (with `from __future__ import annotations`, annotations resolve in the module's globals)


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Mode(enum.StrEnum):
    FAST = "fast"
    SAFE = "safe"


class Mixed(enum.Enum):
    NAMED = "named"
    NUMBERED = 7


class TupleValued(enum.Enum):
    A = (1, 2)


class Empty(enum.Enum):
    pass


UserId = NewType("UserId", int)


class Movie(TypedDict):
    title: str
    year: NotRequired[int]


class Partial(TypedDict, total=False):
    """Search options.

    Attributes:
        query: What to look for.
    """

    query: Required[str]
    limit: int


@attrs.define
class Item:
    """A line item.

    Attributes:
        sku: The stock keeping unit.
        quantity: How many; at least 1.
    """

    sku: str
    quantity: int = attrs.field(default=1, validator=attrs.validators.ge(1))


@attrs.define
class Secretive:
    _token: str
    tags: list[str] = attrs.Factory(list)
    derived: int = attrs.field(init=False, default=0)


@dataclasses.dataclass
class Address:
    street: str
    city: str = "Berlin"
    lines: list[str] = dataclasses.field(default_factory=list)
    note: str = dataclasses.field(default="", init=False)


@dataclasses.dataclass
class Order:
    """An order with a shipping address."""

    id: str
    items: list[Item]
    ship_to: Address | None = None
    color: Color = Color.RED


@dataclasses.dataclass
class Node:
    value: int
    children: list[Node]


@attrs.define
class WithDate:
    when: datetime.datetime


class Unsupported:
    pass


# ---------------------------------------------------------------------- schemas: scalars


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        (str, {"type": "string"}),
        (int, {"type": "integer"}),
        (float, {"type": "number"}),
        (bool, {"type": "boolean"}),
        (None, {"type": "null"}),
        (type(None), {"type": "null"}),
        (Any, {}),
        (object, {}),
        (UserId, {"type": "integer"}),
    ],
    ids=repr,
)
def test_scalar_schemas(annotation: Any, expected: JsonSchema) -> None:
    assert prop(annotation) == expected


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        (list[int], {"type": "array", "items": {"type": "integer"}}),
        (typing.List[str], {"type": "array", "items": {"type": "string"}}),  # noqa: UP006
        (Sequence[float], {"type": "array", "items": {"type": "number"}}),
        (collections.abc.MutableSequence[int], {"type": "array", "items": {"type": "integer"}}),
        (list, {"type": "array", "items": {}}),
        (list[Any], {"type": "array", "items": {}}),
        (
            list[list[int]],
            {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}},
        ),
        (tuple[int, ...], {"type": "array", "items": {"type": "integer"}}),
        (tuple, {"type": "array", "items": {}}),
        (typing.Tuple, {"type": "array", "items": {}}),  # noqa: UP006
        (
            tuple[int, str],
            {
                "type": "array",
                "items": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
                "minItems": 2,
                "maxItems": 2,
            },
        ),
        (
            tuple[float, float],
            {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
        ),
        (tuple[int, Any], {"type": "array", "items": {}, "minItems": 2, "maxItems": 2}),
        (tuple[()], {"type": "array", "items": {}, "minItems": 0, "maxItems": 0}),
        (set[str], {"type": "array", "items": {"type": "string"}, "uniqueItems": True}),
        (frozenset[int], {"type": "array", "items": {"type": "integer"}, "uniqueItems": True}),
        (set, {"type": "array", "items": {}, "uniqueItems": True}),
        (dict[str, int], {"type": "object", "additionalProperties": {"type": "integer"}}),
        (
            Mapping[str, list[str]],
            {
                "type": "object",
                "additionalProperties": {"type": "array", "items": {"type": "string"}},
            },
        ),
        (dict[str, Any], {"type": "object"}),
        (dict, {"type": "object"}),
        (typing.Dict[str, bool], {"type": "object", "additionalProperties": {"type": "boolean"}}),  # noqa: UP006
    ],
    ids=repr,
)
def test_container_schemas(annotation: Any, expected: JsonSchema) -> None:
    assert prop(annotation) == expected


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        (Optional[int], {"anyOf": [{"type": "integer"}, {"type": "null"}]}),  # noqa: UP045
        (int | None, {"anyOf": [{"type": "integer"}, {"type": "null"}]}),
        (Union[int, str], {"anyOf": [{"type": "integer"}, {"type": "string"}]}),  # noqa: UP007
        (
            str | list[str] | None,
            {
                "anyOf": [
                    {"type": "string"},
                    {"type": "array", "items": {"type": "string"}},
                    {"type": "null"},
                ]
            },
        ),
        (Any | None, {}),
        (Literal["a", "b"], {"type": "string", "enum": ["a", "b"]}),
        (Literal[1, 2, 3], {"type": "integer", "enum": [1, 2, 3]}),
        (Literal[True], {"type": "boolean", "enum": [True]}),
        (Literal[None], {"type": "null"}),
        (
            Literal["auto", 0, None],
            {
                "anyOf": [
                    {"type": "string", "enum": ["auto"]},
                    {"type": "integer", "enum": [0]},
                    {"type": "null"},
                ]
            },
        ),
        (Literal["x"] | None, {"anyOf": [{"type": "string", "enum": ["x"]}, {"type": "null"}]}),
        (Literal[Color.RED], {"type": "string", "enum": ["red"]}),
        (Color, {"type": "string", "enum": ["red", "green"]}),
        (Level, {"type": "integer", "enum": [1, 2]}),
        (Mode, {"type": "string", "enum": ["fast", "safe"]}),
        (
            Mixed,
            {"anyOf": [{"type": "string", "enum": ["named"]}, {"type": "integer", "enum": [7]}]},
        ),
        (Color | None, {"anyOf": [{"type": "string", "enum": ["red", "green"]}, {"type": "null"}]}),
    ],
    ids=repr,
)
def test_union_literal_and_enum_schemas(annotation: Any, expected: JsonSchema) -> None:
    assert prop(annotation) == expected


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        (Annotated[str, "The user's name."], {"type": "string", "description": "The user's name."}),
        (
            Annotated[int, 3, "first string wins", "ignored"],
            {"type": "integer", "description": "first string wins"},
        ),
        (Annotated[int, 3], {"type": "integer"}),
        (
            list[Annotated[str, "A SKU."]],
            {"type": "array", "items": {"type": "string", "description": "A SKU."}},
        ),
        (
            Annotated[int | None, "Maybe."],
            {"anyOf": [{"type": "integer"}, {"type": "null"}], "description": "Maybe."},
        ),
        # `{}` would lose its description inside codex; every JSON type means the same.
        (Annotated[Any, "Anything."], {**ANY_VALUE, "description": "Anything."}),
    ],
    ids=repr,
)
def test_annotated_descriptions(annotation: Any, expected: JsonSchema) -> None:
    assert prop(annotation) == expected


# ---------------------------------------------------------------------- schemas: objects


def test_typeddict_schema_with_not_required() -> None:
    assert prop(Movie) == {
        "type": "object",
        "properties": {"title": {"type": "string"}, "year": {"type": "integer"}},
        "required": ["title"],
        "additionalProperties": False,
    }


def test_typeddict_total_false_with_required_and_docstring() -> None:
    assert prop(Partial) == {
        "type": "object",
        "description": "Search options.",
        "properties": {
            "query": {"type": "string", "description": "What to look for."},
            "limit": {"type": "integer"},
        },
        "required": ["query"],
        "additionalProperties": False,
    }


def test_attrs_class_schema_uses_defaults_and_docstring() -> None:
    assert prop(Item) == {
        "type": "object",
        "description": "A line item.",
        "properties": {
            "sku": {"type": "string", "description": "The stock keeping unit."},
            "quantity": {"type": "integer", "description": "How many; at least 1.", "default": 1},
        },
        "required": ["sku"],
        "additionalProperties": False,
    }


def test_attrs_private_fields_factories_and_init_false() -> None:
    assert prop(Secretive) == {
        "type": "object",
        "properties": {
            "token": {"type": "string"},  # the init name: attrs strips the underscore
            "tags": {"type": "array", "items": {"type": "string"}},  # a Factory: no default
        },
        "required": ["token"],
        "additionalProperties": False,
    }


def test_dataclass_schema_nested() -> None:
    address = {
        "type": "object",
        "properties": {
            "street": {"type": "string"},
            "city": {"type": "string", "default": "Berlin"},
            "lines": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["street"],
        "additionalProperties": False,
    }
    assert prop(Address) == address  # no description: dataclasses' generated __doc__ is noise
    assert prop(Order) == {
        "type": "object",
        "description": "An order with a shipping address.",
        "properties": {
            "id": {"type": "string"},
            "items": {"type": "array", "items": prop(Item)},
            "ship_to": {"anyOf": [address, {"type": "null"}], "default": None},
            "color": {"type": "string", "enum": ["red", "green"], "default": "red"},
        },
        "required": ["id", "items"],
        "additionalProperties": False,
    }


def test_top_level_schema_requirements_defaults_and_order() -> None:
    def f(
        b: int,
        a,  # no annotation means anything
        c: str = "x",
        d: list[int] | None = None,
        e: tuple[int, int] = (1, 2),
        g: Color = Color.GREEN,
        h: Mode = Mode.SAFE,
        i: set[str] = frozenset(),  # not JSON: no default shown
        j: Any = object(),  # noqa: B008
        k: float = 1.5,
    ) -> None:
        pass

    assert schema_of(f) == {
        "type": "object",
        "properties": {
            "b": {"type": "integer"},
            "a": {},
            "c": {"type": "string", "default": "x"},
            "d": {
                "anyOf": [{"type": "array", "items": {"type": "integer"}}, {"type": "null"}],
                "default": None,
            },
            "e": {
                "type": "array",
                "items": {"type": "integer"},
                "minItems": 2,
                "maxItems": 2,
                "default": [1, 2],
            },
            "g": {"type": "string", "enum": ["red", "green"], "default": "green"},
            "h": {"type": "string", "enum": ["fast", "safe"], "default": "safe"},
            "i": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
            "j": {},
            "k": {"type": "number", "default": 1.5},
        },
        "required": ["b", "a"],
        "additionalProperties": False,
    }
    assert list(schema_of(f)["properties"]) == ["b", "a", "c", "d", "e", "g", "h", "i", "j", "k"]


def test_no_parameters() -> None:
    def ping() -> str:
        return "pong"

    assert schema_of(ping) == {
        "type": "object",
        "properties": {},
        "required": [],
        "additionalProperties": False,
    }


def test_keyword_only_parameters_are_fine() -> None:
    def f(*, a: int, b: str = "") -> None:
        pass

    assert schema_of(f)["required"] == ["a"]


# ---------------------------------------------------------------------- descriptions


def test_google_docstring_summary_and_args() -> None:
    def lookup_order(order_id: str, include_items: bool = False) -> dict[str, Any]:
        """Look up an order by id.

        More prose that is not part of the description.

        Args:
            order_id: The order number, e.g. "A-17".
            include_items: Also return the line items.
        """
        return {}

    tool = tool_of(lookup_order)
    assert tool.name == "lookup_order"
    assert tool.description == "Look up an order by id."
    assert tool.input_schema["properties"] == {
        "order_id": {"type": "string", "description": 'The order number, e.g. "A-17".'},
        "include_items": {
            "type": "boolean",
            "description": "Also return the line items.",
            "default": False,
        },
    }


@pytest.mark.parametrize("header", ["Args", "Arguments", "Parameters", "Params", "Keyword Args"])
def test_section_header_variants(header: str) -> None:
    def f(a: int) -> None:
        pass

    f.__doc__ = f"Do it.\n\n    {header}:\n        a: The a.\n    "
    assert schema_of(f)["properties"]["a"]["description"] == "The a."


def test_multiline_descriptions_types_and_other_sections() -> None:
    def f(first: int, second: str, third: bool = True) -> int:
        """Summary that runs
        over two lines.

        Arguments:
            first (int): Starts here and
                continues on an indented line,
                and another.
            second (str, optional):
                Entirely on the next line.

                A second paragraph.
            third: Short.

        Returns:
            first: not a parameter description.

        Raises:
            ValueError: never.
        """
        return first

    tool = tool_of(f)
    assert tool.description == "Summary that runs over two lines."
    props = tool.input_schema["properties"]
    assert props["first"]["description"] == (
        "Starts here and continues on an indented line, and another."
    )
    assert props["second"]["description"] == "Entirely on the next line.\nA second paragraph."
    assert props["third"]["description"] == "Short."


def test_docstring_without_summary_and_unknown_names() -> None:
    def f(a: int) -> None:
        """Args:
            a: The a.
            ghost: Not a parameter; ignored.

        Returns:
            Nothing.
        """

    tool = tool_of(f)
    assert tool.description == "Tool f."
    assert tool.input_schema["properties"]["a"] == {"type": "integer", "description": "The a."}
    assert "ghost" not in tool.input_schema["properties"]


def test_missing_docstring_gives_a_valid_default_description() -> None:
    def no_doc(a: int) -> None:
        pass

    tool = tool_of(no_doc)
    assert tool.description == "Tool no_doc."
    assert tool.input_schema["properties"]["a"] == {"type": "integer"}


def test_explicit_description_wins_and_keeps_docstring_args() -> None:
    def f(a: int) -> None:
        """Docstring summary.

        Args:
            a: From the docstring.
        """

    tool = tool_of(f, description="  Given explicitly.  ")
    assert tool.description == "Given explicitly."
    assert tool.input_schema["properties"]["a"]["description"] == "From the docstring."
    assert tool_of(f, description="   ").description == "Docstring summary."


def test_annotated_description_wins_over_docstring() -> None:
    def f(a: Annotated[int, "From Annotated."], b: Any = None) -> None:
        """Summary.

        Args:
            a: From the docstring.
            b: Anything at all.
        """

    props = schema_of(f)["properties"]
    assert props["a"] == {"type": "integer", "description": "From Annotated."}
    assert props["b"] == {**ANY_VALUE, "description": "Anything at all.", "default": None}


def test_parameter_description_wins_over_class_summary() -> None:
    def f(item: Item, other: Item) -> None:
        """Summary.

        Args:
            item: The item to add.
        """

    props = schema_of(f)["properties"]
    assert props["item"]["description"] == "The item to add."
    assert props["other"]["description"] == "A line item."


# ---------------------------------------------------------------------- definition errors


def test_tool_definition_error_is_a_codex_manager_error() -> None:
    assert issubclass(ToolDefinitionError, CodexManagerError)


def test_var_args_are_rejected() -> None:
    def with_args(a: int, *rest: int) -> None:
        pass

    def with_kwargs(a: int, **options: Any) -> None:
        pass

    with pytest.raises(ToolDefinitionError, match=r"with_args.*'\*rest'"):
        Tool.from_function(with_args)
    with pytest.raises(ToolDefinitionError, match=r"with_kwargs.*'\*\*options'"):
        Tool.from_function(with_kwargs)


def test_positional_only_parameters_are_rejected() -> None:
    def positional(a: int, /, b: int) -> None:
        pass

    with pytest.raises(ToolDefinitionError, match=r"positional.*parameter 'a'.*positional-only"):
        Tool.from_function(positional)


@pytest.mark.parametrize(
    ("annotation", "type_text"),
    [
        (bytes, "bytes"),
        (datetime.datetime, "datetime.datetime"),
        (Unsupported, "Unsupported"),
        (list[bytes], "bytes"),
        (dict[str, complex], "complex"),
        (int | bytes, "bytes"),
    ],
    ids=repr,
)
def test_unsupported_annotations_name_function_parameter_and_type(
    annotation: Any, type_text: str
) -> None:
    def some_tool(x):
        pass

    some_tool.__annotations__ = {"x": annotation}
    with pytest.raises(ToolDefinitionError) as caught:
        Tool.from_function(some_tool)
    message = str(caught.value)
    assert "some_tool" in message
    assert "parameter 'x'" in message
    assert type_text in message
    assert "supported:" in message


def test_unsupported_nested_field_is_named() -> None:
    def schedule(slot: WithDate) -> None:
        pass

    with pytest.raises(
        ToolDefinitionError,
        match=r"schedule.*parameter 'slot'.*field 'when' of WithDate.*datetime\.datetime",
    ):
        Tool.from_function(schedule)


@pytest.mark.parametrize(
    ("annotation", "pattern"),
    [
        (dict[int, str], "dict keys must be str"),
        (Node, "recursive"),
        (TupleValued, "not a JSON string, number, boolean or null"),
        (Empty, "no values"),
    ],
    ids=repr,
)
def test_other_unsupported_types(annotation: Any, pattern: str) -> None:
    def f(x):
        pass

    f.__annotations__ = {"x": annotation}
    with pytest.raises(ToolDefinitionError, match=pattern):
        Tool.from_function(f)


def test_unresolvable_annotation() -> None:
    class Local:
        pass

    def f(x: Local) -> None:  # a string under `from __future__ import annotations`
        pass

    with pytest.raises(ToolDefinitionError, match=r"f.*cannot resolve the type hints.*Local"):
        Tool.from_function(f)


@pytest.mark.parametrize(
    "name", ["", "has space", "a" * 65, "dotted.name", "trailing\n", "ünïcode", "<lambda>"]
)
def test_invalid_names(name: str) -> None:
    def f() -> None:
        pass

    with pytest.raises(ToolDefinitionError, match="invalid"):
        Tool.from_function(f, name=name)


def test_valid_name_edges() -> None:
    def f() -> None:
        pass

    assert Tool.from_function(f, name="a" * 64).name == "a" * 64
    assert Tool.from_function(f, name="A-b_9").name == "A-b_9"


def test_lambda_needs_a_name() -> None:
    with pytest.raises(ToolDefinitionError, match=r"name=\.\.\."):
        Tool.from_function(lambda: 1)
    assert Tool.from_function(lambda: 1, name="one").name == "one"


@pytest.mark.parametrize("timeout", [0, -1.0, float("nan"), float("inf")])
def test_invalid_timeouts(timeout: float) -> None:
    def f() -> None:
        pass

    with pytest.raises(ToolDefinitionError, match="timeout"):
        Tool.from_function(f, timeout=timeout)


def test_not_callable() -> None:
    with pytest.raises(ToolDefinitionError, match="callable"):
        Tool.from_function(42)  # type: ignore[arg-type]


class Counter:
    """A counter with state."""

    def __init__(self) -> None:
        self.total = 0

    def add(self, amount: int) -> int:
        """Add to the total.

        Args:
            amount: How much to add.
        """
        self.total += amount
        return self.total


class Greeter:
    """Greets people."""

    def __call__(self, who: str) -> str:
        return f"hello {who}"


class AsyncGreeter:
    async def __call__(self, who: str) -> str:
        """Greets asynchronously."""
        await anyio.lowlevel.checkpoint()
        return f"hi {who}"


def test_unbound_method_is_rejected_with_advice() -> None:
    with pytest.raises(ToolDefinitionError, match=r"parameter 'self'.*bound method"):
        Tool.from_function(Counter.add)


def test_bound_method_schema_has_no_self() -> None:
    tool = tool_of(Counter().add)
    assert tool.name == "add"
    assert tool.description == "Add to the total."
    assert tool.input_schema["properties"] == {
        "amount": {"type": "integer", "description": "How much to add."}
    }


def test_callable_instances_and_partials() -> None:
    greeter = tool_of(Greeter())
    assert (greeter.name, greeter.description) == ("Greeter", "Greets people.")
    assert greeter.input_schema["required"] == ["who"]
    assert tool_of(AsyncGreeter()).description == "Greets asynchronously."
    bound_greeter = tool_of(functools.partial(Greeter(), who="Ada"))
    assert bound_greeter.name == "Greeter"
    assert bound_greeter.input_schema["required"] == []

    def power(base: int, exponent: int) -> int:
        return int(base**exponent)

    square = tool_of(functools.partial(power, exponent=2), name="square")
    assert square.input_schema["properties"] == {
        "base": {"type": "integer"},
        "exponent": {"type": "integer", "default": 2},
    }


# ---------------------------------------------------------------------- the registry


def test_register_forms_and_lookup() -> None:
    registry = ToolRegistry()

    @registry.register
    def first(a: int) -> int:
        return a

    @registry.register(name="second-tool", description="The second.", timeout=5)
    async def second() -> None:
        pass

    def third() -> None:
        pass

    assert registry.register(third, name="third") is third
    assert first(2) == 2  # decorated functions stay plain functions
    assert registry.names() == ["first", "second-tool", "third"]
    assert "first" in registry
    assert "missing" not in registry
    assert len(registry) == 3
    tool = registry.get("second-tool")
    assert tool is not None
    assert (tool.name, tool.description, tool.fn, tool.timeout) == (
        "second-tool",
        "The second.",
        second,
        5,
    )
    assert registry.get("missing") is None
    assert registry["first"].fn is first
    with pytest.raises(KeyError, match="unknown tool 'missing'"):
        registry["missing"]


def test_duplicates_and_replace() -> None:
    registry = ToolRegistry()

    def tool_a() -> str:
        return "a"

    def tool_b() -> str:
        return "b"

    registry.register(tool_a, name="t")
    with pytest.raises(ToolDefinitionError, match=r"already registered.*replace=True"):
        registry.register(tool_b, name="t")
    assert registry["t"].fn is tool_a
    registry.register(tool_b, name="t", replace=True)
    assert registry["t"].fn is tool_b
    assert registry.names() == ["t"]


def test_unregister() -> None:
    registry = ToolRegistry()

    @registry.register
    def gone() -> None:
        pass

    removed = registry.unregister("gone")
    assert removed.fn is gone
    assert "gone" not in registry
    with pytest.raises(KeyError, match="unknown tool 'gone'"):
        registry.unregister("gone")


def test_specs() -> None:
    registry = ToolRegistry()

    @registry.register
    def alpha(a: int) -> None:
        """Alpha."""

    @registry.register
    def beta() -> None:
        pass

    alpha_spec = {
        "type": "function",
        "name": "alpha",
        "description": "Alpha.",
        "inputSchema": {
            "type": "object",
            "properties": {"a": {"type": "integer"}},
            "required": ["a"],
            "additionalProperties": False,
        },
    }
    beta_spec = {
        "type": "function",
        "name": "beta",
        "description": "Tool beta.",
        "inputSchema": {
            "type": "object",
            "properties": {},
            "required": [],
            "additionalProperties": False,
        },
    }
    assert registry.specs() == [alpha_spec, beta_spec]
    assert registry.specs(["beta"]) == [beta_spec]
    assert registry.specs(name for name in ["beta", "alpha"]) == [beta_spec, alpha_spec]
    assert registry.specs([]) == []
    with pytest.raises(KeyError, match="unknown tool 'gamma'"):
        registry.specs(["gamma"])
    with pytest.raises(TypeError, match="collection of names"):
        registry.specs("alpha")
    # specs are copies: changing one does not change the tool
    registry.specs()[0]["inputSchema"]["properties"]["a"]["type"] = "string"
    assert registry.specs()[0] == alpha_spec
    json.dumps(registry.specs())


# ---------------------------------------------------------------------- ToolResult


def test_tool_result_constructors_and_response() -> None:
    assert ToolResult.text("hi").to_response() == {
        "success": True,
        "contentItems": [{"type": "inputText", "text": "hi"}],
    }
    assert ToolResult.error("nope").to_response() == {
        "success": False,
        "contentItems": [{"type": "inputText", "text": "nope"}],
    }
    assert ToolResult.image("data:image/png;base64,AAAA").to_response() == {
        "success": True,
        "contentItems": [{"type": "inputImage", "imageUrl": "data:image/png;base64,AAAA"}],
    }
    several = ToolResult(
        True, [{"type": "inputText", "text": "see"}, {"type": "inputImage", "imageUrl": "u"}]
    )
    assert isinstance(several.content_items, tuple)
    assert len(several.to_response()["contentItems"]) == 2
    with pytest.raises(ValueError, match="type"):
        ToolResult(True, [{"text": "no type"}])
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        several.success = False  # type: ignore[misc]
    # to_response hands out copies
    several.to_response()["contentItems"][0]["text"] = "changed"
    assert several.content_items[0]["text"] == "see"


# ---------------------------------------------------------------------- calling


@pytest.mark.anyio
async def test_call_async_and_sync_functions() -> None:
    registry = ToolRegistry()
    loop_thread = threading.get_ident()
    seen: dict[str, int] = {}

    @registry.register
    async def async_tool(x: int) -> str:
        seen["async"] = threading.get_ident()
        await anyio.lowlevel.checkpoint()
        return f"async {x}"

    @registry.register
    def sync_tool(x: int) -> str:
        seen["sync"] = threading.get_ident()
        return f"sync {x}"

    assert await registry.call("async_tool", {"x": 1}) == ToolResult.text("async 1")
    assert await registry.call("sync_tool", {"x": 2}) == ToolResult.text("sync 2")
    assert seen["async"] == loop_thread
    assert seen["sync"] != loop_thread  # sync tools run in a worker thread


@pytest.mark.anyio
async def test_lookup_order_example() -> None:
    registry = ToolRegistry()

    @registry.register
    async def lookup_order(order_id: str, include_items: bool = False) -> dict[str, Any]:
        """Look up an order by id."""
        return {"id": order_id, "items": ["x"] if include_items else None}

    result = await registry.call("lookup_order", {"order_id": "A-17"})
    assert result.to_response() == {
        "success": True,
        "contentItems": [{"type": "inputText", "text": '{"id": "A-17", "items": null}'}],
    }


@pytest.mark.anyio
async def test_bound_methods_callable_instances_and_partials_are_called() -> None:
    registry = ToolRegistry()
    counter = Counter()
    registry.register(counter.add)
    registry.register(Greeter(), name="greet")
    registry.register(AsyncGreeter(), name="agreet")
    registry.register(functools.partial(lambda a, b: a * b, b=3), name="triple")
    assert text_of(await registry.call("add", {"amount": 2})) == "2"
    assert text_of(await registry.call("add", {"amount": 3})) == "5"
    assert counter.total == 5
    assert text_of(await registry.call("greet", {"who": "Ada"})) == "hello Ada"
    assert text_of(await registry.call("agreet", {"who": "Bob"})) == "hi Bob"
    assert text_of(await registry.call("triple", {"a": 4})) == "12"


@pytest.mark.anyio
async def test_sync_wrapper_returning_a_coroutine_is_awaited() -> None:
    async def inner() -> str:
        return "awaited"

    def wrapper() -> Any:
        return inner()

    tool = Tool.from_function(wrapper)
    assert await tool.call({}) == ToolResult.text("awaited")


class Shape(enum.Enum):
    SQUARE = "square"


@attrs.frozen
class Point:
    x: int
    y: int


@dataclasses.dataclass
class Box:
    label: str
    corners: tuple[Point, Point]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", ToolResult.text("plain")),
        ("", ToolResult.text("")),
        (None, ToolResult.text("")),
        ({"a": [1, 2.5, None, True]}, ToolResult.text('{"a": [1, 2.5, null, true]}')),
        ([1, "two"], ToolResult.text('[1, "two"]')),
        (42, ToolResult.text("42")),
        (2.5, ToolResult.text("2.5")),
        (True, ToolResult.text("true")),
        ({"ü": "ß"}, ToolResult.text('{"ü": "ß"}')),
        (Point(1, 2), ToolResult.text('{"x": 1, "y": 2}')),
        (
            Box("b", (Point(0, 0), Point(1, 1))),
            ToolResult.text('{"label": "b", "corners": [{"x": 0, "y": 0}, {"x": 1, "y": 1}]}'),
        ),
        (Shape.SQUARE, ToolResult.text('"square"')),
        ((1, 2), ToolResult.text("[1, 2]")),
        (datetime.datetime(2024, 5, 6, 7, 8, 9), ToolResult.text('"2024-05-06T07:08:09"')),
        (ToolResult.image("u"), ToolResult.image("u")),
        (ToolResult.error("custom failure"), ToolResult.error("custom failure")),
    ],
    ids=repr,
)
async def test_return_value_conversion(value: Any, expected: ToolResult) -> None:
    async def returns() -> Any:
        return value

    assert await Tool.from_function(returns).call({}) == expected


@pytest.mark.anyio
async def test_unencodable_return_value_is_a_failed_result(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def returns_object() -> Any:
        return Unsupported()

    result = await Tool.from_function(returns_object).call({})
    assert not result.success
    assert "returned a Unsupported that cannot be encoded as JSON" in text_of(result)
    assert "JSON cannot encode" in caplog.text


@pytest.mark.anyio
async def test_exception_in_tool_is_a_failed_result_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = ToolRegistry()

    @registry.register
    async def explodes(x: int) -> None:
        raise ValueError(f"bad x {x}")

    @registry.register
    def explodes_in_thread() -> None:
        raise KeyError("missing")

    @registry.register
    def silent() -> None:
        raise RuntimeError

    with caplog.at_level(logging.ERROR, logger="codex_manager_core.tools"):
        assert await registry.call("explodes", {"x": 3}) == ToolResult.error("ValueError: bad x 3")
        assert await registry.call("explodes_in_thread") == ToolResult.error("KeyError: 'missing'")
        assert await registry.call("silent") == ToolResult.error("RuntimeError")
    records = [r for r in caplog.records if r.name == "codex_manager_core.tools"]
    assert len(records) == 3
    assert all(r.exc_info is not None for r in records)
    assert "'explodes'" in records[0].getMessage()


@pytest.mark.anyio
async def test_async_timeout() -> None:
    registry = ToolRegistry()

    @registry.register(timeout=0.05)
    async def slow() -> str:
        await anyio.sleep(10)
        return "never"

    with anyio.fail_after(5):
        result = await registry.call("slow")
    assert result == ToolResult.error("tool 'slow' timed out: no result within 0.05 seconds")


@pytest.mark.anyio
async def test_sync_timeout_abandons_the_thread() -> None:
    release = threading.Event()
    finished = threading.Event()

    def stuck() -> str:
        release.wait(10)
        finished.set()
        return "late"

    tool = Tool.from_function(stuck, timeout=0.05)
    try:
        with anyio.fail_after(5):
            result = await tool.call({})
        assert not result.success
        assert "timed out" in text_of(result)
        assert not finished.is_set()
    finally:
        release.set()
    await anyio.to_thread.run_sync(finished.wait, 5)


@pytest.mark.anyio
async def test_fast_tool_within_timeout() -> None:
    async def quick() -> str:
        return "ok"

    assert await Tool.from_function(quick, timeout=5).call({}) == ToolResult.text("ok")


@pytest.mark.anyio
async def test_outer_cancellation_propagates() -> None:
    async def forever() -> None:
        await anyio.sleep(10)

    tool = Tool.from_function(forever, timeout=30)
    with anyio.move_on_after(0.05) as scope:
        await tool.call({})
        pytest.fail("the call should have been cancelled")
    assert scope.cancelled_caught


# ---------------------------------------------------------------------- argument validation


def validation_registry() -> ToolRegistry:
    registry = ToolRegistry()

    @registry.register
    async def order(
        id: str,
        items: list[Item],
        ship_to: Address | None = None,
        color: Color = Color.RED,
        tags: set[str] = frozenset(),
        movie: Movie | None = None,
        mode: Literal["fast", 1] = "fast",
        size: float = 1.0,
        count: int = 0,
        pair: tuple[int, str] = (0, ""),
        level: Level = Level.LOW,
        extra: dict[str, int] | None = None,
    ) -> Any:
        return {"items": repr(items), "color": repr(color)}

    return registry


async def call_order(arguments: Any) -> ToolResult:
    return await validation_registry().call("order", arguments)


def bound(arguments: Any) -> dict[str, Any] | list[str]:
    tool = validation_registry()["order"]
    return tool.bind(arguments)


def test_bind_converts_nested_values() -> None:
    kwargs = bound(
        {
            "id": "o-1",
            "items": [{"sku": "a"}, {"sku": "b", "quantity": 3.0}],
            "ship_to": {"street": "Main", "lines": ["x"]},
            "color": "green",
            "tags": ["t", "u", "t"],
            "movie": {"title": "Heat"},
            "mode": 1,
            "size": 2,
            "count": 4.0,
            "pair": [1, "one"],
            "level": 2,
            "extra": {"k": 1},
        }
    )
    assert kwargs == {
        "id": "o-1",
        "items": [Item("a"), Item("b", 3)],
        "ship_to": Address("Main", lines=["x"]),
        "color": Color.GREEN,
        "tags": {"t", "u"},
        "movie": {"title": "Heat"},
        "mode": 1,
        "size": 2.0,
        "count": 4,
        "pair": (1, "one"),
        "level": Level.HIGH,
        "extra": {"k": 1},
    }
    assert isinstance(kwargs, dict)
    assert type(kwargs["size"]) is float
    assert type(kwargs["count"]) is int
    assert type(kwargs["items"][1].quantity) is int
    assert kwargs["level"] is Level.HIGH


def test_bind_leaves_defaults_to_the_function() -> None:
    assert bound({"id": "x", "items": []}) == {"id": "x", "items": []}
    assert bound('{"id": "x", "items": [], "ship_to": null}') == {
        "id": "x",
        "items": [],
        "ship_to": None,
    }


def test_literal_with_enum_member_converts_to_the_member() -> None:
    def f(shape: Literal[Shape.SQUARE]) -> None:
        pass

    assert Tool.from_function(f).bind({"shape": "square"}) == {"shape": Shape.SQUARE}


@pytest.mark.parametrize(
    ("arguments", "problems"),
    [
        ({}, ["missing required argument 'id'", "missing required argument 'items'"]),
        (
            {"id": "x", "items": [], "bogus": 1, "other": 2},
            [
                "unknown argument 'bogus'",
                "unknown argument 'other'",
                "accepted arguments: 'id', 'items', 'ship_to', 'color', 'tags', 'movie', "
                "'mode', 'size', 'count', 'pair', 'level', 'extra'",
            ],
        ),
        ({"id": 5, "items": []}, ["id: expected a string, got number 5"]),
        ({"id": None, "items": []}, ["id: expected a string, got null"]),
        ({"id": "x", "items": {}}, ["items: expected an array, got an object"]),
        ({"id": "x", "items": [], "count": True}, ["count: expected an integer, got true"]),
        ({"id": "x", "items": [], "count": 1.5}, ["count: expected an integer, got number 1.5"]),
        ({"id": "x", "items": [], "size": "2"}, ['size: expected a number, got string "2"']),
        (
            {"id": "x", "items": [], "color": "blue"},
            ['color: expected one of "red", "green", got string "blue"'],
        ),
        ({"id": "x", "items": [], "level": 3}, ["level: expected one of 1, 2, got number 3"]),
        ({"id": "x", "items": [], "level": True}, ["level: expected one of 1, 2, got true"]),
        (
            {"id": "x", "items": [], "mode": "1"},
            ['mode: expected one of "fast", 1, got string "1"'],
        ),
        (
            {"id": "x", "items": [{"sku": 1, "quantity": "many"}, {}]},
            [
                "items[0].sku: expected a string, got number 1",
                'items[0].quantity: expected an integer, got string "many"',
                "items[1]: missing required field 'sku'",
            ],
        ),
        (
            {"id": "x", "items": [{"sku": "a", "colour": "red"}]},
            ["items[0]: unknown field 'colour'", "items[0]: accepted fields: 'sku', 'quantity'"],
        ),
        (
            # a broken member of `Address | None`: its own problems, not "expected ... or null"
            {"id": "x", "items": [], "ship_to": {"city": 5}},
            [
                "ship_to: missing required field 'street'",
                "ship_to.city: expected a string, got number 5",
            ],
        ),
        (
            {"id": "x", "items": [], "ship_to": "Main Street"},
            ['ship_to: expected an object (Address) or null, got string "Main Street"'],
        ),
        (
            {"id": "x", "items": [], "movie": {"year": 1995}},
            ["movie: missing required field 'title'"],
        ),
        ({"id": "x", "items": [], "pair": [1]}, ["pair: expected an array of 2 items, got 1"]),
        (
            {"id": "x", "items": [], "pair": ["a", 1]},
            [
                'pair[0]: expected an integer, got string "a"',
                "pair[1]: expected a string, got number 1",
            ],
        ),
        (
            {"id": "x", "items": [], "extra": {"k": "v"}},
            ['extra.k: expected an integer, got string "v"'],
        ),
        ({"id": "x", "items": [], "tags": "t"}, ['tags: expected an array, got string "t"']),
    ],
    ids=repr,
)
def test_bind_reports_every_problem(arguments: dict[str, Any], problems: list[str]) -> None:
    assert bound(arguments) == problems


@pytest.mark.anyio
async def test_invalid_arguments_are_a_failed_result_not_an_exception() -> None:
    result = await call_order({"id": 5, "bogus": True})
    assert not result.success
    assert text_of(result) == (
        "invalid arguments for tool 'order':\n"
        "- unknown argument 'bogus'\n"
        "- accepted arguments: 'id', 'items', 'ship_to', 'color', 'tags', 'movie', 'mode', "
        "'size', 'count', 'pair', 'level', 'extra'\n"
        "- id: expected a string, got number 5\n"
        "- missing required argument 'items'"
    )


@pytest.mark.anyio
async def test_constructor_validators_become_failed_results() -> None:
    result = await call_order({"id": "x", "items": [{"sku": "a", "quantity": 0}]})
    assert not result.success
    assert text_of(result).startswith("invalid arguments for tool 'order':\n- items: ValueError: ")
    assert "'quantity' must be >= 1" in text_of(result)


@pytest.mark.anyio
async def test_valid_call_reaches_the_function() -> None:
    result = await call_order({"id": "x", "items": [{"sku": "a"}], "color": "green"})
    assert result.success
    assert json.loads(text_of(result)) == {
        "items": "[Item(sku='a', quantity=1)]",
        "color": "<Color.GREEN: 'green'>",
    }


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ('{"a": 2}', ToolResult.text("4")),
        (b'{"a": 3}', ToolResult.text("9")),
        ('  {"a": 1}\n', ToolResult.text("1")),
        ({"a": 5}, ToolResult.text("25")),
    ],
    ids=repr,
)
async def test_arguments_as_json_text_or_object(arguments: Any, expected: ToolResult) -> None:
    def square(a: int) -> int:
        return a * a

    assert await Tool.from_function(square).call(arguments) == expected


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ('{"a": ', "the arguments are not valid JSON"),
        ("not json", "the arguments are not valid JSON"),
        ("[1, 2]", "the arguments must be a JSON object, got an array"),
        ('"text"', 'the arguments must be a JSON object, got string "text"'),
        ([1], "the arguments must be a JSON object, got an array"),
        (7, "the arguments must be a JSON object, got number 7"),
    ],
    ids=repr,
)
async def test_unusable_arguments(arguments: Any, message: str) -> None:
    def square(a: int) -> int:
        return a * a

    result = await Tool.from_function(square).call(arguments)
    assert not result.success
    assert text_of(result).startswith(f"invalid arguments for tool 'square':\n- {message}")


@pytest.mark.anyio
@pytest.mark.parametrize("arguments", [None, "", "  ", "null", {}], ids=repr)
async def test_empty_arguments_mean_no_arguments(arguments: Any) -> None:
    def ping(reply: str = "pong") -> str:
        return reply

    assert await Tool.from_function(ping).call(arguments) == ToolResult.text("pong")


@pytest.mark.anyio
async def test_unknown_tool_is_a_failed_result() -> None:
    registry = ToolRegistry()

    @registry.register
    def known() -> None:
        pass

    result = await registry.call("unknown", {})
    assert result == ToolResult.error("unknown tool 'unknown'; registered tools: 'known'")
    empty = await ToolRegistry().call("x")
    assert text_of(empty) == "unknown tool 'x'; registered tools: none"


@pytest.mark.anyio
async def test_handle_call_answers_item_tool_call_params() -> None:
    registry = ToolRegistry()

    @registry.register
    def lookup(key: str) -> str:
        return f"value of {key}"

    params = {
        "threadId": "t",
        "turnId": "u",
        "callId": "c",
        "namespace": None,
        "tool": "lookup",
        "arguments": {"key": "k"},
    }
    assert await registry.handle_call(params) == {
        "success": True,
        "contentItems": [{"type": "inputText", "text": "value of k"}],
    }
    bad = await registry.handle_call({"tool": 3, "arguments": {}})
    assert bad["success"] is False
    assert "tool name must be a string" in bad["contentItems"][0]["text"]


# ---------------------------------------------------------------------- schema vs validation


def strategy_for(schema: Any) -> st.SearchStrategy[Any]:
    """JSON values that conform to `schema` (the keywords the registry emits)."""
    schema = {k: v for k, v in schema.items() if k not in ("description", "default")}
    if schema == {}:
        return st.none() | st.booleans() | st.integers() | st.text(max_size=5)
    if "anyOf" in schema:
        return st.one_of([strategy_for(sub) for sub in schema["anyOf"]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema["type"]
    if kind == "string":
        return st.text(max_size=8)
    if kind == "integer":
        return st.integers(-(10**6), 10**6)
    if kind == "number":
        return st.integers(-1000, 1000) | st.floats(allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        return st.lists(
            strategy_for(schema.get("items", {})),
            min_size=schema.get("minItems", 0),
            max_size=schema.get("maxItems", 3),
        )
    assert kind == "object"
    if "properties" not in schema:
        extra = schema.get("additionalProperties", {})
        return st.dictionaries(st.text(max_size=4), strategy_for(extra), max_size=3)
    required = {k: strategy_for(schema["properties"][k]) for k in schema["required"]}
    optional = {
        k: strategy_for(sub) for k, sub in schema["properties"].items() if k not in required
    }
    return st.fixed_dictionaries(required, optional=optional)


async def rich(  # a tool without fixed-length tuples (the only positional constraint)
    name: str,
    items: list[Point],  # not Item: its quantity validator says more than the schema
    where: Address | None = None,
    color: Color = Color.RED,
    movie: Movie | None = None,
    options: Partial | None = None,
    mode: Literal["auto", 0, None] = "auto",
    scores: dict[str, float] | None = None,
    level: Level | str = Level.LOW,
    anything: Any = None,
    labels: list[Annotated[str, "A label."]] | None = None,
    nested: list[list[int]] | None = None,
) -> None:
    pass


RICH = Tool.from_function(rich)


def test_rich_schema_is_draft07() -> None:
    assert_draft07(RICH.input_schema)


@settings(max_examples=200, deadline=None)
@given(strategy_for(RICH.input_schema))
def test_everything_the_schema_allows_binds(arguments: dict[str, Any]) -> None:
    assert conforms(arguments, RICH.input_schema)
    assert isinstance(RICH.bind(arguments), dict), RICH.bind(arguments)


async def small(
    a: int | None,
    b: list[str] | None = None,
    c: Literal["x", 1] = "x",
    d: dict[str, bool] | None = None,
    e: float = 0.0,
) -> None:
    pass


SMALL = Tool.from_function(small)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(-3, 3) | st.sampled_from("x1ab"),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("ab"), inner, max_size=2)
    ),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["a", "b", "c", "d", "e", "z"]), json_values, max_size=5))
def test_bind_accepts_exactly_what_the_schema_accepts(arguments: dict[str, Any]) -> None:
    binds = isinstance(SMALL.bind(arguments), dict)
    assert binds == conforms(arguments, SMALL.input_schema), SMALL.bind(arguments)


@pytest.mark.anyio
async def test_call_on_both_backends_uses_the_schema_example() -> None:
    # one full round trip per backend through `call`, to go with the sync property tests
    example = {"name": "n", "items": [{"x": 1, "y": 2}], "mode": 0, "level": "custom"}
    assert (await RICH.call(example)).success
