"""Loading one extension: the original's checks, in order, each failing with its
LoadErrorCode.

1. the manifest is valid (invalid_manifest, naming the field);
2. the events entrypoint exists (missing_entrypoint);
3. the runtime is compatible (incompatible_runtime: extensions/versions.py);
4. the module imports (import_failed: imported from its file under a unique module name,
   so a reload re-imports it; a syntax error or an import-time exception is caught);
5. it has a callable `register` (missing_register);
6. `register(registry)` runs and subscribes well (registration_failed);
7. trust passes (trust_denied: extensions/trust.py).

An extension whose manifest says `isolation = "process"` is loaded in a subprocess by
`codex_manager_core.extensions.isolation.load_isolated(manifest, root, module_name)`, which
gives its subscriptions; without that module it is refused (import_failed). The uniqueness
of agentId is checked over a whole snapshot by the caller (`check_conflicts`).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import itertools
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeAlias

import anyio.to_thread

from codex_manager_core.extensions.api import ExtensionRegistry, Subscription
from codex_manager_core.extensions.discovery import Candidate
from codex_manager_core.extensions.manifest import ManifestError, read_manifest
from codex_manager_core.extensions.model import (
    Diagnostic,
    Isolation,
    LoadedExtension,
    LoadErrorCode,
    Manifest,
    TrustMode,
)
from codex_manager_core.extensions.trust import DENIED, effective_mode, evaluate
from codex_manager_core.extensions.versions import runtime_problems

IsolatedLoader: TypeAlias = Callable[[Manifest, Path, str], Any]
"""`isolation.load_isolated(manifest, root, module_name)`: (an awaitable of) an object with
`.subscriptions` and `async close()`, or (in tests) the subscriptions themselves."""

_counter = itertools.count(1)


class LoadFailed(Exception):
    """One extension could not be loaded: `diagnostic` says why (code, message)."""

    def __init__(self, code: LoadErrorCode, message: str) -> None:
        super().__init__(f"{code.value}: {message}")
        self.diagnostic = Diagnostic(code.value, message)


def default_isolated_loader() -> IsolatedLoader | None:
    """`isolation.load_isolated`, or None while that module does not exist."""
    try:
        module = importlib.import_module("codex_manager_core.extensions.isolation")
    except ImportError:
        return None
    loader = getattr(module, "load_isolated", None)
    return loader if callable(loader) else None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return f"SyntaxError: {exc.msg} ({exc.filename}, line {exc.lineno})"
    return f"{type(exc).__name__}: {exc}"


def _unique_module_name(name: str) -> str:
    safe = "".join(c if c.isalnum() else "_" for c in name)
    return f"codex_manager_extension_{safe}_{next(_counter)}"


def import_and_register(
    module_file: Path, name: str, package: str | None = None
) -> tuple[Subscription, ...]:
    """Import `module_file` under a fresh module name and run its `register`: blocking,
    so it runs in a worker thread. `package`: an installed module's parent package, for its
    relative imports. LoadFailed on any problem."""
    # A submodule of an installed package is named inside it, for its relative imports.
    unique = f"{package}.{_unique_module_name(name)}" if package else _unique_module_name(name)
    is_package = module_file.name == "__init__.py"
    try:
        spec = importlib.util.spec_from_file_location(
            unique,
            module_file,
            submodule_search_locations=[str(module_file.parent)] if is_package else None,
        )
        if spec is None or spec.loader is None:
            raise ImportError(f"no loader for {module_file}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[unique] = module  # while it runs: decorators that look themselves up
        try:
            spec.loader.exec_module(module)
        finally:
            sys.modules.pop(unique, None)
    except (Exception, SystemExit) as exc:  # an extension's import may raise anything
        raise LoadFailed(LoadErrorCode.IMPORT_FAILED, _describe(exc)) from None
    register = getattr(module, "register", None)
    if not callable(register):
        raise LoadFailed(
            LoadErrorCode.MISSING_REGISTER, f"{module_file} has no callable `register(registry)`"
        )
    registry = ExtensionRegistry(name)
    try:
        returned = register(registry)
    except Exception as exc:
        raise LoadFailed(LoadErrorCode.REGISTRATION_FAILED, _describe(exc)) from None
    if inspect.isawaitable(returned):
        close = getattr(returned, "close", None)
        if callable(close):
            close()
        raise LoadFailed(
            LoadErrorCode.REGISTRATION_FAILED, "`register` must be a plain function, not async"
        )
    return tuple(registry.subscriptions)


def _read(candidate: Candidate) -> tuple[Manifest, Path | None]:
    try:
        return read_manifest(candidate.root, default_name=candidate.default_name)
    except ManifestError as exc:
        raise LoadFailed(LoadErrorCode.INVALID_MANIFEST, str(exc)) from None


def _prepare(candidate: Candidate) -> tuple[Manifest, Path | None, Path]:
    """Checks 1-3 (blocking: files): the manifest, its path, the entrypoint file."""
    manifest, manifest_path = _read(candidate)
    if candidate.module_file is not None:
        entry = candidate.module_file
    else:
        entry = candidate.root / manifest.entrypoint
        inside = entry.resolve().is_relative_to(candidate.root.resolve())
        if not inside or not entry.is_file():
            raise LoadFailed(
                LoadErrorCode.MISSING_ENTRYPOINT,
                f"entrypoints.events {manifest.entrypoint!r} is not a file in {candidate.root}",
            )
    problems = runtime_problems(manifest.runtime)
    if problems:
        raise LoadFailed(LoadErrorCode.INCOMPATIBLE_RUNTIME, "; ".join(problems))
    return manifest, manifest_path, entry


async def load_candidate(
    candidate: Candidate,
    *,
    trust: TrustMode,
    isolated: IsolatedLoader | None,
    import_timeout: float = 30.0,
) -> LoadedExtension:
    """Load one extension; LoadFailed with the first check it fails."""
    manifest, manifest_path, entry = await anyio.to_thread.run_sync(_prepare, candidate)
    handle: Any = None
    if manifest.isolation is Isolation.PROCESS:
        subscriptions, handle = await _load_isolated(manifest, candidate.root, isolated)
    else:
        package = None
        if candidate.module_file is not None and entry.name != "__init__.py":
            package = candidate.origin.path.rpartition(".")[0] or None
        # A module whose import (or register) hangs must not hold the Manager's open: past
        # the timeout the thread is abandoned (Python cannot stop it) and the extension
        # refused.
        with anyio.move_on_after(import_timeout) as waited:
            subscriptions = await anyio.to_thread.run_sync(
                import_and_register, entry, manifest.name, package, abandon_on_cancel=True
            )
        if waited.cancelled_caught:
            raise LoadFailed(
                LoadErrorCode.IMPORT_FAILED,
                f"importing {entry} and calling register did not finish within "
                f"{import_timeout:g} s",
            )
    mode = effective_mode(trust, candidate.origin.type)
    report = evaluate(manifest, subscriptions, mode)
    if report.status == DENIED:
        if handle is not None:
            await handle.close()
        raise LoadFailed(LoadErrorCode.TRUST_DENIED, "; ".join(report.errors))
    diagnostics = tuple(Diagnostic("undeclared_event", w, "warning") for w in report.warnings)
    return LoadedExtension(
        module_name=manifest.name,
        manifest=manifest,
        origin=candidate.origin,
        manifest_path=None if manifest_path is None else str(manifest_path),
        entrypoint_path=str(entry),
        subscriptions=subscriptions,
        trust=report,
        diagnostics=diagnostics,
        root=candidate.root,
        isolated=handle,
    )


async def _load_isolated(
    manifest: Manifest, root: Path, isolated: IsolatedLoader | None
) -> tuple[tuple[Subscription, ...], Any]:
    """The subscriptions of a process-isolated extension and the handle of its child."""
    if isolated is None:
        raise LoadFailed(LoadErrorCode.IMPORT_FAILED, "process isolation unavailable")
    try:
        result: Any = isolated(manifest, root, manifest.name)
        if inspect.isawaitable(result):
            result = await result
    except LoadFailed:
        raise
    except Exception as exc:
        code = getattr(exc, "code", None)
        raise LoadFailed(
            code if isinstance(code, LoadErrorCode) else LoadErrorCode.IMPORT_FAILED,
            _describe(exc),
        ) from None
    handle = result if hasattr(result, "subscriptions") else None
    subscriptions = result.subscriptions if handle is not None else result
    if not isinstance(subscriptions, tuple | list) or not all(
        isinstance(s, Subscription) for s in subscriptions
    ):
        if handle is not None:
            await handle.close()
        raise LoadFailed(
            LoadErrorCode.REGISTRATION_FAILED, f"isolated host gave {type(result).__name__}"
        )
    return tuple(subscriptions), handle


def conflict(loaded: Iterable[LoadedExtension], extension: LoadedExtension) -> Diagnostic | None:
    """Why `extension` cannot join `loaded` (an earlier, higher-precedence one has its
    agentId or its name), or None."""
    for other in loaded:
        if other.manifest.agent_id == extension.manifest.agent_id:
            what = f"agentId {extension.manifest.agent_id!r}"
        elif other.module_name == extension.module_name:
            what = f"name {extension.module_name!r}"
        else:
            continue
        return Diagnostic(
            LoadErrorCode.AGENT_ID_CONFLICT.value,
            f"{what} is already taken by {other.module_name} ({other.origin.type.value} "
            f"{other.origin.path})",
        )
    return None


__all__ = [
    "IsolatedLoader",
    "LoadFailed",
    "conflict",
    "default_isolated_loader",
    "import_and_register",
    "load_candidate",
]
