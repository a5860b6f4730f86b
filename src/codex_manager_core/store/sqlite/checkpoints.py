"""WAL checkpoints off the commit path: a thread with its own connection runs PASSIVE
checkpoints about once a second while there are writes (left inside commits, they turned
one commit in a few hundred into a 7-9 ms stall)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import apsw

#: Size the WAL is brought back to after a checkpoint (it grows past it during bursts, or
#: while checkpoints cannot complete, e.g. on a full disk).
WAL_SIZE_LIMIT = 4 * 1024 * 1024
#: How long the rare inline TRUNCATE checkpoint waits for a reader (ms).
TRUNCATE_BUSY_MS = 200
logger = logging.getLogger(__name__)


class Checkpointer:
    """Runs PASSIVE WAL checkpoints on its own thread and connection, at most once per
    `interval` seconds while writes come in, so commits never pay for them."""

    def __init__(
        self, connect: Callable[[], apsw.Connection], name: str, interval: float = 1.0
    ) -> None:
        self._connect = connect
        self._interval = interval
        self._wakeup = threading.Event()
        self._stopping = False
        self.lock = threading.Lock()
        """Held while a checkpoint runs: two at once make one of them fail (busy)."""
        self._last = 0.0
        self._thread = threading.Thread(
            target=self._run, name=f"sqlite-checkpoint {name}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def nudge(self) -> None:
        """Called after each commit (cheap: at most one real wake-up per interval)."""
        now = time.monotonic()
        if now - self._last >= self._interval:
            self._last = now
            self._wakeup.set()

    def stop(self) -> None:
        self._stopping = True
        self._wakeup.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        conn = self._connect()
        try:
            while True:
                self._wakeup.wait()
                self._wakeup.clear()
                if self._stopping:
                    return
                try:
                    with self.lock:
                        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except apsw.Error as exc:  # busy, full or closing: a later wake-up retries
                    logger.debug("WAL checkpoint skipped: %s", exc)
        finally:
            conn.close()
