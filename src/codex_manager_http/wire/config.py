"""Config and runtime-utility shapes (the original's section 1.3): the effective config and
its requirements, config writes, a one-off command, feedback."""

from typing import Annotated, Any, Literal, NotRequired, TypedDict, cast

import msgspec

from codex_manager_http.wire.common import NonEmpty, with_status

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


def config_view(result: Any) -> ConfigView:
    return cast(ConfigView, with_status(result))


def requirements_view(result: Any) -> RequirementsView:
    return cast(RequirementsView, with_status(result))


def config_written(result: Any) -> ConfigWriteResult:
    return {"status": "ok", "result": result}


def command_result(result: Any) -> CommandResult:
    return {"status": "ok", "result": result}


def feedback_result(result: Any) -> FeedbackResult:
    return {"status": "ok", "result": result}
