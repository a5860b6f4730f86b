"""The script: which step answers the next request, and why there is none when there is none.

A script is either a queue of steps (consumed in arrival order, extendable with `add`) or a
function of the request. Both end up here so that the server only asks "the step for this
request?" and records the explanation when the answer is "none".
"""

from __future__ import annotations

import inspect
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeAlias

import attrs

from codex_manager_core.testing.scripted_model._recorded import RecordedRequest
from codex_manager_core.testing.scripted_model._steps import STEP_TYPES, Step

ScriptFunction: TypeAlias = Callable[[RecordedRequest], Step | Awaitable[Step]]


@attrs.frozen
class NoStep:
    """Why a request has no step: the message recorded in `ScriptedModel.errors` and sent
    back as the 500 body."""

    message: str


class Script:
    """The steps still to answer with, or the function that picks them."""

    def __init__(self, script: Iterable[Step] | ScriptFunction) -> None:
        self._function: ScriptFunction | None = None
        self._steps: deque[Step] = deque()
        if callable(script):
            self._function = script
        elif isinstance(script, Iterable) and not isinstance(script, str | bytes):
            self.add(*script)
        else:
            raise TypeError(
                f"script must be an iterable of steps or a function of the request, got {script!r}"
            )

    @property
    def remaining_steps(self) -> int | None:
        """How many listed steps are still unused (None when the script is a function)."""
        return None if self._function is not None else len(self._steps)

    def add(self, *steps: Step) -> None:
        """Append steps (not possible when the script is a function)."""
        if self._function is not None:
            raise TypeError("cannot add steps to a ScriptedModel whose script is a function")
        for step in steps:
            if not isinstance(step, STEP_TYPES):
                raise TypeError(
                    f"not a step: {step!r} (expected Reply, CallTool, Fail, FailResponse, "
                    "CutStream, Stall or Delay)"
                )
        self._steps.extend(steps)

    async def next_step(self, recorded: RecordedRequest, number: int) -> Step | NoStep:
        """The step answering request #`number`, or why there is none."""
        about = f"request #{number} (last user text {recorded.last_user_text!r})"
        if self._function is None:
            if self._steps:
                return self._steps.popleft()
            return NoStep(
                f"script exhausted: {about} arrived but every scripted step was already used; "
                "add steps to the script"
            )
        try:
            result = self._function(recorded)
            step = await result if inspect.isawaitable(result) else result
        except Exception as exc:  # the test's function: report it, keep serving
            return NoStep(f"the script function raised {exc!r} for {about}")
        if not isinstance(step, STEP_TYPES):
            return NoStep(f"the script function returned {step!r}, not a step, for {about}")
        return step
