"""What a decoded JSON value is, in the words the model reads in an error message.

The argument checks (`nodes`) and the argument parser (`tool`) both describe values the
model sent; one vocabulary keeps those messages alike ("expected an integer, got string
"x"").
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

JSON_KIND_NAMES: Final = {
    "null": "null",
    "boolean": "true or false",
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "array": "an array",
    "object": "an object",
}


def json_kind(value: Any) -> str:
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


def describe(value: Any) -> str:
    """A short description of a JSON value for error messages."""
    kind = json_kind(value)
    if kind in ("boolean", "null"):
        return json.dumps(value)
    if kind in ("integer", "number", "string"):
        text = json.dumps(value, ensure_ascii=False)
        short = text if len(text) <= 60 else text[:57] + "..."
        return f"{'string' if kind == 'string' else 'number'} {short}"
    if kind in ("array", "object"):
        return f"an {kind}"
    return f"a {kind}"


def same_json_value(a: Any, b: Any) -> bool:
    """JSON equality: keeps true apart from 1 and "1" apart from 1 (Python mixes the first)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, str) != isinstance(b, str):
        return False
    return bool(a == b)
