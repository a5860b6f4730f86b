"""Reading action intents out of a worker's answer.

A worker that cannot call tools (or is asked to answer in one message) replies with
`{"kind": "action_intents", "intents": [{kind, payload, idempotencyKey?}, ...]}`. Models
wrap JSON in prose or in a ```json fence, so the object is looked for as the whole text,
then a fenced block, then the outermost `{...}`. The text is the model's: it is bounded
(size, depth, count) before anything is parsed, and every problem is an InvalidInput that
names where it is ("intents[3].kind: unknown kind 'foo'")."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from codex_manager_core.actions.executor import ACTION_KINDS, MAX_KEY
from codex_manager_core.actions.model import ActionRequest
from codex_manager_core.errors import InvalidInput

MAX_TEXT = 1_000_000
"""Characters of answer looked at; a longer answer is refused, not truncated."""
MAX_INTENTS = 32
MAX_DEPTH = 32
"""Nesting of objects and lists in the document (json's own limit is the stack)."""

_FENCE = re.compile(r"```(?:json)?[ \t]*\r?\n(.*?)```", re.DOTALL | re.IGNORECASE)


def _invalid(path: str, message: str) -> InvalidInput:
    parts: list[Any] = [p for p in re.split(r"[.\[\]]+", path) if p] if path else []
    return InvalidInput(
        f"{path}: {message}" if path else message,
        issues=[{"path": [int(p) if p.isdigit() else p for p in parts], "message": message}],
    )


def _depth(text: str) -> int:
    """The deepest nesting of brackets outside strings, counted without parsing."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "}]":
            depth -= 1
    return deepest


def _candidates(text: str) -> list[str]:
    stripped = text.strip()
    found = [stripped]
    found.extend(match.group(1).strip() for match in _FENCE.finditer(text))
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        found.append(text[start : end + 1])
    return found


def _document(text: str) -> Any:
    for candidate in _candidates(text):
        if not candidate.startswith("{"):
            continue
        if _depth(candidate) > MAX_DEPTH:
            raise _invalid("", f"the JSON is nested deeper than {MAX_DEPTH} levels")
        try:
            return json.loads(candidate)
        except (ValueError, RecursionError):
            continue
    raise _invalid(
        "",
        'no action intents found: expected a JSON object {"kind": "action_intents", '
        '"intents": [...]} (raw, in a ```json block, or as the outermost {...})',
    )


def parse_action_intents(text: str) -> list[ActionRequest]:
    """The action requests in a worker's answer (1 to 32), checked; InvalidInput names the
    first problem (and lists each in `issues`)."""
    if not isinstance(text, str):
        raise _invalid("", f"the answer must be text, got {type(text).__name__}")
    if len(text) > MAX_TEXT:
        raise _invalid("", f"the answer is {len(text)} characters; the limit is {MAX_TEXT}")
    document = _document(text)
    if not isinstance(document, Mapping):
        raise _invalid("", "the answer's JSON must be an object")
    if document.get("kind") != "action_intents":
        raise _invalid("kind", f"must be 'action_intents', got {document.get('kind')!r}")
    intents = document.get("intents")
    if not isinstance(intents, list):
        raise _invalid("intents", "must be a list of intents")
    if not 1 <= len(intents) <= MAX_INTENTS:
        raise _invalid("intents", f"must hold 1 to {MAX_INTENTS} intents, got {len(intents)}")
    return [intent_request(intent, f"intents[{index}]") for index, intent in enumerate(intents)]


def intent_request(intent: Any, where: str = "") -> ActionRequest:
    """One intent `{kind, payload, idempotencyKey?}` as an action request, checked;
    InvalidInput names the field under `where` (the worker tool `act` takes one intent)."""

    def at(name: str) -> str:
        return f"{where}.{name}" if where else name

    if not isinstance(intent, Mapping):
        raise _invalid(where, "must be an object {kind, payload, idempotencyKey?}")
    kind = intent.get("kind")
    if not isinstance(kind, str) or kind not in ACTION_KINDS:
        raise _invalid(at("kind"), f"unknown kind {kind!r}; known kinds: {', '.join(ACTION_KINDS)}")
    payload = intent.get("payload")
    if not isinstance(payload, Mapping):
        raise _invalid(at("payload"), "must be an object")
    key = intent.get("idempotencyKey")
    if key is not None and (not isinstance(key, str) or not key or len(key) > MAX_KEY):
        raise _invalid(at("idempotencyKey"), f"must be a string of 1-{MAX_KEY} characters")
    return ActionRequest(kind, dict(payload), key)


__all__ = ["MAX_DEPTH", "MAX_INTENTS", "MAX_TEXT", "intent_request", "parse_action_intents"]
