"""Runs `codex-manager serve` (the real console-script entry point) and sends itself SIGTERM
at the exact moment start-up prints a line containing TRIGGER: a deterministic way into
each start-up window, with no sleep and no race.

    python signal_at.py TRIGGER serve --port 0 --data-dir DIR ...

The signal is raised synchronously from the write to stderr, so it arrives while the
process is at that point of its start-up; what happens next is the product's business.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any, TextIO


class _Tripwire:
    """A stderr that signals this process the first time TRIGGER is written."""

    def __init__(self, stream: TextIO, trigger: str) -> None:
        self._stream = stream
        self._trigger = trigger
        self._fired = False

    def write(self, text: str) -> int:
        written = self._stream.write(text)
        if not self._fired and self._trigger in text:
            self._fired = True
            self._stream.flush()
            os.kill(os.getpid(), signal.SIGTERM)
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def main() -> None:
    trigger, *arguments = sys.argv[1:]
    sys.stderr = _Tripwire(sys.stderr, trigger)
    sys.argv = ["codex-manager", *arguments]
    from codex_manager_cli.main import main as cli

    cli()


if __name__ == "__main__":
    main()
