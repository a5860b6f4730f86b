"""What a session's arguments must be: its title and its dynamic tool declarations.
Pure checks, raising InvalidInput that names the field."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from codex_manager_core.errors import InvalidInput
from codex_manager_core.models import JsonObject

MAX_TITLE: Final = 200
MAX_DYNAMIC_TOOLS: Final = 128
MAX_PAGE: Final = 200


def clean_title(title: object) -> str:
    if not isinstance(title, str) or not title.strip():
        raise InvalidInput(
            "title must be a non-empty string", issues=[{"path": ["title"], "message": "required"}]
        )
    title = " ".join(title.split())
    if len(title) > MAX_TITLE:
        raise InvalidInput(
            f"title is {len(title)} characters; the limit is {MAX_TITLE}",
            issues=[{"path": ["title"], "message": f"at most {MAX_TITLE} characters"}],
        )
    return title


def check_dynamic_tools(specs: object) -> tuple[JsonObject, ...]:
    """Dynamic tool declarations as app-server wants them: {type?, name, description,
    inputSchema}; at most 128, unique names."""
    if specs is None:
        return ()
    if not isinstance(specs, Sequence) or isinstance(specs, str | bytes):
        raise InvalidInput(
            "dynamic_tools must be a list",
            issues=[{"path": ["dynamic_tools"], "message": "not a list"}],
        )
    if len(specs) > MAX_DYNAMIC_TOOLS:
        raise InvalidInput(
            f"at most {MAX_DYNAMIC_TOOLS} dynamic tools, got {len(specs)}",
            issues=[{"path": ["dynamic_tools"], "message": "too many"}],
        )
    result = []
    seen: set[str] = set()
    for index, spec in enumerate(specs):
        problem = None
        if not isinstance(spec, Mapping):
            problem = "must be an object"
        elif not isinstance(spec.get("name"), str) or not spec["name"]:
            problem = "name must be a non-empty string"
        elif spec["name"] in seen:
            problem = f"duplicate name {spec['name']!r}"
        elif not isinstance(spec.get("inputSchema", {}), Mapping):
            problem = "inputSchema must be a JSON Schema object"
        elif not isinstance(spec.get("description", ""), str):
            problem = "description must be a string"
        if problem is not None:
            raise InvalidInput(
                f"dynamic_tools[{index}]: {problem}",
                issues=[{"path": ["dynamic_tools", index], "message": problem}],
            )
        assert isinstance(spec, Mapping)
        seen.add(spec["name"])
        result.append(
            {
                "type": "function",
                "name": spec["name"],
                "description": spec.get("description", ""),
                "inputSchema": dict(spec.get("inputSchema") or {"type": "object"}),
            }
        )
    return tuple(result)
