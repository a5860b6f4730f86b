"""`codex-manager import-original DATA_DIR`: the original Codex Manager's `.data/` into our
store (the work is `codex_manager_core.migrate.original`; this is the click adapter).

It never starts the runtime: it opens the SQLite store directly, holding the data
directory's lock, so a server running on the same data directory is refused clearly."""

from __future__ import annotations

import os
from pathlib import Path

import click

STORE_FILE = "manager.sqlite3"


@click.command("import-original")
@click.argument("data_dir", type=click.Path(path_type=Path))
@click.option(
    "--into",
    type=click.Path(file_okay=False, path_type=Path),
    help="Our data directory (default: $CODEX_MANAGER_DATA_DIR, else .data).",
)
@click.option("--dry-run", is_flag=True, help="Print what would be imported; write nothing.")
def import_original(data_dir: Path, into: Path | None, dry_run: bool) -> None:
    """Import the original Codex Manager's DATA_DIR (its .data/): session titles, projects
    and assignments, controls and settings, default controls, worker sessions, turn
    timings and the supplemental transcript. Running it again changes nothing; what is
    already in our store is kept."""
    import anyio

    target = into or Path(os.environ.get("CODEX_MANAGER_DATA_DIR") or ".data")
    try:
        summary = anyio.run(_run, data_dir, target, dry_run)
    except click.ClickException:
        raise
    except Exception as exc:  # mapped below; anything else is a bug and keeps its traceback
        message = _known(exc)
        if message is None:
            raise
        raise click.ClickException(message) from None
    click.echo(summary)


def _known(exc: Exception) -> str | None:
    from codex_manager_core.errors import CodexManagerError
    from codex_manager_core.ports.store import StoreConflict, StoreCorrupt

    if isinstance(exc, (CodexManagerError, StoreCorrupt)):
        return str(exc)
    if isinstance(exc, (StoreConflict, ValueError, TypeError)):
        return f"the import failed and nothing was written: {exc}"
    return None


async def _run(source: Path, target: Path, dry_run: bool) -> str:
    from codex_manager_core.data_dir import DataDirLock, prepare_data_dir
    from codex_manager_core.migrate.original import apply_import, plan_import, read_original
    from codex_manager_core.ports.store import Store

    read_original(source)  # a bad source fails before our data directory is touched
    store: Store
    if dry_run and not (target / STORE_FILE).exists():
        from codex_manager_core.store import MemoryStore

        store = MemoryStore()  # nothing there yet: plan against an empty store
        await store.open()
        try:
            return (await plan_import(source, store)).summary(dry_run=True)
        finally:
            await store.close()
    from codex_manager_core.store import SqliteStore

    root = prepare_data_dir(target)
    lock = DataDirLock(root)
    lock.acquire()
    try:
        store = SqliteStore(root / STORE_FILE)
        await store.open()
        try:
            plan = await plan_import(source, store)
            if not dry_run:
                await apply_import(plan, store)
            return plan.summary(dry_run=dry_run)
        finally:
            await store.close()
    finally:
        lock.release()
