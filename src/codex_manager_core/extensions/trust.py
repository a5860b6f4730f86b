"""Trust: is an extension allowed the events it subscribes to and the actions it asks for?

| mode | undeclared event subscription | undeclared action |
|---|---|---|
| disabled | accepted | allowed |
| warn | accepted_with_warnings | allowed, with a warning |
| enforced | the module is denied at load (also without a `[capabilities]` block) | refused: `forbidden` / `undeclared_capability` |

Extensions in the repository's own `extensions/` folder are trusted code: they are checked
in `warn` at most (`effective_mode`). Patterns: `"*"` matches everything, `prefix.*` every
type starting with `prefix.`.
"""

from __future__ import annotations

from collections.abc import Iterable

from codex_manager_core.extensions.api import Subscription
from codex_manager_core.extensions.model import (
    LoadedExtension,
    Manifest,
    OriginType,
    TrustMode,
    TrustReport,
)

ACCEPTED = "accepted"
ACCEPTED_WITH_WARNINGS = "accepted_with_warnings"
DENIED = "denied"
UNDECLARED_CAPABILITY = "undeclared_capability"


def covers(pattern: str, name: str) -> bool:
    """Does a declared `pattern` cover `name` (an event type, an action type, or itself a
    subscription pattern such as `app_server.item.*`)?"""
    if pattern == "*" or pattern == name:
        return True
    return pattern.endswith("*") and name.startswith(pattern[:-1])


def declared(patterns: Iterable[str], name: str) -> bool:
    return any(covers(pattern, name) for pattern in patterns)


def effective_mode(configured: TrustMode, origin: OriginType) -> TrustMode:
    """The repository's own extensions are trusted: at most `warn` for them."""
    if origin is OriginType.REPO_LOCAL and configured is TrustMode.ENFORCED:
        return TrustMode.WARN
    return configured


def evaluate(
    manifest: Manifest, subscriptions: Iterable[Subscription], mode: TrustMode
) -> TrustReport:
    """The trust report of an extension's subscriptions under `mode`."""
    subscriptions = tuple(subscriptions)
    if mode is TrustMode.DISABLED:
        return TrustReport(mode, ACCEPTED)
    capabilities = manifest.capabilities
    problems: list[str] = []
    if capabilities is None:
        problems.append("the manifest declares no [capabilities]")
        events: tuple[str, ...] = ()
    else:
        events = capabilities.events
    for sub in subscriptions:
        if not declared(events, sub.event_type):
            problems.append(f"subscribes to {sub.event_type!r}, not in capabilities.events")
    if not problems:
        return TrustReport(mode, ACCEPTED)
    if mode is TrustMode.WARN:
        return TrustReport(mode, ACCEPTED_WITH_WARNINGS, warnings=tuple(problems))
    return TrustReport(mode, DENIED, errors=tuple(problems))


def action_allowed(extension: LoadedExtension, action_type: str) -> tuple[bool, str | None]:
    """May `extension` ask for `action_type`? (allowed, message): under `enforced` an
    undeclared action is refused (the dispatcher answers `forbidden` /
    `undeclared_capability` with the message); under `warn` it is allowed with a warning;
    under `disabled` it is allowed."""
    mode = extension.trust.mode
    capabilities = extension.manifest.capabilities
    if mode is TrustMode.DISABLED:
        return True, None
    if capabilities is not None and declared(capabilities.actions, action_type):
        return True, None
    message = (
        f"extension {extension.module_name} asked for action {action_type!r}, "
        "not in its capabilities.actions"
    )
    if mode is TrustMode.WARN:
        return True, message
    return False, message


__all__ = [
    "ACCEPTED",
    "ACCEPTED_WITH_WARNINGS",
    "DENIED",
    "UNDECLARED_CAPABILITY",
    "action_allowed",
    "covers",
    "declared",
    "effective_mode",
    "evaluate",
]
