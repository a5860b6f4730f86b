"""The one error the tools package raises on purpose (defined with the rest of the hierarchy
in `codex_manager_core.errors`): a callable that cannot become a tool. Raised at
registration, never at call time: definition mistakes are the developer's to fix, while
call-time problems are reported to the model as a failed `ToolResult`."""

from codex_manager_core.errors import ToolDefinitionError

__all__ = ["ToolDefinitionError"]
