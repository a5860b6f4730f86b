"""`import-original`: the original Codex Manager's `.data/` into our store (fixtures under
tests/fixtures/original_data/, built from section 8 of the reference)."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner

from codex_manager_cli.main import cli
from codex_manager_core import Manager, ManagerConfig
from codex_manager_core.data_dir import DataDirLock
from codex_manager_core.migrate.original import (
    ImportCounts,
    OriginalDataError,
    import_original,
    plan_import,
)
from codex_manager_core.models import Project, TitleSource, TurnStatus
from codex_manager_core.ports.store import SessionQuery
from codex_manager_core.store import MemoryStore, SqliteStore
from codex_manager_core.testing import MemoryRuntime

FIXTURES = Path(__file__).parent.parent / "fixtures" / "original_data"
COMPLETE = FIXTURES / "complete"

EXPECTED = ImportCounts(
    projects=2,
    sessions=6,
    titled=2,
    assigned=1,
    with_controls=3,
    with_settings=1,
    system_owned=2,
    workers=1,
    defaults=1,
    turns=2,
    transcript_rows=3,
)
WAIT = 5.0


async def _store() -> MemoryStore:
    store = MemoryStore()
    await store.open()
    return store


async def _everything(store: MemoryStore | SqliteStore) -> object:
    """A comparable snapshot of what an import writes."""
    query = SessionQuery(archived=None, include_system_owned=True, limit=1000)
    sessions = (await store.list_sessions(query)).items
    return (
        await store.list_projects(),
        sessions,
        await store.get_default_controls(),
        await store.list_workers("proj-1"),
        {s.session_id: await store.list_turns(s.session_id) for s in sessions},
        {s.session_id: await store.list_transcript_entries(s.session_id) for s in sessions},
        (await store.stats()).last_seq,
    )


@pytest.mark.anyio
async def test_counts_and_what_lands_in_the_store() -> None:
    store = await _store()
    plan = await import_original(COMPLETE, store)
    assert plan.counts == EXPECTED
    assert plan.skipped == {"assignments to a project the original does not have": 1}

    projects = {p.project_id: p for p in await store.list_projects()}
    assert projects["proj-1"].name == "Compiler"
    assert projects["proj-1"].working_directory == "/home/me/src/compiler"
    assert projects["proj-1"].created_at == datetime(2025, 11, 2, 9, 15, tzinfo=UTC)
    assert projects["proj-2"].working_directory is None

    alpha = await store.get_session("thr-alpha")
    assert alpha is not None
    assert (alpha.title, alpha.title_source) == ("Refactor the parser", TitleSource.USER)
    assert alpha.project_id == "proj-1"
    assert alpha.cwd == "/home/me/src/compiler"
    assert alpha.controls.model == "gpt-5-codex"
    assert alpha.controls.approval_policy == "untrusted"
    assert alpha.controls.network_access == "enabled"
    assert alpha.controls.filesystem_sandbox == "workspace-write"
    assert alpha.controls.settings["supervisor"]["fileChange"]["diffExplainability"] is False
    assert not alpha.system_owned
    assert not alpha.archived
    assert alpha.created_at == datetime.fromtimestamp(1762075000, UTC)

    gamma = await store.get_session("thr-gamma")  # legacy policy over the defaults
    assert gamma is not None
    assert gamma.project_id is None
    assert gamma.controls.approval_policy == "never"
    assert gamma.controls.filesystem_sandbox == "workspace-write"
    assert (gamma.title, gamma.title_source) == ("New chat", TitleSource.DEFAULT)

    defaults = await store.get_default_controls()
    assert defaults is not None
    assert defaults.approval_policy == "on-failure"
    assert defaults.settings == {"theme": "dark"}
    delta = await store.get_session("thr-delta")  # known only from the transcript
    assert delta is not None
    assert delta.controls == defaults

    worker = await store.get_worker("proj-1", "supervisor")
    assert worker is not None
    assert worker.session_id == "thr-worker-1"
    for sid in ("thr-worker-1", "thr-helper"):
        record = await store.get_session(sid)
        assert record is not None
        assert record.system_owned

    turns = {t.turn_id: t for t in await store.list_turns("thr-alpha")}
    assert turns["turn-a1"].status is TurnStatus.COMPLETED
    assert turns["turn-a1"].completed_at == datetime.fromtimestamp(1762075042, UTC)
    assert turns["turn-a2"].status is TurnStatus.INTERRUPTED

    entries = await store.list_transcript_entries("thr-alpha")
    assert [e.message_id for e in entries] == ["item-cmd-1", "approval-req-7"]  # by sequence
    assert entries[0].anchor_item_id == "msg-1"
    assert entries[1].type == "approval.request"
    assert entries[1].started_at == datetime.fromtimestamp(1762075010, UTC)
    assert [e.type for e in await store.list_transcript_entries("thr-delta")] == [
        "session.controls.updated"
    ]


@pytest.mark.anyio
async def test_importing_twice_changes_nothing(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "manager.sqlite3")
    await store.open()
    try:
        first = await import_original(COMPLETE, store)
        assert not first.empty
        before = await _everything(store)
        second = await import_original(COMPLETE, store)
        assert second.empty
        assert second.counts == ImportCounts()
        assert second.skipped["sessions already in the store"] == 6
        assert second.skipped["projects already in the store"] == 2
        assert second.skipped["transcript rows already in the store"] == 3
        assert await _everything(store) == before
    finally:
        await store.close()


@pytest.mark.anyio
async def test_what_is_already_there_is_kept() -> None:
    store = await _store()
    await import_original(COMPLETE, store)
    from codex_manager_core.ports.store import Batch, PatchSession

    await store.apply(Batch(mutations=(PatchSession("thr-alpha", {"title": "Renamed here"}),)))
    plan = await import_original(COMPLETE, store)
    assert plan.empty
    alpha = await store.get_session("thr-alpha")
    assert alpha is not None
    assert alpha.title == "Renamed here"


@pytest.mark.anyio
async def test_a_taken_project_name_gets_a_suffix() -> None:
    store = await _store()
    from codex_manager_core.ports.store import Batch, PutProject

    when = datetime(2026, 1, 1, tzinfo=UTC)
    mine = Project("mine", "compiler", None, when, when)
    await store.apply(Batch(mutations=(PutProject(mine),)))
    plan = await import_original(COMPLETE, store)
    assert plan.renamed == (("Compiler", "Compiler (2)"),)
    assert "renamed 'Compiler (2)'" in plan.summary()
    imported = await store.get_project("proj-1")
    assert imported is not None
    assert imported.name == "Compiler (2)"


@pytest.mark.anyio
async def test_dry_run_plans_without_writing() -> None:
    store = await _store()
    plan = await import_original(COMPLETE, store, dry_run=True)
    assert plan.counts == EXPECTED
    assert await store.list_projects() == []
    assert await store.get_session("thr-alpha") is None
    assert "Dry run: would import" in plan.summary(dry_run=True)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("case", "file", "words"),
    [
        ("corrupt", "session-metadata.json", "not valid JSON"),
        ("partial", "supplemental-transcript.json", "not valid JSON"),
    ],
)
async def test_corrupt_or_partial_file_is_named_and_nothing_written(
    case: str, file: str, words: str
) -> None:
    store = await _store()
    with pytest.raises(OriginalDataError) as caught:
        await import_original(FIXTURES / case, store)
    assert caught.value.file == str(FIXTURES / case / file)
    assert words in str(caught.value)
    assert await store.list_projects() == []
    assert (await store.stats()).sessions == 0


def _with(tmp_path: Path, edit: dict[str, object]) -> Path:
    data = json.loads((COMPLETE / "session-metadata.json").read_text())
    data.update(edit)
    (tmp_path / "session-metadata.json").write_text(json.dumps(data))
    return tmp_path


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("edit", "field"),
    [
        ({"projects": {"p": {"name": 3}}}, "projects.p.name"),
        ({"projects": []}, "projects"),
        (
            {"sessionControlsById": {"s": {"approvalPolicy": "sometimes"}}},
            "sessionControlsById.s.approvalPolicy",
        ),
        ({"titles": {"s": None}}, "titles.s"),
        (
            {"turnTimingBySessionId": {"s": {"t": {"startedAt": "yesterday"}}}},
            "turnTimingBySessionId.s.t.startedAt",
        ),
        ({"systemOwnedSessionIds": {"s": "yes"}}, "systemOwnedSessionIds.s"),
    ],
)
async def test_a_wrong_shape_names_the_file_and_field(
    tmp_path: Path, edit: dict[str, object], field: str
) -> None:
    store = await _store()
    with pytest.raises(OriginalDataError) as caught:
        await plan_import(_with(tmp_path, edit), store)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{tmp_path / 'session-metadata.json'}: {field}: ")


@pytest.mark.anyio
async def test_a_wrong_transcript_row_is_named(tmp_path: Path) -> None:
    bad = {"version": 1, "sequence": 1, "byThreadId": {"t": [{"sequence": 0, "entry": {}}]}}
    (tmp_path / "supplemental-transcript.json").write_text(json.dumps(bad))
    with pytest.raises(OriginalDataError) as caught:
        await plan_import(tmp_path, await _store())
    assert caught.value.field == "byThreadId.t[0].entry.messageId"


@pytest.mark.anyio
async def test_a_directory_without_the_files_is_refused(tmp_path: Path) -> None:
    with pytest.raises(OriginalDataError, match=r"neither session-metadata\.json"):
        await plan_import(tmp_path, await _store())


@pytest.mark.anyio
async def test_a_manager_sees_the_imported_state(tmp_path: Path) -> None:
    store = await _store()
    await import_original(COMPLETE, store)
    config = ManagerConfig(default_cwd=tmp_path, import_user_auth=False)
    with anyio.fail_after(WAIT):
        async with Manager.open(store=store, transport=MemoryRuntime({}), config=config) as m:
            assert [p.name for p in await m.projects.list()] == ["Compiler", "Docs"]
            listed = await m.sessions.list()  # system-owned ones hidden, as in the original
            assert {s.session_id for s in listed.items} == {
                "thr-alpha",
                "thr-beta",
                "thr-gamma",
                "thr-delta",
            }
            alpha = await m.sessions.get("thr-alpha")
            assert alpha.title == "Refactor the parser"
            assert (await m.settings.get("thr-alpha"))["supervisor"]["fileChange"][
                "diffExplainability"
            ] is False
            assert (await m.settings.get("thr-alpha", scope="default")) == {"theme": "dark"}
            everything = await m.sessions.list(include_system_owned=True)
            assert len(everything.items) == 6


# ---------------------------------------------------------------- the CLI


def test_cli_imports_then_finds_nothing_to_change(tmp_path: Path) -> None:
    into = tmp_path / "ours"
    runner = CliRunner()
    first = runner.invoke(cli, ["import-original", str(COMPLETE), "--into", str(into)])
    assert first.exit_code == 0, first.output
    assert "sessions:            6" in first.output
    assert "transcript rows:     3" in first.output
    assert (into / "manager.sqlite3").exists()
    second = runner.invoke(cli, ["import-original", str(COMPLETE), "--into", str(into)])
    assert second.exit_code == 0, second.output
    assert "nothing to change" in second.output
    assert "6 sessions already in the store" in second.output


def test_cli_dry_run_writes_nothing(tmp_path: Path) -> None:
    into = tmp_path / "ours"
    result = CliRunner().invoke(
        cli, ["import-original", str(COMPLETE), "--into", str(into), "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    assert "Dry run: would import" in result.output
    assert "projects:            2" in result.output
    assert not into.exists()


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("missing", "no such directory"),
        ("corrupt", "session-metadata.json: is not valid JSON"),
        ("partial", "supplemental-transcript.json: is not valid JSON"),
    ],
)
def test_cli_errors_name_the_problem(tmp_path: Path, source: str, message: str) -> None:
    into = tmp_path / "ours"
    result = CliRunner().invoke(
        cli, ["import-original", str(FIXTURES / source), "--into", str(into)]
    )
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert not into.exists()  # a bad source fails before our data directory is touched


def test_cli_refuses_a_data_dir_in_use(tmp_path: Path) -> None:
    into = tmp_path / "ours"
    into.mkdir()
    lock = DataDirLock(into)
    lock.acquire()
    try:
        result = CliRunner().invoke(cli, ["import-original", str(COMPLETE), "--into", str(into)])
    finally:
        lock.release()
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert str(into) in result.output
    assert not (into / "manager.sqlite3").exists()


def test_fixture_copy_is_importable_after_fixing(tmp_path: Path) -> None:
    """The partial fixture's metadata alone (its transcript removed) imports fine."""
    source = tmp_path / "orig"
    shutil.copytree(FIXTURES / "partial", source)
    (source / "supplemental-transcript.json").unlink()
    result = CliRunner().invoke(
        cli, ["import-original", str(source), "--into", str(tmp_path / "ours")]
    )
    assert result.exit_code == 0, result.output
    assert "transcript rows:     0" in result.output
