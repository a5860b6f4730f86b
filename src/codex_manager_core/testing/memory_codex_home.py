"""`MemoryCodexHome`: the CODEX_HOME port in memory, for tests of code that deletes sessions
or reads capabilities without a codex binary or a disk.

    home = MemoryCodexHome(
        ["sessions/2026/01/rollout-thr_1.jsonl", "shell_snapshots/thr_1.sh"],
        stable={"thread/start", "turn/start"},
    )
    async with Manager.open(store=MemoryStore(), transport=runtime, home=home) as manager:
        ...
    assert home.files == set()   # the session's files went with it
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from codex_manager_core.ports.codex_home import SchemaMethods, ThreadFile

#: The folders codex keeps a thread's files in, and those of them that are its history.
THREAD_FILE_DIRS = ("sessions", "archived_sessions", "shell_snapshots")
HISTORY_DIRS = ("sessions", "archived_sessions")


class MemoryCodexHome:
    """Files are paths relative to CODEX_HOME (`sessions/.../rollout-<id>.jsonl`); the
    schema is what the test says the codex binary offers."""

    def __init__(
        self,
        files: Iterable[str] = (),
        *,
        stable: Iterable[str] = (),
        experimental: Iterable[str] = (),
        problem: str | None = None,
        auth: bool = False,
    ) -> None:
        self.files: set[str] = set(files)
        self.auth = auth
        """Whether CODEX_HOME holds a login (`auth.json`)."""
        self.schema = SchemaMethods(frozenset(stable), frozenset({*stable, *experimental}), problem)
        self.schema_reads: list[tuple[str, bool]] = []
        """(codex_version, refresh) of every `schema_methods` call."""

    async def thread_files(self, thread_id: str) -> list[ThreadFile]:
        found = []
        for path in sorted(self.files):
            folder, _, _ = path.partition("/")
            if folder in THREAD_FILE_DIRS and thread_id in path.rsplit("/", 1)[-1]:
                found.append(ThreadFile(path, folder in HISTORY_DIRS))
        return found

    async def remove_files(self, files: Sequence[ThreadFile]) -> int:
        for file in files:
            self.files.discard(file.path)
        return len(files)

    async def schema_methods(self, codex_version: str, *, refresh: bool = False) -> SchemaMethods:
        self.schema_reads.append((codex_version, refresh))
        return self.schema

    async def has_auth(self) -> bool:
        return self.auth


__all__ = ["MemoryCodexHome"]
