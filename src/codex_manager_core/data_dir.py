"""The data directory: created if needed, checked writable, and locked for one manager.

Two managers on one data directory would each drive their own runtime over the same store
and disagree about every session (one's thread is not loaded in the other's runtime). So
`Manager.open` takes an exclusive lock on `<data_dir>/manager.lock` for its whole life: an
advisory `flock`, which the operating system releases when the process ends in any way,
kill -9 included, so a crash never leaves a stale lock behind. The lock file holds the
owner's pid, only to name it in the error a second manager gets.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
from pathlib import Path

from codex_manager_core.errors import DataDirLocked, DataDirUnusable

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no lock (documented)
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = "manager.lock"
#: The mode of a data directory the manager creates: readable by its user only.
PRIVATE_MODE = 0o700

logger = logging.getLogger(__name__)


def _reason(exc: OSError) -> str:
    if exc.errno == errno.EROFS:
        return "it is on a read-only file system"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied (it is not writable by this user)"
    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    return exc.strerror or str(exc)


def prepare_data_dir(path: str | Path, *, warn_if_shared: bool = True) -> Path:
    """The absolute data directory, created if missing (DataDirUnusable otherwise).

    A new one is private (mode 700, whatever the umask): it holds every transcript, and
    the runtime's CODEX_HOME with its credentials. An existing one keeps its mode (the
    user chose it), with a warning when other users may read it (`warn_if_shared`: for the
    data dir itself, not for what lies inside it)."""
    root = Path(path).absolute()
    existed = root.is_dir()
    try:
        root.mkdir(mode=PRIVATE_MODE, parents=True, exist_ok=True)
        if not existed:
            root.chmod(PRIVATE_MODE)  # mkdir's mode is filtered by the umask
        elif warn_if_shared and root.stat().st_mode & 0o077:
            logger.warning(
                "the data directory %s can be read by other users of this machine; "
                "`chmod 700 %s` makes it private",
                root,
                root,
            )
    except FileExistsError:
        raise DataDirUnusable(str(root), "a file (not a directory) is in the way") from None
    except OSError as exc:
        raise DataDirUnusable(str(root), _reason(exc)) from exc
    if not root.is_dir():
        raise DataDirUnusable(str(root), "it is not a directory")
    return root


class DataDirLock:
    """The exclusive lock of one data directory (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise DataDirLocked (another manager has it) or
        DataDirUnusable (the directory cannot be written: read-only, permissions)."""
        if fcntl is None:  # pragma: no cover
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except IsADirectoryError:
            raise DataDirUnusable(str(self.root), f"{self.path} is a directory") from None
        except OSError as exc:
            raise DataDirUnusable(str(self.root), _reason(exc)) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise DataDirLocked(str(self.root), holder) from None
        except OSError as exc:
            os.close(fd)
            raise DataDirUnusable(str(self.root), f"cannot lock {self.path}: {exc}") from exc
        with contextlib.suppress(OSError):  # the pid only helps the message (full disk)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)  # closing the last descriptor releases the flock


def _read_holder(fd: int) -> str | None:
    with contextlib.suppress(OSError, UnicodeDecodeError):
        text = os.pread(fd, 32, 0).decode().strip()
        if text.isdigit():
            return text
    return None
