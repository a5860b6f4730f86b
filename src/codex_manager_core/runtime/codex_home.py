"""`CodexHomeDir`: the CODEX_HOME port on the real file system and the real codex binary.

Thread files are found by name under the folders codex keeps them in; the protocol schema
comes from `codex app-server generate-json-schema` (stable and `--experimental`), run once
per codex version and cached as JSON in the data dir. Also `import_user_auth`, the only
read of `~/.codex` the manager ever does.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

import anyio
import anyio.to_thread

from codex_manager_core.ports.codex_home import SchemaMethods, ThreadFile
from codex_manager_core.runtime.binary import find_codex_binary

logger = logging.getLogger("codex_manager_core.passthrough")

#: Folders of CODEX_HOME that hold a thread's files (rollouts, archives, shell snapshots).
THREAD_FILE_DIRS: Final = ("sessions", "archived_sessions", "shell_snapshots")
#: The folders a fork reads its source's history from.
HISTORY_DIRS: Final = ("sessions", "archived_sessions")


class CodexHomeDir:
    def __init__(
        self,
        codex_home: Path | None,
        *,
        codex_bin: str | None = None,
        env: Mapping[str, str] | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        self.codex_home = codex_home
        self._codex_bin = codex_bin
        self._env = env
        self._cache_dir = cache_dir

    async def thread_files(self, thread_id: str) -> list[ThreadFile]:
        if self.codex_home is None:
            return []
        return await anyio.to_thread.run_sync(_thread_files, self.codex_home, thread_id)

    async def remove_files(self, files: Sequence[ThreadFile]) -> int:
        def remove() -> None:
            for file in files:
                Path(file.path).unlink(missing_ok=True)

        await anyio.to_thread.run_sync(remove)
        return len(files)

    async def schema_methods(self, codex_version: str, *, refresh: bool = False) -> SchemaMethods:
        cache = self._cache_dir / f"capabilities-{codex_version}.json" if self._cache_dir else None
        if cache is not None and not refresh:
            cached = await anyio.to_thread.run_sync(_read_cache, cache)
            if cached is not None:
                return cached
        try:
            binary = find_codex_binary(self._codex_bin, environ=self._env)
        except Exception as exc:
            return SchemaMethods(problem=str(exc))
        try:
            with tempfile.TemporaryDirectory(prefix="codex-schema-") as tmp:
                root = Path(tmp)
                env = dict(os.environ if self._env is None else self._env)
                # Never let codex touch ~/.codex, even for this.
                env["CODEX_HOME"] = str(self.codex_home or root / "home")
                for flavour, extra in (("stable", []), ("experimental", ["--experimental"])):
                    await anyio.run_process(
                        [
                            str(binary.path),
                            "app-server",
                            "generate-json-schema",
                            "--out",
                            str(root / flavour),
                            *extra,
                        ],
                        env=env,
                        check=True,
                    )
                stable = await anyio.to_thread.run_sync(_methods_of, root / "stable")
                experimental = await anyio.to_thread.run_sync(_methods_of, root / "experimental")
        except Exception as exc:
            logger.warning("could not read the codex protocol schema: %s", exc)
            return SchemaMethods(problem=f"could not read the protocol schema: {exc}")
        if cache is not None:
            document = {"stable": sorted(stable), "experimental": sorted(experimental)}
            await anyio.Path(cache).write_text(json.dumps(document))
        return SchemaMethods(frozenset(stable), frozenset(experimental))

    async def has_auth(self) -> bool:
        # One stat of a small local directory, asked by every health check: cheaper in
        # place than the hop to a worker thread (which doubled the health check's time).
        return self.codex_home is not None and (self.codex_home / "auth.json").is_file()


def import_user_auth(codex_home: Path) -> None:
    """Copy ~/.codex/auth.json once into our CODEX_HOME (the only read of ~/.codex)."""
    target = codex_home / "auth.json"
    source = Path.home() / ".codex" / "auth.json"
    if not target.exists() and source.is_file():
        shutil.copyfile(source, target)
        target.chmod(0o600)


def _thread_files(codex_home: Path, thread_id: str) -> list[ThreadFile]:
    found: list[ThreadFile] = []
    for folder in THREAD_FILE_DIRS:
        root = codex_home / folder
        if root.is_dir():
            for dirpath, _dirnames, filenames in os.walk(root):
                found.extend(
                    ThreadFile(str(Path(dirpath) / name), folder in HISTORY_DIRS)
                    for name in filenames
                    if thread_id in name
                )
    return found


def _read_cache(cache: Path) -> SchemaMethods | None:
    try:
        data = json.loads(cache.read_text())
        return SchemaMethods(frozenset(data["stable"]), frozenset(data["experimental"]))
    except (ValueError, KeyError, TypeError, OSError):
        return None


def _methods_of(schema_dir: Path) -> set[str]:
    data = json.loads((schema_dir / "ClientRequest.json").read_text())
    methods: set[str] = set()
    for variant in data.get("oneOf", []):
        enum = variant.get("properties", {}).get("method", {}).get("enum") or []
        methods.update(str(method) for method in enum)
    return methods


__all__ = ["CodexHomeDir", "import_user_auth"]
