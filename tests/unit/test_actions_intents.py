"""`parse_action_intents`: the three forms a worker's answer takes (raw JSON, a ```json
fence, the outermost {...} in prose), and the errors: each names where the problem is, and
hostile text (huge, deeply nested, not JSON, too many intents) is refused clearly."""

from __future__ import annotations

import json

import pytest

from codex_manager_core.actions import ActionRequest, parse_action_intents
from codex_manager_core.actions.intents import MAX_INTENTS, MAX_TEXT
from codex_manager_core.errors import InvalidInput

INTENT = {"kind": "session.rename", "payload": {"sessionId": "s1", "title": "T"}}
DOC = {"kind": "action_intents", "intents": [INTENT, {**INTENT, "idempotencyKey": "k"}]}
EXPECTED = [
    ActionRequest("session.rename", {"sessionId": "s1", "title": "T"}),
    ActionRequest("session.rename", {"sessionId": "s1", "title": "T"}, "k"),
]


def refused(text: str) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse_action_intents(text)
    return caught.value


def test_raw_json() -> None:
    assert parse_action_intents(json.dumps(DOC)) == EXPECTED


def test_a_fenced_json_block_among_prose() -> None:
    text = f"Here is what I will do:\n```json\n{json.dumps(DOC, indent=2)}\n```\nDone."
    assert parse_action_intents(text) == EXPECTED


def test_the_outermost_object_in_prose() -> None:
    assert parse_action_intents(f"Sure {json.dumps(DOC)} -- that is all.") == EXPECTED


def test_each_problem_names_its_place() -> None:
    def doc(*intents: object, kind: str = "action_intents") -> str:
        return json.dumps({"kind": kind, "intents": list(intents)})

    unknown = refused(doc(INTENT, INTENT, INTENT, {**INTENT, "kind": "foo"}))
    assert unknown.message.startswith("intents[3].kind: unknown kind 'foo'")
    assert unknown.issues[0]["path"] == ["intents", 3, "kind"]
    assert refused(doc(INTENT, kind="other")).message == (
        "kind: must be 'action_intents', got 'other'"
    )
    assert (
        refused(doc({**INTENT, "payload": []})).message == "intents[0].payload: must be an object"
    )
    assert refused(doc({**INTENT, "idempotencyKey": 5})).message.startswith(
        "intents[0].idempotencyKey:"
    )
    assert refused(doc("x")).message.startswith("intents[0]: must be an object")
    assert refused(doc()).message == f"intents: must hold 1 to {MAX_INTENTS} intents, got 0"
    many = refused(doc(*[INTENT] * (MAX_INTENTS + 1)))
    assert many.message == f"intents: must hold 1 to {MAX_INTENTS} intents, got {MAX_INTENTS + 1}"
    assert len(parse_action_intents(doc(*[INTENT] * MAX_INTENTS))) == MAX_INTENTS


def test_hostile_text_is_refused_clearly() -> None:
    assert refused("I could not decide.").message.startswith("no action intents found")
    assert refused("{not json at all}").message.startswith("no action intents found")
    assert refused("[1, 2]").message.startswith("no action intents found")
    huge = refused("x" * (MAX_TEXT + 1))
    assert huge.message == f"the answer is {MAX_TEXT + 1} characters; the limit is {MAX_TEXT}"
    deep = refused('{"kind": ' + "[" * 10_000 + "]" * 10_000 + "}")
    assert deep.message == "the JSON is nested deeper than 32 levels"
    # Brackets inside strings are not nesting.
    text = json.dumps({**DOC, "note": "[[[[" * 100})
    assert parse_action_intents(text) == EXPECTED
    assert refused(123).message == "the answer must be text, got int"  # type: ignore[arg-type]
