"""scripts/check_module_size.py (run by `make lint`): every module of src/ over the limit is
listed with its count, and the allow-list of modules being split cannot rot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from scripts.check_module_size import ROOT, problems, read_settings


def tree(tmp_path: Path, sizes: dict[str, int], settings: str) -> Path:
    for name, lines in sizes.items():
        path = tmp_path / "src" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x = 1\n" * lines)
    (tmp_path / "pyproject.toml").write_text(f"[tool.codex-manager.module-size]\n{settings}\n")
    return tmp_path


def check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check_module_size.py"), str(root)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_clean_tree_passes_silently(tmp_path: Path) -> None:
    root = tree(tmp_path, {"pkg/a.py": 10, "pkg/b.py": 600}, "max-lines = 600")
    run = check(root)
    assert (run.returncode, run.stdout, run.stderr) == (0, "", "")


def test_every_module_over_the_limit_is_listed_with_its_count(tmp_path: Path) -> None:
    root = tree(tmp_path, {"pkg/a.py": 601, "pkg/sub/b.py": 900, "pkg/c.py": 20}, "max-lines = 600")
    run = check(root)
    assert run.returncode == 1
    assert run.stderr.splitlines() == [
        "src/pkg/a.py: 601 lines, over the limit of 600: split it",
        "src/pkg/sub/b.py: 900 lines, over the limit of 600: split it",
    ]


def test_allow_list_tolerates_a_listed_module_at_or_under_its_size(tmp_path: Path) -> None:
    settings = 'max-lines = 600\nallow = [{ path = "src/pkg/big.py", lines = 900 }]'
    root = tree(tmp_path, {"pkg/big.py": 850}, settings)
    max_lines, allow = read_settings(root / "pyproject.toml")
    assert (max_lines, allow) == (600, {"src/pkg/big.py": 900})
    assert problems(root, max_lines, allow) == []


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (901, "src/pkg/big.py: 901 lines, grew past its allowance of 900"),
        (
            600,
            "src/pkg/big.py: 600 lines, now within the limit of 600: remove it from the allow-list",
        ),
    ],
)
def test_allow_list_fails_when_a_listed_module_grows_or_shrinks_under_the_limit(
    tmp_path: Path, lines: int, message: str
) -> None:
    settings = 'max-lines = 600\nallow = [{ path = "src/pkg/big.py", lines = 900 }]'
    run = check(tree(tmp_path, {"pkg/big.py": lines}, settings))
    assert run.returncode == 1
    assert message in run.stderr


def test_allow_list_fails_on_a_module_that_no_longer_exists(tmp_path: Path) -> None:
    settings = 'max-lines = 600\nallow = [{ path = "src/pkg/gone.py", lines = 900 }]'
    run = check(tree(tmp_path, {"pkg/a.py": 1}, settings))
    assert run.returncode == 1
    assert "src/pkg/gone.py: no such module any more: remove it from the allow-list" in run.stderr


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ("", "needs max-lines = <n>"),
        ('max-lines = 600\nallow = ["src/pkg/a.py"]', "each allow entry is"),
    ],
)
def test_bad_settings_say_what_is_wrong(tmp_path: Path, settings: str, message: str) -> None:
    run = check(tree(tmp_path, {"pkg/a.py": 1}, settings))
    assert run.returncode == 1
    assert message in run.stderr


def test_the_projects_own_settings_are_read() -> None:
    max_lines, allow = read_settings(ROOT / "pyproject.toml")
    assert max_lines == 600
    assert all(path.startswith("src/") and lines > max_lines for path, lines in allow.items())
