"""`evolve_job`, the job record's own `attrs.evolve` (generated once, on every job's path):
the same record as `attrs.evolve`, the same refusal of a field that does not exist."""

from __future__ import annotations

from datetime import UTC, datetime

import attrs
import pytest

from codex_manager_core.queue.model import Job, JobPriority, JobState, RunningContext, evolve_job

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def a_job() -> Job:
    return Job(
        job_id="job_1",
        type="noop",
        version=2,
        owner="p",
        priority=JobPriority.BACKGROUND,
        state=JobState.QUEUED,
        payload={"n": 1},
        created_at=T0,
        source_session_id="s",
        dedupe_key="k",
        steps={"a": 1},
    )


def test_evolve_job_builds_what_attrs_evolve_builds() -> None:
    job = a_job()
    changes = {
        "state": JobState.RUNNING,
        "attempts": 1,
        "started_at": T0,
        "running_context": RunningContext("t", "u"),
    }
    assert evolve_job(job, **changes) == attrs.evolve(job, **changes)
    assert evolve_job(job) == job
    assert evolve_job(job, error=None, result={"x": 1}).result == {"x": 1}


def test_evolve_job_refuses_a_field_that_does_not_exist() -> None:
    with pytest.raises(TypeError, match="no_such_field"):
        evolve_job(a_job(), no_such_field=1)
