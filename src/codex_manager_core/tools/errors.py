"""The one error the tools package raises on purpose: a callable that cannot become a tool."""

from __future__ import annotations

from codex_manager_core.errors import CodexManagerError


class ToolDefinitionError(CodexManagerError):
    """A callable cannot become a tool (bad name, duplicate, unsupported signature or type).

    Raised at registration, never at call time: definition mistakes are the developer's to fix,
    while call-time problems are reported to the model as a failed `ToolResult`.
    """
