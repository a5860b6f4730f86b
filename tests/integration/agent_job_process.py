"""The victim of tests/integration/test_agent_jobs_crash_real.py: a Manager in its own
process that enqueues one `agent_instruction` job and waits, until it is killed.

    python agent_job_process.py ROOT MODEL_BASE_URL

ROOT is the test's root (the config of `manager_fixtures.manager_config`: data dir
ROOT/data, its own CODEX_HOME and HOME, offline, the model at MODEL_BASE_URL). It prints,
each on its own line and flushed:

    runtime <pid of its codex app-server>
    job <job id>

and then waits for ever (the test SIGKILLs it mid-job). Its logs go to stderr.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import anyio

from codex_manager_core import Manager
from codex_manager_core.queue.model import session_owner
from tests.integration.manager_fixtures import READY_TIMEOUT, manager_config

INSTRUCTION = "Summarise the project in one line"


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def main(root: Path, base_url: str) -> None:
    config = manager_config(root, base_url)
    async with Manager.open(root / "data", config=config) as manager:
        await manager.runtime.wait_ready(READY_TIMEOUT)
        say(f"runtime {manager.runtime.health.pid}")
        source = await manager.sessions.create()
        enqueued = await manager.jobs.enqueue(
            "agent_instruction",
            {
                "agent": "default",
                "jobKind": "test",
                "instructionText": INSTRUCTION,
                "sourceSessionId": source.session_id,
                "expectResponse": "assistant_text",
            },
            owner=session_owner(source.session_id),
        )
        say(f"job {enqueued.job.job_id}")
        await anyio.sleep_forever()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    anyio.run(main, Path(sys.argv[1]), sys.argv[2], backend="asyncio")
