"""Finding the codex binary: an explicit path, then CODEX_BIN, then the pinned bundled one."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import attrs

from codex_manager_core.errors import BinaryNotFound

#: The environment variable that overrides the bundled binary.
CODEX_BIN_ENV = "CODEX_BIN"


@attrs.frozen
class CodexBinary:
    """A codex executable, and the folder of helper tools (the bundled `rg`) to put on PATH."""

    path: Path
    path_dir: Path | None = None
    source: str = "explicit"
    """Where it came from: "explicit", "CODEX_BIN" or "bundled"."""


def find_codex_binary(
    codex_bin: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> CodexBinary:
    """Resolve the codex binary, checking that it exists and is executable.

    Order: `codex_bin` if given, else `$CODEX_BIN`, else the binary shipped in the
    `openai-codex-cli-bin` package. Raises `BinaryNotFound` naming the path tried.
    """
    environ = os.environ if environ is None else environ
    bundled_dir = _bundled_path_dir()
    if codex_bin is not None:
        return CodexBinary(_checked(Path(codex_bin)), bundled_dir, "explicit")
    from_env = environ.get(CODEX_BIN_ENV)
    if from_env:
        return CodexBinary(_checked(Path(from_env)), bundled_dir, CODEX_BIN_ENV)
    try:
        import codex_cli_bin
    except ImportError:
        raise BinaryNotFound(
            "<openai-codex-cli-bin bundled codex>",
            "the package openai-codex-cli-bin is not installed",
        ) from None
    try:
        path = codex_cli_bin.bundled_codex_path()
    except FileNotFoundError as exc:
        raise BinaryNotFound("<openai-codex-cli-bin bundled codex>", str(exc)) from None
    return CodexBinary(_checked(path), bundled_dir, "bundled")


def _bundled_path_dir() -> Path | None:
    try:
        import codex_cli_bin

        path_dir: Path | None = codex_cli_bin.bundled_path_dir()
        return path_dir
    except (ImportError, FileNotFoundError):
        return None


def _checked(path: Path) -> Path:
    path = path.expanduser()
    if not path.exists():
        raise BinaryNotFound(str(path), "no such file")
    if not path.is_file():
        raise BinaryNotFound(str(path), "not a regular file")
    if not os.access(path, os.X_OK):
        raise BinaryNotFound(str(path), "the file is not executable (chmod +x?)")
    return path.resolve()
