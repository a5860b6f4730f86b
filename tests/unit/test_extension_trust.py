"""Trust: mode x declared/undeclared event subscriptions at load, a missing capabilities
block, the repository's own extensions checked in `warn` at most, patterns, and
action_allowed for each mode."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from codex_manager_core.errors import ReloadFailed
from codex_manager_core.extensions.api import Subscription
from codex_manager_core.extensions.model import (
    Capabilities,
    LoadedExtension,
    Manifest,
    Origin,
    OriginType,
    TrustMode,
    TrustReport,
)
from codex_manager_core.extensions.trust import action_allowed, covers, effective_mode, evaluate
from codex_manager_core.store.memory import MemoryStore
from tests.unit.extension_fixtures import named, service, write_extension

pytestmark = pytest.mark.anyio

DECLARED = '[capabilities]\nevents = ["turn.completed"]\nactions = ["approval.decide"]\n'
UNDECLARED = '[capabilities]\nevents = ["file_change.approval_requested"]\n'


@pytest.fixture
async def store() -> AsyncIterator[MemoryStore]:
    adapter = MemoryStore()
    await adapter.open()
    try:
        yield adapter
    finally:
        await adapter.close()


@pytest.mark.parametrize(
    ("mode", "caps", "status"),
    [
        (TrustMode.DISABLED, DECLARED, "accepted"),
        (TrustMode.DISABLED, UNDECLARED, "accepted"),
        (TrustMode.DISABLED, "", "accepted"),
        (TrustMode.WARN, DECLARED, "accepted"),
        (TrustMode.WARN, UNDECLARED, "accepted_with_warnings"),
        (TrustMode.WARN, "", "accepted_with_warnings"),
        (TrustMode.ENFORCED, DECLARED, "accepted"),
        (TrustMode.ENFORCED, UNDECLARED, "denied"),
        (TrustMode.ENFORCED, "", "denied"),
    ],
)
async def test_the_trust_matrix_of_event_subscriptions(
    tmp_path: Path, store: MemoryStore, mode: TrustMode, caps: str, status: str
) -> None:
    path = write_extension(tmp_path, "x", manifest=named("x", caps=caps))
    extensions = service(store, trust=mode)
    if status == "denied":
        with pytest.raises(ReloadFailed) as caught:
            await extensions.load_path(path)
        [diagnostic] = caught.value.diagnostics
        assert diagnostic["code"] == "trust_denied"
        assert ("no [capabilities]" if not caps else "'turn.completed'") in diagnostic["message"]
        assert extensions.snapshot().extensions == ()
        return
    loaded = await extensions.load_path(path)
    assert loaded.trust.mode is mode
    assert loaded.trust.status == status
    if status == "accepted_with_warnings":
        assert loaded.trust.warnings
        assert [d.level for d in loaded.diagnostics] == ["warning"] * len(loaded.trust.warnings)
    else:
        assert loaded.trust.warnings == ()
        assert loaded.diagnostics == ()


async def test_the_repository_s_own_extensions_are_checked_in_warn_at_most(
    tmp_path: Path, store: MemoryStore
) -> None:
    repo, roots = tmp_path / "repo", tmp_path / "roots"
    write_extension(repo, "mine", manifest=named("mine", caps=UNDECLARED))
    write_extension(roots, "theirs", manifest=named("theirs", caps=UNDECLARED))
    snapshot = await service(store, repo=repo, roots=(roots,)).load_initial()
    [mine] = snapshot.extensions
    assert mine.origin.type is OriginType.REPO_LOCAL
    assert (mine.trust.mode, mine.trust.status) == (TrustMode.WARN, "accepted_with_warnings")
    assert [(n, d.code) for n, d in snapshot.skipped] == [(str(roots / "theirs"), "trust_denied")]
    assert effective_mode(TrustMode.DISABLED, OriginType.REPO_LOCAL) is TrustMode.DISABLED
    assert effective_mode(TrustMode.ENFORCED, OriginType.EMBEDDED) is TrustMode.ENFORCED


def test_patterns() -> None:
    assert covers("*", "anything")
    assert covers("turn.completed", "turn.completed")
    assert not covers("turn.completed", "turn.started")
    assert covers("app_server.*", "app_server.item.started")
    assert covers("app_server.*", "app_server.item.*")  # a subscription pattern
    assert not covers("app_server.item.*", "app_server.*")
    assert not covers("app_server.*", "app_server")


def test_evaluate_lists_every_undeclared_subscription() -> None:
    manifest = Manifest("x", "1", "x", "x", capabilities=Capabilities(events=("a.*",)))
    subs = [Subscription("a.b", print), Subscription("c", print), Subscription("d.*", print)]
    report = evaluate(manifest, subs, TrustMode.ENFORCED)
    assert report.status == "denied"
    assert len(report.errors) == 2


def _extension(mode: TrustMode, capabilities: Capabilities | None) -> LoadedExtension:
    return LoadedExtension(
        module_name="x",
        manifest=Manifest("x", "1", "x", "x", capabilities=capabilities),
        origin=Origin(OriginType.EMBEDDED, "/x"),
        manifest_path=None,
        entrypoint_path=None,
        subscriptions=(),
        trust=TrustReport(mode, "accepted"),
    )


@pytest.mark.parametrize(
    ("mode", "declared", "undeclared"),
    [
        (TrustMode.DISABLED, (True, None), (True, None)),
        (TrustMode.WARN, (True, None), (True, "warning")),
        (TrustMode.ENFORCED, (True, None), (False, "refusal")),
    ],
)
def test_action_allowed_for_each_mode(
    mode: TrustMode,
    declared: tuple[bool, str | None],
    undeclared: tuple[bool, str | None],
) -> None:
    extension = _extension(mode, Capabilities(actions=("approval.decide", "queue.*")))
    assert action_allowed(extension, "approval.decide") == declared
    assert action_allowed(extension, "queue.enqueue") == declared
    allowed, message = action_allowed(extension, "session.rename")
    assert allowed is undeclared[0]
    if undeclared[1] is None:
        assert message is None
    else:
        assert message is not None
        assert "'session.rename', not in its capabilities.actions" in message
    no_caps = action_allowed(_extension(mode, None), "approval.decide")
    assert no_caps[0] is (mode is not TrustMode.ENFORCED)


async def test_the_service_answers_action_allowed(tmp_path: Path, store: MemoryStore) -> None:
    path = write_extension(tmp_path, "x", manifest=named("x", caps=DECLARED))
    extensions = service(store, trust=TrustMode.ENFORCED)
    loaded = await extensions.load_path(path)
    assert extensions.action_allowed(loaded, "approval.decide") == (True, None)
    assert extensions.action_allowed(loaded, "turn.steer.create")[0] is False
