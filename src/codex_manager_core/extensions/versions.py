"""Is an extension's `[runtime]` satisfied by this core? `coreApiVersion` must equal
api.CORE_API_VERSION, `coreApiVersionRange` (a semver range, `>=1.0.0 <2.0.0`, or PEP 440
specifiers, `>=1.0,<2`) must hold for api.CORE_API_FULL_VERSION, and when `profiles` are
named one must match api.RUNTIME_PROFILE by name and version (or range)."""

from __future__ import annotations

import re

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from codex_manager_core.extensions.api import (
    CORE_API_FULL_VERSION,
    CORE_API_VERSION,
    RUNTIME_PROFILE,
)
from codex_manager_core.extensions.model import RuntimeRequirement

_CLAUSE_BOUNDARY = re.compile(r"(?<=[0-9A-Za-z*])\s+(?=[<>=!~])")


def specifier(range_text: str) -> SpecifierSet:
    """A semver range (space-separated clauses) or PEP 440 specifiers, as a SpecifierSet;
    ValueError naming the text when it is neither."""
    text = _CLAUSE_BOUNDARY.sub(",", range_text.strip())
    text = re.sub(r"([<>=!~]=?)\s+", r"\1", text)
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        raise ValueError(f"not a version range: {range_text!r}") from None


def _satisfies(version: str, range_text: str) -> bool:
    return specifier(range_text).contains(Version(version), prereleases=True)


def runtime_problems(requirement: RuntimeRequirement) -> list[str]:
    """Why this core cannot run an extension with `requirement` (empty: it can)."""
    problems: list[str] = []
    if requirement.core_api_version != CORE_API_VERSION:
        problems.append(
            f"runtime.coreApiVersion is {requirement.core_api_version}, "
            f"this core's is {CORE_API_VERSION}"
        )
    if requirement.core_api_version_range is not None:
        try:
            if not _satisfies(CORE_API_FULL_VERSION, requirement.core_api_version_range):
                problems.append(
                    f"runtime.coreApiVersionRange {requirement.core_api_version_range!r} "
                    f"excludes this core's API {CORE_API_FULL_VERSION}"
                )
        except ValueError as exc:
            problems.append(f"runtime.coreApiVersionRange: {exc}")
    if requirement.profiles:
        name, version = RUNTIME_PROFILE
        reasons: list[str] = []
        for profile_name, profile_range in requirement.profiles:
            if profile_name != name:
                continue
            try:
                if profile_range is None or _satisfies(version, profile_range):
                    break
            except ValueError as exc:
                reasons.append(f"runtime.profiles {profile_name}: {exc}")
                continue
            reasons.append(f"profile {profile_name} {profile_range} excludes {version}")
        else:
            named = ", ".join(p for p, _ in requirement.profiles)
            problems.append(
                f"runtime.profiles ({named}) do not include {name}@{version}"
                + (f": {'; '.join(reasons)}" if reasons else "")
            )
    return problems


__all__ = ["runtime_problems", "specifier"]
