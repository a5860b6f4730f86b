"""The check of a re-declared `dynamicTools` catalog that the message and resume routes
share (the original let clients send it again with every message; ours is fixed at create).
"""

from codex_manager_core.errors import InvalidInput
from codex_manager_http.host import ManagerDep
from codex_manager_http.wire.sessions import DynamicTool


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
