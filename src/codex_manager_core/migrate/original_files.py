"""Strict readers of the original Codex Manager's `.data/` files (reference, section 8):
`session-metadata.json` and `supplemental-transcript.json`.

Every value is checked; the first wrong one raises `OriginalDataError` naming the file and
the field path (`projects.p1.name: expected a string, got 3`). A file that is not JSON (for
example cut short by the original's non-atomic rewrite) is named the same way. A missing
file reads as None: the caller decides whether that is fine.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, cast

import attrs

from codex_manager_core.errors import CodexManagerError
from codex_manager_core.models import Controls

METADATA_FILE = "session-metadata.json"
TRANSCRIPT_FILE = "supplemental-transcript.json"

_APPROVAL = ("untrusted", "on-failure", "on-request", "never")
_NETWORK = ("restricted", "enabled")
_SANDBOX = ("read-only", "workspace-write", "danger-full-access")
_ROLES = ("user", "assistant", "system")
_STATUSES = ("streaming", "complete", "canceled", "error")


class OriginalDataError(CodexManagerError):
    """A file of the original's data directory is missing, unreadable, not JSON, or not of
    the shape the original writes. `file` is its path, `field` the dotted path of the bad
    value ("" for the file itself)."""

    code = "invalid_original_data"

    def __init__(self, file: Path | str, field: str, problem: str) -> None:
        where = f"{file}: {field}: " if field else f"{file}: "
        super().__init__(where + problem, details={"file": str(file), "field": field})
        self.file = str(file)
        self.field = field


@attrs.frozen
class OriginalProject:
    project_id: str
    name: str
    working_directory: str | None
    created_at: datetime | None
    updated_at: datetime | None


@attrs.frozen
class TurnTiming:
    started_at: datetime
    completed_at: datetime | None


@attrs.frozen
class OriginalMetadata:
    titles: dict[str, str] = attrs.Factory(dict)
    projects: dict[str, OriginalProject] = attrs.Factory(dict)
    session_project: dict[str, str] = attrs.Factory(dict)
    legacy_approval: dict[str, str] = attrs.Factory(dict)
    session_controls: dict[str, Controls] = attrs.Factory(dict)
    default_controls: Controls | None = None
    agent_sessions: dict[str, str] = attrs.Factory(dict)
    """`projectAgentSessionByKey`: "owner::agent" -> thread id."""
    system_owned: frozenset[str] = frozenset()
    turn_timings: dict[str, dict[str, TurnTiming]] = attrs.Factory(dict)


@attrs.frozen
class OriginalTranscriptRow:
    sequence: int
    message_id: str
    turn_id: str
    role: Literal["user", "assistant", "system"]
    type: str
    content: str
    status: Literal["streaming", "complete", "canceled", "error"]
    details: Any
    started_at: datetime | None
    completed_at: datetime | None
    anchor_item_id: str | None


@attrs.frozen
class OriginalTranscript:
    sequence: int
    by_thread: dict[str, tuple[OriginalTranscriptRow, ...]]


class _Reader:
    """Typed access to parsed JSON that names the file and the field path on any error."""

    def __init__(self, file: Path) -> None:
        self.file = file

    def fail(self, path: str, problem: str) -> OriginalDataError:
        return OriginalDataError(self.file, path, problem)

    @staticmethod
    def _got(value: Any) -> str:
        text = json.dumps(value)
        return text if len(text) <= 40 else text[:37] + "..."

    def obj(self, value: Any, path: str) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, f"expected an object, got {self._got(value)}")
        return cast(Mapping[str, Any], value)

    def opt_obj(self, parent: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
        value = parent.get(key)
        return {} if value is None else self.obj(value, _join(path, key))

    def string(self, value: Any, path: str, *, empty: bool = True) -> str:
        if not isinstance(value, str):
            raise self.fail(path, f"expected a string, got {self._got(value)}")
        if not empty and not value.strip():
            raise self.fail(path, "must not be empty")
        return value

    def opt_string(self, value: Any, path: str) -> str | None:
        return None if value is None else self.string(value, path)

    def choice(self, value: Any, path: str, allowed: tuple[str, ...]) -> str:
        if value not in allowed:
            raise self.fail(path, f"expected one of {', '.join(allowed)}, got {self._got(value)}")
        return cast(str, value)

    def integer(self, value: Any, path: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.fail(path, f"expected a non-negative integer, got {self._got(value)}")
        return value

    def time(self, value: Any, path: str) -> datetime:
        """An ISO 8601 string or milliseconds since the epoch (the original writes both)."""
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if math.isfinite(value) and 0 <= value < 1e14:
                return datetime.fromtimestamp(value / 1000, UTC)
        elif isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                pass
            else:
                return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        raise self.fail(path, f"expected a time (ISO 8601 or epoch ms), got {self._got(value)}")

    def opt_time(self, value: Any, path: str) -> datetime | None:
        return None if value is None else self.time(value, path)

    def controls(self, value: Any, path: str) -> Controls:
        tuple_ = self.obj(value, path)
        settings = tuple_.get("settings")
        return Controls(
            model=self.opt_string(tuple_.get("model"), _join(path, "model")),
            approval_policy=cast(
                Any,
                self.choice(tuple_.get("approvalPolicy"), _join(path, "approvalPolicy"), _APPROVAL),
            ),
            network_access=cast(
                Any,
                self.choice(tuple_.get("networkAccess"), _join(path, "networkAccess"), _NETWORK),
            ),
            filesystem_sandbox=cast(
                Any,
                self.choice(
                    tuple_.get("filesystemSandbox"), _join(path, "filesystemSandbox"), _SANDBOX
                ),
            ),
            settings=dict(self.obj(settings, _join(path, "settings")))
            if settings is not None
            else {},
        )


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _load(file: Path) -> Any:
    """The JSON of `file`, None if there is no such file."""
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise OriginalDataError(file, "", "is a directory, not a file") from None
    except OSError as exc:
        raise OriginalDataError(file, "", f"cannot be read: {exc.strerror or exc}") from None
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        raise OriginalDataError(file, "", "is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise OriginalDataError(
            file, "", f"is not valid JSON (corrupt or cut short?): {exc.msg} at line {exc.lineno}"
        ) from None
    except RecursionError:
        raise OriginalDataError(file, "", "is nested too deeply") from None


def read_metadata(data_dir: Path) -> OriginalMetadata | None:
    file = data_dir / METADATA_FILE
    raw = _load(file)
    if raw is None and not file.exists():
        return None
    r = _Reader(file)
    top = r.obj(raw, "")
    titles = {k: r.string(v, f"titles.{k}") for k, v in r.opt_obj(top, "titles", "").items()}
    projects: dict[str, OriginalProject] = {}
    for pid, value in r.opt_obj(top, "projects", "").items():
        path = f"projects.{pid}"
        if not pid.strip():
            raise r.fail(path, "a project id must not be empty")
        p = r.obj(value, path)
        projects[pid] = OriginalProject(
            project_id=pid,
            name=r.string(p.get("name"), f"{path}.name", empty=False),
            working_directory=r.opt_string(p.get("workingDirectory"), f"{path}.workingDirectory")
            or None,
            created_at=r.opt_time(p.get("createdAt"), f"{path}.createdAt"),
            updated_at=r.opt_time(p.get("updatedAt"), f"{path}.updatedAt"),
        )
    assignments = {
        k: r.string(v, f"sessionProjectById.{k}")
        for k, v in r.opt_obj(top, "sessionProjectById", "").items()
    }
    legacy = {
        k: r.choice(v, f"sessionApprovalPolicyById.{k}", _APPROVAL)
        for k, v in r.opt_obj(top, "sessionApprovalPolicyById", "").items()
    }
    controls = {
        k: r.controls(v, f"sessionControlsById.{k}")
        for k, v in r.opt_obj(top, "sessionControlsById", "").items()
    }
    default_raw = top.get("defaultSessionControls")
    default = None if default_raw is None else r.controls(default_raw, "defaultSessionControls")
    agents = {
        k: r.string(v, f"projectAgentSessionByKey.{k}", empty=False)
        for k, v in r.opt_obj(top, "projectAgentSessionByKey", "").items()
    }
    system: set[str] = set()
    for k, v in r.opt_obj(top, "systemOwnedSessionIds", "").items():
        if not isinstance(v, bool):
            raise r.fail(f"systemOwnedSessionIds.{k}", f"expected true, got {r._got(v)}")
        if v:
            system.add(k)
    timings: dict[str, dict[str, TurnTiming]] = {}
    for sid, turns in r.opt_obj(top, "turnTimingBySessionId", "").items():
        per: dict[str, TurnTiming] = {}
        for tid, value in r.obj(turns, f"turnTimingBySessionId.{sid}").items():
            path = f"turnTimingBySessionId.{sid}.{tid}"
            t = r.obj(value, path)
            per[tid] = TurnTiming(
                r.time(t.get("startedAt"), f"{path}.startedAt"),
                r.opt_time(t.get("completedAt"), f"{path}.completedAt"),
            )
        timings[sid] = per
    return OriginalMetadata(
        titles=titles,
        projects=projects,
        session_project=assignments,
        legacy_approval=legacy,
        session_controls=controls,
        default_controls=default,
        agent_sessions=agents,
        system_owned=frozenset(system),
        turn_timings=timings,
    )


def read_transcript(data_dir: Path) -> OriginalTranscript | None:
    file = data_dir / TRANSCRIPT_FILE
    raw = _load(file)
    if raw is None and not file.exists():
        return None
    r = _Reader(file)
    top = r.obj(raw, "")
    if top.get("version") != 1:
        raise r.fail("version", f"expected 1, got {r._got(top.get('version'))}")
    sequence = r.integer(top.get("sequence", 0), "sequence")
    by_thread: dict[str, tuple[OriginalTranscriptRow, ...]] = {}
    for thread_id, rows in r.opt_obj(top, "byThreadId", "").items():
        base = f"byThreadId.{thread_id}"
        if not isinstance(rows, list):
            raise r.fail(base, f"expected a list, got {r._got(rows)}")
        parsed = []
        for index, row in enumerate(rows):
            path = f"{base}[{index}]"
            wrapper = r.obj(row, path)
            e = r.obj(wrapper.get("entry"), f"{path}.entry")
            epath = f"{path}.entry"
            parsed.append(
                OriginalTranscriptRow(
                    sequence=r.integer(wrapper.get("sequence"), f"{path}.sequence"),
                    message_id=r.string(e.get("messageId"), f"{epath}.messageId", empty=False),
                    turn_id=r.string(e.get("turnId"), f"{epath}.turnId"),
                    role=cast(Any, r.choice(e.get("role"), f"{epath}.role", _ROLES)),
                    type=r.string(e.get("type"), f"{epath}.type"),
                    content=r.string(e.get("content", ""), f"{epath}.content"),
                    status=cast(
                        Any, r.choice(e.get("status", "complete"), f"{epath}.status", _STATUSES)
                    ),
                    details=e.get("details"),
                    started_at=r.opt_time(e.get("startedAt"), f"{epath}.startedAt"),
                    completed_at=r.opt_time(e.get("completedAt"), f"{epath}.completedAt"),
                    anchor_item_id=r.opt_string(e.get("anchorItemId"), f"{epath}.anchorItemId"),
                )
            )
        by_thread[thread_id] = tuple(sorted(parsed, key=lambda row: row.sequence))
    return OriginalTranscript(sequence=sequence, by_thread=by_thread)


__all__ = [
    "METADATA_FILE",
    "TRANSCRIPT_FILE",
    "OriginalDataError",
    "OriginalMetadata",
    "OriginalProject",
    "OriginalTranscript",
    "OriginalTranscriptRow",
    "TurnTiming",
    "read_metadata",
    "read_transcript",
]
