"""Job types: what a kind of job is (its payload and result classes, dedupe, retry, timeout,
cancel) and the registry the queue looks types up in.

The built-in types and users' own (`@manager.jobs.job_type(...)`) are registered the same
way. A payload arrives as JSON (an enqueue call, the store after a restart); `parse_payload`
turns it into the type's attrs class with cattrs, and a payload that does not fit raises
`InvalidInput` whose issues name each bad field by its path, so a host answers 400 with
the field. Keys are camelCase, as the original's payloads (`instructionText`) are.
"""

from __future__ import annotations

import builtins
import enum
import functools
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import attrs
import cattrs
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from codex_manager_core.errors import Conflict, InvalidInput, NotFound
from codex_manager_core.models import JsonObject
from codex_manager_core.queue.model import Job, JobPriority
from codex_manager_core.queue.policies import CancelPolicy, DedupePolicy, RetryPolicy
from codex_manager_core.serde import camel

P = TypeVar("P")
R = TypeVar("R")

JobHandler = Callable[[Any, Any], Awaitable[Any]]
"""`async def run(ctx, payload) -> result`: the job's work. `ctx` is the runner's job
context (the runner is the next step of issue 9), hence `Any` for now."""

# ---------------------------------------------------------------- JSON <-> payload classes

# Strict: an unknown key is an error (a typo must not be ignored), and detailed validation
# keeps every problem with where it was found.
_CONVERTER = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)


@functools.cache
def _structure_hook(cls: type) -> Any:
    attrs.resolve_types(cls)
    renames = {field.name: override(rename=camel(field.name)) for field in attrs.fields(cls)}
    return make_dict_structure_fn(cls, _CONVERTER, _cattrs_forbid_extra_keys=True, **renames)  # type: ignore[arg-type]


@functools.cache
def _unstructure_hook(cls: type) -> Any:
    attrs.resolve_types(cls)
    renames = {field.name: override(rename=camel(field.name)) for field in attrs.fields(cls)}
    return make_dict_unstructure_fn(cls, _CONVERTER, **renames)  # type: ignore[arg-type]


_CONVERTER.register_structure_hook_factory(attrs.has, _structure_hook)


def _exactly(tp: type, name: str, *also: type) -> Callable[[Any, Any], Any]:
    """A scalar as JSON gave it: cattrs would make a string of a number (and a number of a
    numeric string); a payload of the wrong type is the caller's mistake, named as such."""
    accepted = (tp, *also)

    def structure(value: Any, target: Any) -> Any:
        if _is_enum(target):
            # A StrEnum (an IntEnum) is a str (an int): it gets here, not to `_enum_hook`.
            return _enum_hook(target)(value, target)
        if (isinstance(value, bool) and tp is not bool) or not isinstance(value, accepted):
            raise TypeError(f"must be {name}, not {type(value).__name__}")
        return tp(value)

    return structure


_CONVERTER.register_structure_hook(str, _exactly(str, "a string"))
_CONVERTER.register_structure_hook(int, _exactly(int, "an integer"))
_CONVERTER.register_structure_hook(float, _exactly(float, "a number", int))
_CONVERTER.register_structure_hook(bool, _exactly(bool, "a boolean"))
_CONVERTER.register_unstructure_hook_factory(attrs.has, _unstructure_hook)


def _is_enum(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, enum.Enum)


def _enum_hook(tp: type[enum.Enum]) -> Callable[[Any, Any], Any]:
    """A member by its value, exactly: a StrEnum would otherwise take the `str` hook and
    let any string through as if it were a member."""
    values = {member.value: member for member in tp}
    allowed = ", ".join(repr(value) for value in values)

    def structure(value: Any, _: Any) -> Any:
        if isinstance(value, bool) or value not in values:
            raise ValueError(f"must be one of {allowed}, not {value!r}")
        return values[value]

    return structure


_CONVERTER.register_structure_hook_factory(_is_enum, _enum_hook)


