"""RotatingLog: size-bounded rotation, the in-memory tail, and the tail-only mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from codex_manager_core.runtime.rotating_log import RotatingLog


def log_files(path: Path) -> list[Path]:
    return sorted(path.parent.glob(path.name + "*"))


def test_rotation_keeps_at_most_backups_files_each_within_max_bytes(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "stderr.log"  # the folder is created
    log = RotatingLog(path, max_bytes=100, backups=2)
    written = b""
    for n in range(200):
        line = f"line {n:04d} {'x' * (n % 37)}\n".encode()
        log.write(line)
        written += line
    log.close()

    files = log_files(path)
    assert [f.name for f in files] == ["stderr.log", "stderr.log.1", "stderr.log.2"]
    for file in files:
        assert file.stat().st_size <= 100, file
    # The kept files are the newest bytes, oldest backup first, with nothing lost between.
    kept = b"".join(f.read_bytes() for f in [files[2], files[1], files[0]])
    assert written.endswith(kept)
    assert (tmp_path / "logs" / "stderr.log.1").stat().st_size == 100
    assert (tmp_path / "logs" / "stderr.log.2").stat().st_size == 100


def test_one_write_larger_than_the_file_is_split(tmp_path: Path) -> None:
    path = tmp_path / "stderr.log"
    log = RotatingLog(path, max_bytes=10, backups=3)
    log.write(b"0123456789abcdefghijKLMNOPQRSTuv")
    log.close()
    assert path.read_bytes() == b"uv"
    assert (tmp_path / "stderr.log.1").read_bytes() == b"KLMNOPQRST"
    assert (tmp_path / "stderr.log.2").read_bytes() == b"abcdefghij"
    assert (tmp_path / "stderr.log.3").read_bytes() == b"0123456789"
    assert len(log_files(path)) == 4


def test_no_backups_truncates_in_place(tmp_path: Path) -> None:
    path = tmp_path / "stderr.log"
    log = RotatingLog(path, max_bytes=8, backups=0)
    log.write(b"aaaaaaaa")
    log.write(b"bbb")
    log.close()
    assert path.read_bytes() == b"bbb"
    assert log_files(path) == [path]


def test_appends_to_an_existing_file_and_counts_its_size(tmp_path: Path) -> None:
    path = tmp_path / "stderr.log"
    path.write_bytes(b"old-run\n")
    log = RotatingLog(path, max_bytes=10, backups=1)
    log.write(b"new\n")
    log.close()
    # The file is filled to exactly max_bytes before it rotates.
    assert (tmp_path / "stderr.log.1").read_bytes() == b"old-run\nne"
    assert path.read_bytes() == b"w\n"


def test_tail_keeps_the_last_lines_and_the_unfinished_one(tmp_path: Path) -> None:
    log = RotatingLog(tmp_path / "stderr.log", max_bytes=1000, backups=1, tail_lines=3)
    log.write(b"one\ntwo\n\n   \nthr")
    log.write(b"ee\nfour\nfive\nhalf a li")
    assert log.tail() == ["three", "four", "five", "half a li"]
    log.write(b"ne\n")
    assert log.tail() == ["four", "five", "half a line"]
    log.write(b"bad \xff byte\n")
    assert log.tail()[-1] == "bad \ufffd byte"
    log.close()


def test_tail_bounds_very_long_lines(tmp_path: Path) -> None:
    log = RotatingLog(None, tail_lines=2)
    log.write(b"y" * 10_000)
    log.write(b"z" * 10_000 + b"\n")
    (line,) = log.tail()
    assert len(line) == 4096
    assert set(line) == {"z"}


def test_without_a_path_only_the_tail_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    log = RotatingLog(None, max_bytes=4, backups=1)
    log.write(b"first line\nsecond line\n")
    log.write(b"")
    assert log.tail() == ["first line", "second line"]
    log.close()
    log.close()  # idempotent
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"max_bytes": 0}, "max_bytes must be positive"), ({"backups": -1}, "backups must be >= 0")],
)
def test_invalid_settings_are_refused(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RotatingLog(None, **kwargs)
