"""find_codex_binary: explicit path, then CODEX_BIN, then the bundled openai-codex-cli-bin."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import codex_cli_bin
import pytest

from codex_manager_core.errors import BinaryNotFound
from codex_manager_core.runtime.binary import CODEX_BIN_ENV, CodexBinary, find_codex_binary

BUNDLED_DIR = codex_cli_bin.bundled_path_dir()


def executable(path: Path, mode: int = 0o755) -> Path:
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(mode)
    return path


def assert_helpful(error: BinaryNotFound, path: Path | str, reason: str) -> None:
    message = str(error)
    assert error.path == str(path)
    assert repr(str(path)) in message, message
    assert reason in message, message
    # ... and how to fix it.
    assert "pip install openai-codex-cli-bin==" in message, message
    assert "CODEX_BIN" in message, message
    assert "codex_bin=" in message, message


def test_explicit_path(tmp_path: Path) -> None:
    codex = executable(tmp_path / "codex")
    found = find_codex_binary(codex, environ={CODEX_BIN_ENV: "/nonexistent/codex"})
    assert found == CodexBinary(codex.resolve(), BUNDLED_DIR, "explicit")


def test_explicit_path_as_a_string_with_a_tilde_and_a_symlink(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = executable(tmp_path / "real-codex")
    (tmp_path / "codex").symlink_to(real)
    monkeypatch.setenv("HOME", str(tmp_path))
    found = find_codex_binary("~/codex", environ={})
    assert found.path == real.resolve()
    assert found.source == "explicit"


def test_codex_bin_from_the_given_environ(tmp_path: Path) -> None:
    codex = executable(tmp_path / "codex")
    found = find_codex_binary(environ={CODEX_BIN_ENV: str(codex)})
    assert found == CodexBinary(codex.resolve(), BUNDLED_DIR, "CODEX_BIN")


def test_codex_bin_from_the_process_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    codex = executable(tmp_path / "codex")
    monkeypatch.setenv(CODEX_BIN_ENV, str(codex))
    found = find_codex_binary()
    assert (found.path, found.source) == (codex.resolve(), "CODEX_BIN")


@pytest.mark.parametrize("environ", [{}, {CODEX_BIN_ENV: ""}])
def test_bundled_binary_by_default(environ: dict[str, str]) -> None:
    found = find_codex_binary(environ=environ)
    assert found.source == "bundled"
    assert found.path == codex_cli_bin.bundled_codex_path().resolve()
    assert found.path.is_file()
    assert os.access(found.path, os.X_OK)
    assert found.path_dir == BUNDLED_DIR


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "codex"
    with pytest.raises(BinaryNotFound) as caught:
        find_codex_binary(missing)
    assert_helpful(caught.value, missing, "no such file")


def test_missing_file_named_by_codex_bin(tmp_path: Path) -> None:
    missing = tmp_path / "codex"
    with pytest.raises(BinaryNotFound) as caught:
        find_codex_binary(environ={CODEX_BIN_ENV: str(missing)})
    assert_helpful(caught.value, missing, "no such file")


def test_a_directory(tmp_path: Path) -> None:
    with pytest.raises(BinaryNotFound) as caught:
        find_codex_binary(tmp_path)
    assert_helpful(caught.value, tmp_path, "not a regular file")


def test_a_file_that_is_not_executable(tmp_path: Path) -> None:
    codex = executable(tmp_path / "codex", mode=0o644)
    with pytest.raises(BinaryNotFound) as caught:
        find_codex_binary(codex)
    assert_helpful(caught.value, codex, "not executable")
    assert "chmod +x" in str(caught.value)


def test_bundled_package_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "codex_cli_bin", None)  # import now raises ImportError
    with pytest.raises(BinaryNotFound) as caught:
        find_codex_binary(environ={})
    message = str(caught.value)
    assert "openai-codex-cli-bin" in message
    assert "is not installed" in message
    assert "pip install openai-codex-cli-bin==" in message
    assert "CODEX_BIN" in message


def test_bundled_package_without_its_binary(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> Path:
        raise FileNotFoundError("openai-codex-cli-bin is installed but missing its binary")

    monkeypatch.setattr(codex_cli_bin, "bundled_codex_path", missing)
    with pytest.raises(BinaryNotFound, match="missing its binary") as caught:
        find_codex_binary(environ={})
    assert "CODEX_BIN" in str(caught.value)
