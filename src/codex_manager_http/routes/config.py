"""Config and runtime-utility routes (the original's section 1.3): read the effective
config and its requirements, write values (optimistic `expectedVersion`), run a one-off
command, upload feedback.

Reads answer the runtime's result plus `status: "ok"`; writes `{status: "ok", result}`
like the original. A method the installed codex does not have answers 501. The shapes are
in `wire/config.py`.
"""

from typing import Annotated, Any

from litestar import get, post
from litestar.params import JSONBody, QueryParameter

from codex_manager_http.host import ManagerDep
from codex_manager_http.wire import config as wire


@get("/api/config", tags=["config"], summary="Read Codex config")
async def read_config(
    manager: ManagerDep,
    cwd: Annotated[
        str | None,
        QueryParameter(min_length=1, description="Resolve project layers for this directory"),
    ] = None,
    include_layers: Annotated[bool, QueryParameter(name="includeLayers")] = False,
) -> wire.ConfigView:
    """`config/read`."""
    result = await manager.runtime.read_config(cwd=cwd, include_layers=include_layers)
    return wire.config_view(result)


@get("/api/config/requirements", tags=["config"], summary="Read config requirements")
async def read_config_requirements(manager: ManagerDep) -> wire.RequirementsView:
    """`configRequirements/read`: the allowed approval policies, sandbox modes, ..."""
    return wire.requirements_view(await manager.runtime.read_config_requirements())


@post("/api/config/value", tags=["config"], summary="Write single config value", status_code=200)
async def write_config_value(
    manager: ManagerDep, data: JSONBody[wire.ConfigValueBody]
) -> wire.ConfigWriteResult:
    """`config/value/write`: one key; with `expectedVersion` it fails if the file changed."""
    result = await manager.runtime.write_config_value(
        key_path=data["keyPath"],
        value=data["value"],
        merge_strategy=data["mergeStrategy"],
        expected_version=data.get("expectedVersion"),
        file_path=data.get("filePath"),
    )
    return wire.config_written(result)


@post("/api/config/batch", tags=["config"], summary="Write config batch edits", status_code=200)
async def write_config_batch(
    manager: ManagerDep, data: JSONBody[wire.ConfigBatchBody]
) -> wire.ConfigWriteResult:
    """`config/batchWrite`: several edits, applied together or not at all."""
    result = await manager.runtime.write_config_batch(
        edits=data["edits"],
        expected_version=data.get("expectedVersion"),
        file_path=data.get("filePath"),
    )
    return wire.config_written(result)


@post("/api/commands/exec", tags=["config"], summary="Execute one-off command", status_code=200)
async def exec_command(manager: ManagerDep, data: JSONBody[wire.CommandBody]) -> wire.CommandResult:
    """`command/exec`: run a command outside any thread (the runtime's sandbox applies)."""
    result = await manager.runtime.exec_command(
        data["command"], cwd=data.get("cwd"), timeout_ms=data.get("timeoutMs")
    )
    return wire.command_result(result)


@post("/api/feedback", tags=["config"], summary="Upload feedback to Codex", status_code=200)
async def upload_feedback(
    manager: ManagerDep, data: JSONBody[wire.FeedbackBody]
) -> wire.FeedbackResult:
    """`feedback/upload`."""
    result = await manager.runtime.upload_feedback(
        classification=data["classification"],
        include_logs=data["includeLogs"],
        reason=data.get("reason"),
        thread_id=data.get("threadId"),
    )
    return wire.feedback_result(result)


ROUTES: list[Any] = [
    read_config,
    read_config_requirements,
    write_config_value,
    write_config_batch,
    exec_command,
    upload_feedback,
]
