"""One error hierarchy: every error the core raises on purpose is a CodexManagerError with a
stable code, exported from the package; hosts map codes, never messages."""

from __future__ import annotations

import inspect

import codex_manager_core
from codex_manager_core import errors
from codex_manager_core.services.context import map_runtime_error

#: The codes are part of the API (the HTTP bodies and the CLI's exit codes use them): a
#: change here is a breaking change, made on purpose.
CODES = {
    "CodexManagerError": "error",
    "CodexRuntimeError": "runtime_error",
    "BinaryNotFound": "codex_not_found",
    "RuntimeUnavailable": "runtime_unavailable",
    "RuntimeExited": "runtime_unavailable",
    "StartupFailed": "runtime_start_failed",
    "TransportClosed": "runtime_unavailable",
    "RpcError": "codex_error",
    "TimedOut": "timeout",
    "CallTimeout": "codex_timeout",
    "JobStalled": "job_stalled",
    "ReloadFailed": "reload_failed",
    "TurnTimeout": "timeout",
    "TurnFailed": "turn_failed",
    "InvalidInput": "invalid_request",
    "SettingsTooLarge": "settings_too_large",
    "NotFound": "not_found",
    "Gone": "deleted",
    "Forbidden": "forbidden",
    "SystemSessionForbidden": "system_session",
    "Conflict": "conflict",
    "InvalidState": "invalid_state",
    "TurnInProgress": "invalid_state",
    "Locked": "locked",
    "QueueFull": "queue_full",
    "MethodNotSupported": "method_not_supported",
    "RuntimeCallFailed": "codex_error",
    "AuthRequired": "codex_auth_required",
    "StoreUnavailable": "store_unavailable",
    "StoreConflict": "store_conflict",
    "StoreCorrupt": "store_corrupt",
    "DataDirLocked": "data_dir_locked",
    "DataDirUnusable": "data_dir_unusable",
    "ToolDefinitionError": "invalid_tool",
}


def _error_classes() -> dict[str, type[BaseException]]:
    return {
        name: value
        for name, value in vars(errors).items()
        if inspect.isclass(value)
        and issubclass(value, BaseException)
        and value.__module__ == errors.__name__
        and value.__name__ == name
    }


def test_every_error_is_under_one_root_with_its_stable_code() -> None:
    classes = _error_classes()
    assert set(classes) == set(CODES), "a new error needs its code in CODES (and the docs)"
    for name, cls in classes.items():
        assert issubclass(cls, errors.CodexManagerError), name
        assert cls.code == CODES[name], name


def test_every_error_is_exported_from_the_package() -> None:
    for name, cls in _error_classes().items():
        assert getattr(codex_manager_core, name) is cls, name
        assert name in codex_manager_core.__all__, name
    assert codex_manager_core.ManagerError is errors.CodexManagerError


def test_timeouts_share_one_base_that_is_also_a_builtin_timeout() -> None:
    assert issubclass(errors.CallTimeout, errors.TimedOut)
    assert issubclass(errors.TurnTimeout, errors.TimedOut)
    assert issubclass(errors.TimedOut, TimeoutError)


def test_the_store_and_tools_vocabulary_is_the_same_classes() -> None:
    from codex_manager_core.ports.store import StoreConflict, StoreCorrupt
    from codex_manager_core.tools import ToolDefinitionError

    assert StoreConflict is errors.StoreConflict
    assert StoreCorrupt is errors.StoreCorrupt
    assert ToolDefinitionError is errors.ToolDefinitionError


def test_runtime_errors_are_mapped_into_the_hierarchy() -> None:
    rpc_error = errors.RpcError("thread/start", -32602, "missing field `cwd`")
    assert rpc_error.rpc_code == -32602
    mapped = map_runtime_error("thread/start", rpc_error)
    assert isinstance(mapped, errors.InvalidInput)
    assert mapped.code == "invalid_params"
    timeout = errors.CallTimeout("thread/read", 5.0)
    assert map_runtime_error("thread/read", timeout) is timeout
    failed = map_runtime_error("x", errors.RpcError("x", -32000, "boom"))
    assert isinstance(failed, errors.RuntimeCallFailed)
    assert failed.message == "codex app-server failed 'x': boom"


def test_message_and_details_are_on_every_error() -> None:
    error = errors.Conflict("taken", code="duplicate_name", details={"name": "a"})
    assert (error.message, error.code, error.details) == ("taken", "duplicate_name", {"name": "a"})
    exited = errors.RuntimeExited("turn/start")
    assert exited.message == str(exited)
    assert exited.details is None
