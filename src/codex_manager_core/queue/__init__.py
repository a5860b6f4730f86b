"""The durable job queue (issue 9): jobs run in the background by hidden worker sessions.

Being built in steps. So far:
- `model.py`: the job record and its states (the original's fields, plus progress);
- the queue store port (`ports/store/jobs.py`) with its adapters and contract suite;
- `scheduler.py`: which queued jobs start next (sans-IO);
- `definitions.py`: job types (payload and result classes, timeout, stall timeout, lifecycle
  hooks) and their registry;
- `policies.py`: a job type's dedupe, retry and cancel policies, with their pure decisions.
`manager.jobs` is `services/jobs.py`, its runner `services/job_runner.py` (with the
handler's `JobContext` in `job_context.py` and its writes in `job_recorder.py`; they need
the ServiceContext). Not yet: worker sessions, the routes. See docs/queue.md.
"""
