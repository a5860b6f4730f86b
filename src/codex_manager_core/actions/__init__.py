"""Actions: the core's one way for something other than a person (a worker session, later an
extension) to change state on a session's behalf, checked against what it may touch.

`ActionExecutor` (executor.py) runs an `ActionRequest` inside an `ActionScope` and answers
with an `ActionResult`; `parse_action_intents` (intents.py) reads requests out of a
worker's answer; `WorkerTools` (worker_tools.py) gives them to worker sessions as dynamic
tools. See docs/queue.md, "Actions and worker tools".
"""

from codex_manager_core.actions.executor import ACTION_KINDS, ActionExecutor
from codex_manager_core.actions.intents import parse_action_intents
from codex_manager_core.actions.model import ActionRequest, ActionResult, ActionScope, ActionStatus
from codex_manager_core.actions.worker_tools import WorkerTools

__all__ = [
    "ACTION_KINDS",
    "ActionExecutor",
    "ActionRequest",
    "ActionResult",
    "ActionScope",
    "ActionStatus",
    "WorkerTools",
    "parse_action_intents",
]
