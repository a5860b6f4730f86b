"""Type hints to nodes: the one place that knows which annotations a tool may use.

`Compiler.compile` walks an annotation (str, int, float, bool, None, Any, list/tuple/set,
dict[str, T], unions, Literal, Enum, Annotated, NewType, TypedDict, attrs classes and
dataclasses) and returns the `nodes.Node` that carries its schema, check and conversion.
Whatever it cannot express is a `ToolDefinitionError` at registration naming the tool, the
parameter (or nested field) and the type, so the developer sees it before the model does.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import enum
import json
import types
import typing
from collections.abc import Mapping
from typing import Any, Final

import attrs

from codex_manager_core.tools.docstrings import own_class_doc, parse_docstring
from codex_manager_core.tools.errors import ToolDefinitionError
from codex_manager_core.tools.json_values import json_kind
from codex_manager_core.tools.nodes import (
    NO_DEFAULT,
    AnyNode,
    ArrayNode,
    ChoiceNode,
    DescribedNode,
    Field,
    MapNode,
    Node,
    ObjectNode,
    ScalarNode,
    TupleNode,
    UnionNode,
)

_SUPPORTED: Final = (
    "str, int, float, bool, None, Any, list[T], tuple[...], set[T], dict[str, T], "
    "Optional/Union, Literal[...], Enum, Annotated[T, 'description'], TypedDict, "
    "attrs classes and dataclasses"
)


def type_name(tp: Any) -> str:
    if isinstance(tp, type) and not typing.get_args(tp):
        if tp.__module__ == "builtins":
            return tp.__qualname__
        return f"{tp.__module__}.{tp.__qualname__}"
    return repr(tp).replace("typing.", "")


def json_default(value: Any) -> Any:
    """The JSON form of a default value, or NO_DEFAULT if it has none."""
    if isinstance(value, enum.Enum):
        value = value.value
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError):
        return NO_DEFAULT


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


class Compiler:
    """Compiles annotations to nodes; errors name the tool function, the parameter and type."""

    def __init__(self, owner: str) -> None:
        self._owner = owner
        self._in_progress: list[type] = []

    def fail(self, where: str, problem: str) -> ToolDefinitionError:
        return ToolDefinitionError(f"cannot make {self._owner} a tool: {where}: {problem}")

    def unsupported(self, where: str, tp: Any) -> ToolDefinitionError:
        return self.fail(
            where,
            f"type {type_name(tp)} has no JSON form here (supported: {_SUPPORTED}); "
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

    def compile(self, tp: Any, where: str) -> Node:
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if tp is Any or tp is object:
            return AnyNode()
        if tp is None or tp is types.NoneType:
            return ScalarNode("null")
        if origin is typing.Annotated:
            inner = self.compile(args[0], where)
            descriptions = [m for m in tp.__metadata__ if isinstance(m, str)]
            return DescribedNode(inner, descriptions[0]) if descriptions else inner
        if origin in _QUALIFIERS:
            return self.compile(args[0], where)
        if isinstance(tp, typing.NewType):
            return self.compile(tp.__supertype__, where)
        if origin is typing.Literal:
            return self._choices(tp, [(literal_json(v), v) for v in args], where)
        if origin is typing.Union or origin is types.UnionType:
            members = tuple(self.compile(arg, where) for arg in args)
            if any(isinstance(member, AnyNode) for member in members):
                return AnyNode()
            return UnionNode(members)
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return self._choices(tp, [(member.value, member) for member in tp], where)
        if tp is bool:
            return ScalarNode("boolean")
        if tp is int:
            return ScalarNode("integer")
        if tp is float:
            return ScalarNode("number")
        if tp is str:
            return ScalarNode("string")
        base = origin if origin is not None else tp
        if base in _SEQUENCES:
            item = self.compile(args[0], where) if args else AnyNode()
            return ArrayNode(item, _SEQUENCES[base], unique=False)
        if base is tuple:
            if tp is tuple or tp is typing.Tuple:  # noqa: UP006 - the bare alias is a case
                return ArrayNode(AnyNode(), tuple, unique=False)
            if len(args) == 2 and args[1] is Ellipsis:
                return ArrayNode(self.compile(args[0], where), tuple, unique=False)
            if args in ((), ((),)):  # tuple[()]: 3.11 reports no args, older Pythons ((),)
                return TupleNode(())
            return TupleNode(tuple(self.compile(arg, where) for arg in args))
        if base in _SETS:
            item = self.compile(args[0], where) if args else AnyNode()
            return ArrayNode(item, _SETS[base], unique=True)
        if base in _MAPPINGS:
            if args:
                key, value = args
                key_base = typing.get_origin(key) or key
                if key_base is typing.Annotated:
                    key_base = typing.get_args(key)[0]
                if key_base is not str and key_base is not Any:
                    raise self.fail(
                        where,
                        f"{type_name(tp)}: dict keys must be str (JSON object keys are "
                        f"strings), not {type_name(key)}",
                    )
                return MapNode(self.compile(value, where))
            return MapNode(AnyNode())
        if isinstance(tp, type) and (
            typing.is_typeddict(tp) or attrs.has(tp) or dataclasses.is_dataclass(tp)
        ):
            return self._object(tp, where)
        raise self.unsupported(where, tp)

    def _choices(self, tp: Any, choices: list[tuple[Any, Any]], where: str) -> ChoiceNode:
        if not choices:
            raise self.fail(where, f"{type_name(tp)} has no values to choose from")
        for json_value, _ in choices:
            if json_kind(json_value) not in ("null", "boolean", "integer", "number", "string"):
                raise self.fail(
                    where,
                    f"{type_name(tp)} has the value {json_value!r}, which is not a JSON "
                    "string, number, boolean or null",
                )
        return ChoiceNode(tuple(choices))

    def _object(self, cls: type, where: str) -> ObjectNode:
        if cls in self._in_progress:
            raise self.fail(
                where, f"{type_name(cls)} is recursive, which these schemas cannot express"
            )
        self._in_progress.append(cls)
        try:
            doc_summary, doc_fields = parse_docstring(own_class_doc(cls), type_name(cls))
            hints = self.hints(cls, f"{where}: {type_name(cls)}")
            if typing.is_typeddict(cls):
                fields = self._typeddict_fields(cls, hints, doc_fields, where)
            elif attrs.has(cls):
                fields = self._attrs_fields(cls, hints, doc_fields, where)
            else:
                fields = self._dataclass_fields(cls, hints, doc_fields, where)
        finally:
            self._in_progress.pop()
        return ObjectNode(
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
    ) -> Field:
        node = self.compile(tp, f"{where}, field {key!r} of {cls.__name__}")
        return Field(
            key,
            init_name,
            node,
            required,
            NO_DEFAULT if required else default,
            annotated_description(tp) or doc,
        )

    def _typeddict_fields(
        self, cls: type, hints: Mapping[str, Any], doc_fields: Mapping[str, str], where: str
    ) -> list[Field]:
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
                self._field(cls, key, key, tp, required, NO_DEFAULT, doc_fields.get(key), where)
            )
        return fields

    def _attrs_fields(
        self, cls: type, hints: Mapping[str, Any], doc_fields: Mapping[str, str], where: str
    ) -> list[Field]:
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
            shown = NO_DEFAULT if factory else json_default(default)
            # The JSON key is the init name (attrs strips a leading underscore).
            doc = doc_fields.get(attribute.alias) or doc_fields.get(attribute.name)
            fields.append(
                self._field(cls, attribute.alias, attribute.alias, tp, required, shown, doc, where)
            )
        return fields

    def _dataclass_fields(
        self, cls: type, hints: Mapping[str, Any], doc_fields: Mapping[str, str], where: str
    ) -> list[Field]:
        fields = []
        for field in dataclasses.fields(cls):
            if not field.init:
                continue
            required = (
                field.default is dataclasses.MISSING
                and field.default_factory is dataclasses.MISSING
            )
            shown = (
                json_default(field.default)
                if field.default is not dataclasses.MISSING
                else NO_DEFAULT
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


def literal_json(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def annotated_description(tp: Any) -> str | None:
    """The description of `Annotated[T, "text"]` (also under Required/NotRequired)."""
    while typing.get_origin(tp) in _QUALIFIERS:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) is typing.Annotated:
        for meta in tp.__metadata__:
            if isinstance(meta, str):
                return meta
    return None
