"""No module over about 600 lines (`make lint`): a long module mixes responsibilities, and
a reader should be able to hold one in their head.

Counts the lines of every `src/**/*.py` and fails, listing each offender with its count,
when one is over `max-lines` of `[tool.codex-manager.module-size]` in pyproject.toml.
Prints nothing when all is well.

`allow` lists today's offenders while they are being split, each with the size it had when
it was listed. The list cannot rot: a listed file that grew past that size, that is now
under the limit, or that no longer exists fails the check too, saying to fix the list.

    python scripts/check_module_size.py            # from the repository root
"""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def line_count(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def read_settings(pyproject: Path) -> tuple[int, dict[str, int]]:
    """(max-lines, {path: lines allowed}) from `[tool.codex-manager.module-size]`."""
    table: Mapping[str, Any] = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    settings = table.get("tool", {}).get("codex-manager", {}).get("module-size", {})
    max_lines = settings.get("max-lines")
    if not isinstance(max_lines, int) or max_lines < 1:
        raise SystemExit(f"{pyproject}: [tool.codex-manager.module-size] needs max-lines = <n>")
    allow: dict[str, int] = {}
    for entry in settings.get("allow", []):
        if not (
            isinstance(entry, Mapping)
            and isinstance(entry.get("path"), str)
            and isinstance(entry.get("lines"), int)
        ):
            raise SystemExit(
                f'{pyproject}: each allow entry is {{ path = "src/...", lines = <n> }}, '
                f"not {entry!r}"
            )
        allow[entry["path"]] = entry["lines"]
    return max_lines, allow


def problems(root: Path, max_lines: int, allow: Mapping[str, int]) -> list[str]:
    """What is wrong, one line each (empty when all is well)."""
    found: list[str] = []
    sizes = {
        path.relative_to(root).as_posix(): line_count(path)
        for path in sorted((root / "src").rglob("*.py"))
    }
    for path, lines in sizes.items():
        allowed = allow.get(path)
        if allowed is None and lines > max_lines:
            found.append(f"{path}: {lines} lines, over the limit of {max_lines}: split it")
        elif allowed is not None and lines > max(allowed, max_lines):
            found.append(
                f"{path}: {lines} lines, grew past its allowance of {allowed} "
                f"(the limit is {max_lines}): split it"
            )
        elif allowed is not None and lines <= max_lines:
            found.append(
                f"{path}: {lines} lines, now within the limit of {max_lines}: "
                "remove it from the allow-list in pyproject.toml"
            )
    for path in sorted(set(allow) - set(sizes)):
        found.append(f"{path}: no such module any more: remove it from the allow-list")
    return found


def main(argv: Sequence[str] | None = None) -> int:
    root = Path(argv[0]) if argv else ROOT
    max_lines, allow = read_settings(root / "pyproject.toml")
    found = problems(root, max_lines, allow)
    for line in found:
        print(line, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
