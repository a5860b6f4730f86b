"""Finding extensions: the original's rules, made Python.

Sources in precedence order: the repository's top-level `extensions/` folder (repo_local),
installed packages (entry points of the group `codex_manager.extensions`: an entry point
names a module that has `register`; its manifest is `extension.toml` in that module's
package folder, or none), configured roots (`CODEX_MANAGER_EXTENSION_ROOTS`, OS path
separator, and `ManagerConfig.extension_roots`), then folders loaded through the embedded
API. A folder is an extension if it holds `extension.toml` or `extension.py`; a root may
itself be one, else its child folders are looked at (dot-folders and `__pycache__`
skipped). Lexicographic within a source; the same physical folder found twice keeps its
highest-precedence origin. Deterministic.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import attrs

from codex_manager_core.extensions.manifest import DEFAULT_ENTRYPOINT
from codex_manager_core.extensions.model import (
    MANIFEST_FILE,
    Diagnostic,
    LoadErrorCode,
    Origin,
    OriginType,
)

ENTRY_POINT_GROUP = "codex_manager.extensions"
ROOTS_ENV = "CODEX_MANAGER_EXTENSION_ROOTS"

EntryPoints = Callable[[], Iterable[importlib.metadata.EntryPoint]]


@attrs.frozen
class Candidate:
    """A folder that may hold an extension, and where it was found."""

    root: Path
    origin: Origin
    default_name: str
    """The name when the folder has no manifest (folder name, or the entry point's)."""
    module_file: Path | None = None
    """An installed package's module file (its manifest's `entrypoints.events` is ignored)."""


def is_extension_folder(path: Path) -> bool:
    return (path / MANIFEST_FILE).is_file() or (path / DEFAULT_ENTRYPOINT).is_file()


def _skipped(name: str) -> bool:
    return name.startswith(".") or name == "__pycache__"


def scan_root(root: Path) -> list[Path]:
    """The extension folders of a root: the root itself if it is one, else its children
    that are, in lexicographic order."""
    if not root.is_dir():
        return []
    if is_extension_folder(root):
        return [root]
    try:
        children = sorted(root.iterdir(), key=lambda p: p.name)
    except OSError:
        return []
    return [c for c in children if not _skipped(c.name) and c.is_dir() and is_extension_folder(c)]


def roots_from_env(environ: Mapping[str, str] | None = None) -> tuple[Path, ...]:
    """The folders of CODEX_MANAGER_EXTENSION_ROOTS (OS path separator; blanks skipped)."""
    value = (os.environ if environ is None else environ).get(ROOTS_ENV, "")
    return tuple(Path(part).expanduser() for part in value.split(os.pathsep) if part.strip())


def default_entry_points() -> Iterable[importlib.metadata.EntryPoint]:
    return importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)


def _installed(
    entry_points: EntryPoints,
) -> tuple[list[Candidate], list[tuple[str, Diagnostic]]]:
    found: list[Candidate] = []
    problems: list[tuple[str, Diagnostic]] = []
    try:
        points = sorted(entry_points(), key=lambda ep: (ep.name, ep.value))
    except Exception as exc:  # a broken distribution's metadata
        diagnostic = Diagnostic(LoadErrorCode.IMPORT_FAILED, f"entry points unreadable: {exc}")
        return [], [(ENTRY_POINT_GROUP, diagnostic)]
    for point in points:
        module = point.value.split(":", 1)[0].strip()
        try:
            spec = importlib.util.find_spec(module)
        except Exception as exc:  # its parent package failed to import
            spec = None
            reason = f"{type(exc).__name__}: {exc}"
        else:
            reason = "module not found"
        if spec is None or spec.origin is None or not Path(spec.origin).is_file():
            message = f"entry point {point.name} = {point.value!r}: {reason}"
            problems.append((point.name, Diagnostic(LoadErrorCode.IMPORT_FAILED, message)))
            continue
        module_file = Path(spec.origin)
        found.append(
            Candidate(
                root=module_file.parent,
                origin=Origin(OriginType.INSTALLED_PACKAGE, module),
                default_name=point.name,
                module_file=module_file,
            )
        )
    return found, problems


def discover(
    *,
    repo_root: Path | None,
    roots: Iterable[Path] = (),
    embedded: Iterable[Path] = (),
    entry_points: EntryPoints | None = default_entry_points,
) -> tuple[list[Candidate], list[tuple[str, Diagnostic]]]:
    """Every candidate in precedence order (a physical folder once), and the problems of
    entry points that name no importable module."""
    candidates: list[Candidate] = []
    problems: list[tuple[str, Diagnostic]] = []
    if repo_root is not None:
        candidates += [
            Candidate(p, Origin(OriginType.REPO_LOCAL, str(p)), p.name)
            for p in scan_root(repo_root)
        ]
    if entry_points is not None:
        installed, problems = _installed(entry_points)
        candidates += installed
    configured = sorted({str(Path(r)) for r in roots})
    for root in configured:
        candidates += [
            Candidate(p, Origin(OriginType.CONFIGURED_ROOT, str(p)), p.name)
            for p in scan_root(Path(root))
        ]
    for path in embedded:
        candidates.append(Candidate(path, Origin(OriginType.EMBEDDED, str(path)), path.name))
    seen: set[Path] = set()
    unique: list[Candidate] = []
    for candidate in candidates:
        physical = candidate.root.resolve()
        if physical in seen:
            continue
        seen.add(physical)
        unique.append(candidate)
    return unique, problems


__all__ = [
    "ENTRY_POINT_GROUP",
    "ROOTS_ENV",
    "Candidate",
    "EntryPoints",
    "default_entry_points",
    "discover",
    "is_extension_folder",
    "roots_from_env",
    "scan_root",
]
