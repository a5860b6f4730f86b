"""Job queue routes (the original's section 1.14) plus ours, the global list.

Thin adapters over `manager.jobs`: read one job, list one owner's jobs (oldest first, the
original's shape), cancel, and list every job a page at a time with filters. The queue is
always on, so the original's 503 "queue disabled" never happens. The shapes are in
`wire/jobs.py`.
"""

from typing import Annotated, Any, Final

from litestar import get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, QueryParameter
from litestar.status_codes import HTTP_409_CONFLICT

from codex_manager_core.errors import Conflict, InvalidInput, NotFound
from codex_manager_core.queue.model import Job, JobState
from codex_manager_http.host import ManagerDep
from codex_manager_http.routes.common import RESHAPED, error_responses, reshaped
from codex_manager_http.wire import jobs as wire

_STATES: Final = tuple(state.value for state in JobState)
#: `manager.jobs.list`'s largest page (routes do not import the services).
MAX_JOB_PAGE: Final = 1000

StateFilter = Annotated[
    str | None,
    QueryParameter(name="state", description=f"Only jobs in this state ({', '.join(_STATES)})"),
]


def _states(values: list[str] | None, name: str = "state") -> list[str] | None:
    """Comma separated (repeating the parameter is the same); each one a job state."""
    if values is None:
        return None
    found = [part.strip() for value in values for part in value.split(",")]
    for value in found:
        if value not in _STATES:
            raise InvalidInput(
                f"{name} must be one of {', '.join(_STATES)} (got {value!r})",
                issues=[{"path": [name], "message": "invalid"}],
            )
    return found


def _types(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    found = [part.strip() for value in values for part in value.split(",")]
    if any(not value for value in found):
        raise InvalidInput(
            "type must name job types (comma separated, none empty)",
            issues=[{"path": ["type"], "message": "empty"}],
        )
    return found


async def _not_found(manager: ManagerDep, job_id: str) -> Job:
    """The job; 404 with the original's `jobId` when there is none."""
    try:
        return await manager.jobs.get(job_id)
    except NotFound as exc:
        raise reshaped(exc, "not_found", jobId=job_id) from exc


@get(
    "/api/orchestrator/jobs/{job_id:str}",
    tags=["jobs"],
    summary="Read one orchestrator queue job",
    exception_handlers=RESHAPED,
    responses=error_responses(400, 404),
)
async def get_job(manager: ManagerDep, job_id: FromPath[str]) -> wire.JobBody:
    """The job record; 404 `{status: "not_found", code: "job_not_found", jobId}`."""
    return wire.job_body(await _not_found(manager, job_id))


@get(
    "/api/projects/{project_id:str}/orchestrator/jobs",
    tags=["jobs"],
    summary="List orchestrator queue jobs by project",
    responses=error_responses(400),
)
async def list_project_jobs(
    manager: ManagerDep, project_id: FromPath[str], job_state: StateFilter = None
) -> wire.ProjectJobs:
    """Every job of one owner (a project id, or `session:<id>`), oldest `createdAt` first;
    an owner without jobs has an empty list. Retention bounds how many ended jobs an owner
    keeps, so this is never unbounded."""
    # `state` is a name Litestar keeps for itself: the parameter is renamed, not its query.
    states = _states(None if job_state is None else [job_state])
    jobs: list[Job] = []
    cursor: str | None = None
    while True:
        page = await manager.jobs.list(
            states=states, owner=project_id, cursor=cursor, limit=MAX_JOB_PAGE
        )
        jobs.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    jobs.reverse()  # the store lists newest first
    return wire.project_jobs(jobs)


@post(
    "/api/orchestrator/jobs/{job_id:str}/cancel",
    tags=["jobs"],
    summary="Cancel one orchestrator queue job",
    status_code=200,
    exception_handlers=RESHAPED,
    responses={
        **error_responses(400, 404),
        409: ResponseSpec(
            data_container=wire.AlreadyTerminal,
            description="The job has ended (status and code already_terminal)",
        ),
    },
)
async def cancel_job(manager: ManagerDep, job_id: FromPath[str]) -> wire.JobBody:
    """A queued job ends `canceled` at once; a running one has its attempt cancelled and
    ends `canceled`. 409 `{status: "already_terminal", code, job}` for a job that has
    ended; 404 `job_not_found`."""
    try:
        job = await manager.jobs.cancel(job_id)
    except NotFound as exc:
        raise reshaped(exc, "not_found", jobId=job_id) from exc
    except Conflict as exc:
        if exc.code != "already_terminal":
            raise
        ended = await _not_found(manager, job_id)
        raise reshaped(
            exc, "already_terminal", status_code=HTTP_409_CONFLICT, job=wire.job_record(ended)
        ) from exc
    return wire.job_body(job)


@get(
    "/api/orchestrator/jobs",
    tags=["jobs"],
    summary="List orchestrator queue jobs",
    responses=error_responses(400),
)
async def list_jobs(
    manager: ManagerDep,
    job_state: Annotated[
        list[str] | None,
        QueryParameter(
            name="state", description=f"Job states, comma separated ({', '.join(_STATES)})"
        ),
    ] = None,
    job_type: Annotated[
        list[str] | None, QueryParameter(name="type", description="Job types, comma separated")
    ] = None,
    owner: Annotated[
        str | None,
        QueryParameter(min_length=1, description="A project id, or session:<id>"),
    ] = None,
    cursor: Annotated[
        str | None, QueryParameter(min_length=1, description="nextCursor of the previous page")
    ] = None,
    limit: Annotated[
        int, QueryParameter(ge=1, le=MAX_JOB_PAGE, description=f"Page size (1-{MAX_JOB_PAGE})")
    ] = 100,
) -> wire.JobPage:
    """Ours: every job, newest first, a page at a time. `state` and `type` are comma
    separated (repeating the parameter is the same); `owner` is one project id or
    `session:<id>`. 400 names the parameter that is wrong (an unknown state, a limit out
    of range, a cursor that is not a `nextCursor`)."""
    page = await manager.jobs.list(
        states=_states(job_state),
        types=_types(job_type),
        owner=owner,
        cursor=cursor,
        limit=limit,
    )
    return wire.job_page(page.items, page.next_cursor)


ROUTES: list[Any] = [list_jobs, get_job, cancel_job, list_project_jobs]
