"""Extensions: workflows as replaceable Python packages (docs/extensions.md).

An extension subscribes handlers to events (`register(registry)`); a handler gets the event
and a scoped toolbox and returns nothing, an enqueue result, a handler result or an action
request, which the core executes in the event's scope. `api.py` is what an extension author
imports; `model.py` is the runtime's vocabulary.
"""

from codex_manager_core.extensions.api import (
    CORE_API_VERSION,
    DEFAULT_PRIORITY,
    DEFAULT_TIMEOUT,
    SYNTHESIZED_EVENTS,
    ActionRequest,
    EnqueueResult,
    EnqueueStatus,
    EventContext,
    ExtensionEvent,
    ExtensionRegistry,
    Handler,
    HandlerResult,
    HandlerReturn,
    Subscription,
    Toolbox,
    ToolboxClosed,
)

__all__ = [
    "CORE_API_VERSION",
    "DEFAULT_PRIORITY",
    "DEFAULT_TIMEOUT",
    "SYNTHESIZED_EVENTS",
    "ActionRequest",
    "EnqueueResult",
    "EnqueueStatus",
    "EventContext",
    "ExtensionEvent",
    "ExtensionRegistry",
    "Handler",
    "HandlerResult",
    "HandlerReturn",
    "Subscription",
    "Toolbox",
    "ToolboxClosed",
]
