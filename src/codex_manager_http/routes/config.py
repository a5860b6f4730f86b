"""Config and runtime-utility routes (the original's section 1.3): read the effective
config and its requirements, write values (optimistic `expectedVersion`), run a one-off
command, upload feedback.

Reads answer the runtime's result plus `status: "ok"`; writes `{status: "ok", result}`
like the original. A method the installed codex does not have answers 501.
"""

from typing import Annotated, Any, Literal, NotRequired, TypedDict, cast

import msgspec
from litestar import get, post
from litestar.params import Parameter

from codex_manager_http.app import ManagerDep

NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]
MergeStrategy = Literal["replace", "upsert"]


class ConfigView(TypedDict):
    """`config/read`: the effective config, where each value comes from, and (with
    `includeLayers`) the layers."""

    status: str
    config: dict[str, Any]
    origins: NotRequired[dict[str, Any]]
    layers: NotRequired[list[dict[str, Any]] | None]


class RequirementsView(TypedDict):
    """`configRequirements/read`: admin constraints (null when none are configured)."""

    status: str
    requirements: NotRequired[dict[str, Any] | None]


class ConfigWriteResult(TypedDict):
    status: str
    result: dict[str, Any]
    """The runtime's answer: `{status: ok|okOverridden, version, filePath,
    overriddenMetadata}`."""


class CommandResult(TypedDict):
    status: str
    result: dict[str, Any]
    """The runtime's answer: `{exitCode, stdout, stderr}`."""


class FeedbackResult(TypedDict):
    status: str
    result: dict[str, Any]
    """The runtime's answer: `{threadId, ...}`."""


class ConfigValueBody(TypedDict):
    keyPath: NonEmpty
    mergeStrategy: MergeStrategy
    value: Any
    expectedVersion: NotRequired[NonEmpty]
    filePath: NotRequired[NonEmpty]


class ConfigEdit(TypedDict):
    keyPath: NonEmpty
    mergeStrategy: MergeStrategy
    value: Any


class ConfigBatchBody(TypedDict):
    edits: Annotated[list[ConfigEdit], msgspec.Meta(min_length=1)]
    expectedVersion: NotRequired[NonEmpty]
    filePath: NotRequired[NonEmpty]


class CommandBody(TypedDict):
    command: Annotated[list[NonEmpty], msgspec.Meta(min_length=1)]
    """argv, e.g. `["git", "status"]` (not a shell string)."""
    cwd: NotRequired[NonEmpty]
    timeoutMs: NotRequired[Annotated[int, msgspec.Meta(gt=0)]]


class FeedbackBody(TypedDict):
    classification: NonEmpty
    includeLogs: bool
    reason: NotRequired[NonEmpty]
    threadId: NotRequired[NonEmpty]


def _with_status(result: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"status": "ok"}
    if isinstance(result, dict):
        body.update(result)
    else:
        body["result"] = result
    return body


@get("/api/config", tags=["config"], summary="Read Codex config")
async def read_config(
    manager: ManagerDep,
    cwd: Annotated[
        str | None, Parameter(min_length=1, description="Resolve project layers for this directory")
    ] = None,
    include_layers: Annotated[bool, Parameter(query="includeLayers")] = False,
) -> ConfigView:
    """`config/read`."""
    result = await manager.runtime.read_config(cwd=cwd, include_layers=include_layers)
    return cast(ConfigView, _with_status(result))


@get("/api/config/requirements", tags=["config"], summary="Read config requirements")
async def read_config_requirements(manager: ManagerDep) -> RequirementsView:
    """`configRequirements/read`: the allowed approval policies, sandbox modes, ..."""
    return cast(RequirementsView, _with_status(await manager.runtime.read_config_requirements()))


@post("/api/config/value", tags=["config"], summary="Write single config value", status_code=200)
async def write_config_value(manager: ManagerDep, data: ConfigValueBody) -> ConfigWriteResult:
    """`config/value/write`: one key; with `expectedVersion` it fails if the file changed."""
    result = await manager.runtime.write_config_value(
        key_path=data["keyPath"],
        value=data["value"],
        merge_strategy=data["mergeStrategy"],
        expected_version=data.get("expectedVersion"),
        file_path=data.get("filePath"),
    )
    return {"status": "ok", "result": result}


@post("/api/config/batch", tags=["config"], summary="Write config batch edits", status_code=200)
async def write_config_batch(manager: ManagerDep, data: ConfigBatchBody) -> ConfigWriteResult:
    """`config/batchWrite`: several edits, applied together or not at all."""
    result = await manager.runtime.write_config_batch(
        edits=data["edits"],
        expected_version=data.get("expectedVersion"),
        file_path=data.get("filePath"),
    )
    return {"status": "ok", "result": result}


@post("/api/commands/exec", tags=["config"], summary="Execute one-off command", status_code=200)
async def exec_command(manager: ManagerDep, data: CommandBody) -> CommandResult:
    """`command/exec`: run a command outside any thread (the runtime's sandbox applies)."""
    result = await manager.runtime.exec_command(
        data["command"], cwd=data.get("cwd"), timeout_ms=data.get("timeoutMs")
    )
    return {"status": "ok", "result": result}


@post("/api/feedback", tags=["config"], summary="Upload feedback to Codex", status_code=200)
async def upload_feedback(manager: ManagerDep, data: FeedbackBody) -> FeedbackResult:
    """`feedback/upload`."""
    result = await manager.runtime.upload_feedback(
        classification=data["classification"],
        include_logs=data["includeLogs"],
        reason=data.get("reason"),
        thread_id=data.get("threadId"),
    )
    return {"status": "ok", "result": result}


ROUTES = [
    read_config,
    read_config_requirements,
    write_config_value,
    write_config_batch,
    exec_command,
    upload_feedback,
]
