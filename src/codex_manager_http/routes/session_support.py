"""Two reads several session route modules make before or after their one Manager call.

Both are composition a CLI or a remote client would otherwise repeat; they belong in the
core's session service, and move there when it offers them.
"""

from typing import Any

from codex_manager_core import SessionRecord
from codex_manager_core.errors import InvalidInput, ManagerError
from codex_manager_http.host import ManagerDep
from codex_manager_http.wire.sessions import DynamicTool, thread_or_stand_in


async def thread_of(manager: ManagerDep, record: SessionRecord) -> dict[str, Any]:
    """The runtime's thread (no turns), or a stand-in when the runtime cannot read it."""
    try:
        thread = await manager.sessions.read_thread(record.session_id, include_turns=False)
    except ManagerError:
        thread = None
    return thread_or_stand_in(thread, record)


async def check_dynamic_tools(
    manager: ManagerDep, session_id: str, tools: list[DynamicTool] | None
) -> None:
    """The original re-declared `dynamicTools` on resume and send; ours are fixed when the
    session is created. The same catalog again (what the original's Python client sends
    with every message) is accepted and changes nothing; another one is refused."""
    if not tools:
        return
    declared = {spec.get("name") for spec in (await manager.sessions.get(session_id)).dynamic_tools}
    if {tool.get("name") for tool in tools} != declared:
        raise InvalidInput(
            "dynamicTools can only be declared when the session is created "
            "(POST /api/sessions); create a new session to change them",
            issues=[{"path": ["dynamicTools"], "message": "only on session create"}],
        )
