"""A thread rebuilt from the ledger (what a session shows when codex cannot read its files)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from codex_manager_core.models import Event
from codex_manager_core.services.ledger_history import turns_from_events
from codex_manager_core.services.transcript import turns_to_rows

T0 = datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)


def event(seq: int, type_: str, params: dict[str, Any]) -> Event:
    return Event(seq, type_, "th", {"method": "x", "params": params}, T0 + timedelta(seconds=seq))


def user(item_id: str, text: str) -> dict[str, Any]:
    return {"type": "userMessage", "id": item_id, "content": [{"type": "text", "text": text}]}


def test_turns_come_back_with_their_completed_items_in_order() -> None:
    events = [
        event(1, "app_server.turn.started", {"turn": {"id": "t1", "status": "inProgress"}}),
        event(2, "app_server.item.completed", {"turnId": "t1", "item": user("u1", "hi")}),
        event(
            3,
            "app_server.item.completed",
            {"turnId": "t1", "item": {"type": "agentMessage", "id": "a1", "text": "hello"}},
        ),
        event(
            4,
            "app_server.turn.completed",
            {"turn": {"id": "t1", "status": "completed", "items": [], "error": None}},
        ),
        event(5, "app_server.turn.started", {"turn": {"id": "t2", "status": "inProgress"}}),
        event(6, "app_server.item.completed", {"turnId": "t2", "item": user("u2", "more")}),
    ]
    turns = turns_from_events(events)
    assert [(t["id"], t["status"]) for t in turns] == [("t1", "completed"), ("t2", "inProgress")]
    assert [item["id"] for item in turns[0]["items"]] == ["u1", "a1"]
    assert turns[0]["startedAt"] == round((T0 + timedelta(seconds=1)).timestamp())
    assert turns[0]["completedAt"] == round((T0 + timedelta(seconds=4)).timestamp())
    assert "completedAt" not in turns[1]
    rows = turns_to_rows(turns)
    assert [(r["role"], r["content"], r["status"]) for r in rows] == [
        ("user", "hi", "complete"),
        ("assistant", "hello", "complete"),
        ("user", "more", "complete"),
    ]


def test_a_completion_with_items_fills_a_turn_whose_item_events_are_gone() -> None:
    # e.g. compacted away, or lost while the disk was full: turn/completed carries them.
    items = [user("u1", "hi"), {"type": "agentMessage", "id": "a1", "text": "hey"}]
    events = [
        event(
            7,
            "app_server.turn.completed",
            {"turn": {"id": "t1", "status": "completed", "items": items}},
        ),
        event(8, "app_server.item.completed", {"turnId": None, "item": user("x", "no turn")}),
        event(9, "app_server.turn.completed", {"turn": "not an object"}),
    ]
    (turn,) = turns_from_events(events)
    assert [item["id"] for item in turn["items"]] == ["u1", "a1"]
    assert turn["status"] == "completed"