class FieldProblem(ValueError):
    """Raised by a payload class's attrs validator: the value of `field` (the Python name)
    does not fit. attrs validators run in the class's constructor, where cattrs no longer
    knows which field it was; this carries it, so the issue names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def field_problem(check: Callable[[Any], str | None]) -> Callable[[Any, Any, Any], None]:
    """An attrs validator from `check(value) -> problem or None`, raising FieldProblem."""

    def validate(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        problem = check(value)
        if problem is not None:
            raise FieldProblem(attribute.name, problem)

    return validate


def _issues(exc: BaseException, path: list[str | int]) -> list[dict[str, Any]]:
    """cattrs' nested validation errors as {path, message} issues."""
    if isinstance(exc, ClassValidationError | IterableValidationError):
        with_notes, without = exc.group_exceptions()
        found: list[dict[str, Any]] = []
        for inner, note in with_notes:
            step: str | int
            if isinstance(note, AttributeValidationNote):
                step = camel(note.name)
            elif isinstance(note, IterableValidationNote):
                step = note.index
            else:
                step = str(note)
            found += _issues(inner, [*path, step])
        for inner in without:
            found += _issues(inner, path)
        return found
    if isinstance(exc, ForbiddenExtraKeysError):
        return [
            {"path": [*path, key], "message": "unknown field"} for key in sorted(exc.extra_fields)
        ]
    if isinstance(exc, KeyError):
        return [{"path": path, "message": "required"}]
    if isinstance(exc, FieldProblem):
        return [{"path": [*path, camel(exc.field)], "message": str(exc)}]
    return [{"path": path, "message": str(exc) or type(exc).__name__}]


def _where(path: list[str | int]) -> str:
    return "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in path)[1:]


def structure(data: Any, cls: type[P], what: str) -> P:
    """`data` (JSON) as a `cls`, or InvalidInput naming each bad field."""
    if not isinstance(data, dict):
        raise InvalidInput(f"{what} must be a JSON object, not {type(data).__name__}")
    try:
        return _CONVERTER.structure(data, cls)
    except (ClassValidationError, IterableValidationError, ForbiddenExtraKeysError) as exc:
        issues = _issues(exc, [])
        listed = "; ".join(
            f"{_where(issue['path']) or '(root)'}: {issue['message']}" for issue in issues
        )
        raise InvalidInput(f"{what} does not fit {cls.__name__}: {listed}", issues=issues) from exc


def unstructure(value: Any) -> Any:
    return _CONVERTER.unstructure(value)


# ---------------------------------------------------------------- job types

JobHook = Callable[[Job], Awaitable[None]]
"""Told of a job's transition, after it is written (the job as it is now)."""


