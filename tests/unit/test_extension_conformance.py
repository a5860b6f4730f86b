"""The conformance fixture through the whole runtime, in-process and process-isolated: the
Manager discovers it in a configured root, loads it (the manifest's `isolation` chooses),
and its dispatcher emits events to it. The same events give the same envelopes either way;
an isolated extension's child ends with the Manager (and with a reload that drops it)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from codex_manager_core.extensions import EventContext, ExtensionEvent
from codex_manager_core.extensions.model import EmitSummary, EnvelopeKind
from tests.unit.extension_dispatch_fixtures import open_manager

pytestmark = pytest.mark.anyio

FIXTURE = Path(__file__).resolve().parents[1] / "extension_fixtures" / "conformance"


def installed(tmp_path: Path, isolation: str) -> Path:
    """The fixture copied into a root of its own, with the isolation asked for."""
    root = tmp_path / f"root-{isolation}"
    shutil.copytree(FIXTURE, root / "conformance")
    manifest = root / "conformance" / "extension.toml"
    text = manifest.read_text().replace('isolation = "in_process"', f'isolation = "{isolation}"')
    manifest.write_text(text)
    return root


def shape(summary: EmitSummary) -> list[tuple[Any, ...]]:
    """The envelopes, without what differs by nature (a new job's id, an error's wording)."""
    found = []
    for e in summary.envelopes:
        details = e.details
        if e.kind is EnvelopeKind.HANDLER_ERROR:
            details = None
        elif isinstance(details, Mapping) and "jobId" in details:
            details = {**details, "jobId": "<job>"}
        found.append((e.kind.value, e.module, e.status, details))
    return found


async def emit_all(manager: Any, session_id: str) -> dict[str, list[tuple[Any, ...]]]:
    context = EventContext(session_id=session_id)
    await manager.settings.set(session_id, "mode", "strict")
    events = {
        "test.echo": {"n": 1},
        "test.settings": {},
        "test.none": {},
        "test.sync": {},
        "test.fail": {},
        "test.enqueue": {"jobType": "note", "jobPayload": {"text": "hello"}},
        # An action for an approval that does not exist: the executor refuses it alike.
        "test.action": {"approvalId": "ap-missing"},
        # Past its timeout (2 s): cancelled, a handler_error with status timeout.
        "test.sleep": {},
    }
    seen = {}
    for event_type, payload in events.items():
        event = ExtensionEvent(event_type, payload, context, correlation_id="7")
        seen[event_type] = shape(await manager.extension_dispatcher.emit(event))
    return seen


async def test_the_fixture_gives_the_same_envelopes_loaded_either_way(tmp_path: Path) -> None:
    isolation = "process"
    roots = {mode: installed(tmp_path, mode) for mode in ("in_process", isolation)}
    results = {}
    pids = []
    for mode, root in roots.items():
        async with open_manager(
            tmp_path,
            extension_roots=(root,),
            extensions_repo_root=None,
            extension_entry_points=False,
            extension_roots_from_env=False,
        ) as manager:
            (loaded,) = manager.extensions.snapshot().extensions
            session = await manager.sessions.create()
            results[mode] = await emit_all(manager, session.session_id)
            if loaded.isolated is not None:
                pids.append(loaded.isolated.pid)
    assert results[isolation] == results["in_process"]
    echo = results[isolation]["test.echo"]
    assert echo[0][:3] == ("handler_result", "conformance", None)
    assert results[isolation]["test.enqueue"][0][2] == "enqueued"
    assert results[isolation]["test.fail"][0][0] == "handler_error"
    assert results[isolation]["test.sleep"][0][:3] == ("handler_error", "conformance", "timeout")
    action = results[isolation]["test.action"][0]
    assert action[0] == "action_result"
    assert action[2] in ("failed", "invalid", "forbidden"), action
    settings = results[isolation]["test.settings"][0][3]
    assert settings == {"all": {"mode": "strict"}, "mode": "strict"}
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # the child ended with the Manager


async def test_a_reload_that_drops_an_isolated_extension_ends_its_child(tmp_path: Path) -> None:
    root = installed(tmp_path, "process")
    async with open_manager(
        tmp_path,
        extension_roots=(root,),
        extensions_repo_root=None,
        extension_entry_points=False,
        extension_roots_from_env=False,
    ) as manager:
        (loaded,) = manager.extensions.snapshot().extensions
        pid = loaded.isolated.pid
        shutil.rmtree(root / "conformance")
        snapshot = await manager.extensions.reload()
        assert snapshot.extensions == ()
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
