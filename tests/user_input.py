"""What makes the scripted model ask the user a question: `request_user_input` with
QUESTIONS, in a turn sent in PLAN_MODE (codex offers the tool only in plan mode). Shared by
the tests of every layer that answers the question."""

from __future__ import annotations

from typing import Any

PLAN_MODE: dict[str, Any] = {
    "mode": "plan",
    "settings": {"model": "mock-model", "reasoning_effort": None, "developer_instructions": None},
}
QUESTIONS: dict[str, Any] = {
    "questions": [
        {
            "id": "color",
            "header": "Color",
            "question": "Which color?",
            "options": [
                {"label": "Red (Recommended)", "description": "Warm."},
                {"label": "Blue", "description": "Cold."},
            ],
        }
    ]
}