def _positive_or_none(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not value > 0:
        raise ValueError(f"JobType.{attribute.name} must be positive or None, not {value!r}")


@attrs.frozen
class JobHooks:
    """A job type's lifecycle hooks, each called after its transition is written. A hook
    that raises is logged; it never changes the job's state. `on_queued`: a new job
    (not a join, drop or merge); `on_started`: an attempt starts; `on_completed`,
    `on_failed`, `on_canceled`: the job has ended so (`on_failed` only when it will not be
    retried)."""

    on_queued: JobHook | None = None
    on_started: JobHook | None = None
    on_completed: JobHook | None = None
    on_failed: JobHook | None = None
    on_canceled: JobHook | None = None


def _attrs_class(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not attrs.has(value):
        raise TypeError(f"JobType.{attribute.name} must be an attrs class, not {value!r}")


@attrs.frozen
class JobType(Generic[P, R]):
    """One kind of job. `type` names it in the queue (and on the wire); `version` is stored
    with each job, so a type can change its payload and still read old jobs."""

    # `builtins.type` below: this field shadows the builtin in the class body.
    type: str = attrs.field(validator=attrs.validators.min_len(1))
    payload: builtins.type[P] = attrs.field(validator=_attrs_class)
    result: builtins.type[R] = attrs.field(validator=_attrs_class)
    version: int = attrs.field(default=1, validator=attrs.validators.ge(1))
    priority: JobPriority = attrs.field(default=JobPriority.BACKGROUND, converter=JobPriority)
    dedupe: DedupePolicy = DedupePolicy()
    retry: RetryPolicy = RetryPolicy()
    timeout: float = attrs.field(default=60.0, validator=attrs.validators.gt(0))
    """Seconds an attempt may take (the original's default, 60 s); past it the attempt fails
    with a timeout, which the retry policy classifies."""
    cancel: CancelPolicy = CancelPolicy()
    run: JobHandler | None = None
    stall_timeout: float | None = attrs.field(default=None, validator=_positive_or_none)
    """Seconds a running attempt may go without a heartbeat (progress, a step, its running
    context, `ctx.heartbeat()`) before it is cancelled as stalled (`JobStalled`, which the
    retry policy classifies). None: no stall detection."""
    hooks: JobHooks = JobHooks()

    def parse_payload(self, data: Any) -> P:
        """A JSON payload as the payload class, or InvalidInput naming each bad field."""
        return structure(data, self.payload, f"the payload of a job of type {self.type!r}")

    def dump_payload(self, payload: P) -> JsonObject:
        dumped: JsonObject = unstructure(payload)
        return dumped

    def parse_result(self, data: Any) -> R:
        return structure(data, self.result, f"the result of a job of type {self.type!r}")

    def dump_result(self, result: R) -> JsonObject:
        dumped: JsonObject = unstructure(result)
        return dumped

    def dedupe_key(self, payload: P) -> str | None:
        """The payload's dedupe key (None: not deduped)."""
        key = self.dedupe.key
        return None if key is None else key(payload)


_NO_DEDUPE = DedupePolicy()
_DEFAULT_RETRY = RetryPolicy()
_DEFAULT_CANCEL = CancelPolicy()
_NO_HOOKS = JobHooks()


class JobTypes:
    """The registry: job types by name. One per manager; the built-in types and users' own
    are registered in it alike."""

    def __init__(self, on_register: Callable[[JobType[Any, Any]], None] | None = None) -> None:
        self._types: dict[str, JobType[Any, Any]] = {}
        self._on_register = on_register
        """Told of every type registered (the runner: jobs of it may be waiting)."""

    def register(self, job_type: JobType[P, R], *, replace: bool = False) -> JobType[P, R]:
        """Add a type; `replace`: take the place of the type of that name (a built-in such
        as `agent_instruction`, or a stand-in in tests) instead of Conflict."""
        existing = self._types.get(job_type.type)
        if existing is not None and not replace:
            raise Conflict(
                f"job type {job_type.type!r} is already registered (version "
                f"{existing.version}); register each type once, or choose another name",
                code="job_type_exists",
            )
        self._types[job_type.type] = job_type
        if self._on_register is not None:
            self._on_register(job_type)
        return job_type

    def get(self, type_name: str) -> JobType[Any, Any]:
        try:
            return self._types[type_name]
        except KeyError:
            known = ", ".join(sorted(self._types)) or "none"
            raise NotFound(
                f"no job type {type_name!r} is registered (registered: {known})",
                code="unknown_job_type",
            ) from None

    def __contains__(self, type_name: object) -> bool:
        return type_name in self._types

    def names(self) -> list[str]:
        return sorted(self._types)

    def job_type(
        self,
        type: str,
        *,
        payload: type[P],
        result: type[R],
        version: int = 1,
        priority: JobPriority | str = JobPriority.BACKGROUND,
        dedupe: DedupePolicy = _NO_DEDUPE,
        retry: RetryPolicy = _DEFAULT_RETRY,
        timeout: float = 60.0,
        cancel: CancelPolicy = _DEFAULT_CANCEL,
        stall_timeout: float | None = None,
        hooks: JobHooks = _NO_HOOKS,
    ) -> Callable[[JobHandler], JobType[P, R]]:
        """The decorator form: registers the decorated `async def run(ctx, payload)` as a
        job type's work and returns the `JobType`."""

        def register(run: JobHandler) -> JobType[P, R]:
            return self.register(
                JobType(
                    type=type,
                    payload=payload,
                    result=result,
                    version=version,
                    priority=JobPriority(priority),
                    dedupe=dedupe,
                    retry=retry,
                    timeout=timeout,
                    cancel=cancel,
                    run=run,
                    stall_timeout=stall_timeout,
                    hooks=hooks,
                )
            )

        return register


__all__ = [
    "JobHandler",
    "JobHook",
    "JobHooks",
    "JobType",
    "JobTypes",
    "structure",
    "unstructure",
]
