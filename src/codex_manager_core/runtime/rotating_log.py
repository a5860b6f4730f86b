"""A size-bounded, rotating append-only log file for the runtime's stderr."""

from __future__ import annotations

import collections
import os
from pathlib import Path
from typing import BinaryIO


class RotatingLog:
    """Appends bytes to `path`; past `max_bytes` it shifts `path` to `path.1` (and `.1` to
    `.2`, ...), keeping `backups` old files. Total disk use stays under
    `max_bytes * (backups + 1)` plus one write. It also remembers the last `tail_lines` lines,
    so an error about a runtime that died can quote what it said last. With `path=None` it
    keeps only that tail."""

    def __init__(
        self,
        path: Path | None,
        *,
        max_bytes: int = 5 * 1024 * 1024,
        backups: int = 3,
        tail_lines: int = 40,
    ) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        if backups < 0:
            raise ValueError(f"backups must be >= 0, got {backups}")
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self._tail: collections.deque[bytes] = collections.deque(maxlen=tail_lines)
        self._partial = b""
        self._file: BinaryIO | None = None
        self._size = 0
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "ab", buffering=0)  # noqa: SIM115 - open for the log's life
            self._size = self._file.tell()

    def write(self, data: bytes) -> None:
        if not data:
            return
        self._remember(data)
        if self._file is None:
            return
        while data:
            room = self.max_bytes - self._size
            if room <= 0:
                self._rotate()
                room = self.max_bytes
            chunk, data = data[:room], data[room:]
            assert self._file is not None
            self._file.write(chunk)
            self._size += len(chunk)

    def tail(self) -> list[str]:
        """The last lines written (decoded leniently), oldest first."""
        lines = [line.decode(errors="replace") for line in self._tail]
        if self._partial:
            lines.append(self._partial.decode(errors="replace"))
        return lines

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _remember(self, data: bytes) -> None:
        parts = (self._partial + data).split(b"\n")
        self._partial = parts.pop()[-4096:]
        for line in parts:
            if line.strip():
                self._tail.append(line[-4096:])

    def _rotate(self) -> None:
        assert self._file is not None
        assert self.path is not None
        self._file.close()
        if self.backups == 0:
            self._file = open(self.path, "wb", buffering=0)  # noqa: SIM115
            self._size = 0
            return
        for index in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{index}")
            if older.exists():
                os.replace(older, self.path.with_name(f"{self.path.name}.{index + 1}"))
        os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        self._file = open(self.path, "ab", buffering=0)  # noqa: SIM115
        self._size = 0
