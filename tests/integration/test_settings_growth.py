"""Settings writes keep the ledger linear (issue 7, point 5).

Each `session_settings_updated` event and each `session.controls.updated` transcript row used
to carry the whole settings document (and its previous version): after N writes of one key
each, the N-th record held N keys, so the ledger grew with N squared. They carry the change
now, so every record of a one-key write has the same size however large the document grew;
and the document itself is bounded (SettingsTooLarge, HTTP 413, naming the limit).

The runtime is the fake app-server: settings never reach codex.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from codex_manager_core import Manager, ManagerConfig
from codex_manager_core.errors import SettingsTooLarge
from codex_manager_core.store.memory import MemoryStore
from codex_manager_core.testing import FakeAppServer

pytestmark = pytest.mark.anyio

WRITES = 300


@asynccontextmanager
async def fake_manager(tmp_path: Path, **config: object) -> AsyncIterator[Manager]:
    async with Manager.open(
        store=MemoryStore(),
        config=ManagerConfig(default_cwd=tmp_path, **config),  # type: ignore[arg-type]
        transport=FakeAppServer().transport(),
    ) as manager:
        await manager.runtime.wait_ready(10.0)
        yield manager


def size(value: object) -> int:
    return len(json.dumps(value, separators=(",", ":")))


async def test_each_settings_record_has_the_size_of_its_change(tmp_path: Path) -> None:
    async with fake_manager(tmp_path) as manager:
        sid = (await manager.sessions.create()).session_id
        for index in range(WRITES):
            await manager.settings.set(sid, f"key{index:04d}", "v" * 50, actor="bot")
        document = await manager.settings.get(sid)
        assert len(document) == WRITES
        assert size(document) > 50 * WRITES

        events = await manager.events.read(
            thread_ids=[sid], types=["session_settings_updated"], limit=1000
        )
        assert len(events) == WRITES
        event_sizes = {size(event.payload) for event in events}
        assert max(event_sizes) - min(event_sizes) <= 2, sorted(event_sizes)  # digits only
        assert max(event_sizes) < 1000, "an event carries one key, not the document"
        last = events[-1].payload
        assert last["settingsChange"] == {"set": {f"key{WRITES - 1:04d}": "v" * 50}, "removed": []}
        assert "settings" not in last["controls"]
        assert "settings" not in last["previous"]
        assert f"set key{WRITES - 1:04d}" in last["summary"]

        rows = [
            row
            for row in (await manager.transcript.get(sid, limit=None)).entries
            if row["type"] == "session.controls.updated"
        ]
        assert len(rows) == WRITES  # one audit row per change, as the original wrote
        row_sizes = {size(row) for row in rows}
        assert max(row_sizes) - min(row_sizes) <= 30, sorted(row_sizes)  # digits and times
        assert max(row_sizes) < 2000

        # Removing keys and replacing the document: the change lists what went.
        await manager.settings.update(sid, {"only": 1}, mode="replace")
        [replaced] = await manager.events.read(
            since=events[-1].seq, thread_ids=[sid], types=["session_settings_updated"]
        )
        change = replaced.payload["settingsChange"]
        assert change["set"] == {"only": 1}
        assert len(change["removed"]) == WRITES
        assert "and 290 more" in replaced.payload["summary"], "the summary stays short"


async def test_settings_documents_are_bounded(tmp_path: Path) -> None:
    limit = 4096
    async with fake_manager(tmp_path, max_settings_bytes=limit) as manager:
        sid = (await manager.sessions.create()).session_id
        for index in range(3):
            await manager.settings.set(sid, f"k{index}", "x" * 1000)
        last_seq = manager.bus.last_seq
        with pytest.raises(SettingsTooLarge) as caught:
            await manager.settings.set(sid, "k3", "x" * 1500)
        assert caught.value.code == "settings_too_large"
        assert f"the limit is {limit} bytes" in caught.value.message
        assert caught.value.issues == [
            {"path": ["settings"], "message": f"larger than {limit} bytes"}
        ]
        # Nothing was written; a smaller value still fits.
        assert manager.bus.last_seq == last_seq
        assert sorted(await manager.settings.get(sid)) == ["k0", "k1", "k2"]
        await manager.settings.set(sid, "k3", "x" * 500)
        with pytest.raises(SettingsTooLarge):
            await manager.settings.update(sid, {"big": "y" * limit})
        with pytest.raises(SettingsTooLarge):
            await manager.controls.apply(sid, settings={"big": "y" * limit})
