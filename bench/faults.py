"""Fault script: does codex-manager keep what it acknowledged when things break?

Each row injects one kind of fault into a real `codex-manager serve --demo` (real codex
binary, offline scripted model, loopback only, its own data dir and HOME under a temporary
folder) and counts, per attempt, whether the server recovered and how many acknowledged
things were lost. Lost must be 0 in every row.

- `app-server kill -9 mid-turn`: while a turn streams, SIGKILL the runtime. The turn must
  be settled (re-read, `turn_reconciled`), every event a client saw stays in the ledger, the
  runtime comes back and the same session takes a new turn. Each runtime runs 10 s before
  it is killed (quicker deaths are a crash loop by policy), so this row takes ~4 minutes.
- `serve kill -9 mid-write`: concurrent writers create projects and sessions, rename,
  assign and set settings; SIGKILL the server while requests are in flight; start it again
  on the same data dir and check every acknowledged project, session (title, project) and
  setting after every restart, that every session's thread loads (`POST .../resume`, once
  per session) and that some take a turn.
- `WebSocket resume x N`: during streaming turns, a client that is cut off after a random
  number of frames (also between the frames of one event) and resumes with its cursor must
  receive exactly the frames an uninterrupted subscriber received.
- `full disk`: the data dir runs out of space while a turn streams (see that row's notes).
- `SIGTERM mid-turn`: SIGTERM while a turn streams; the server must exit 0; after a restart
  the turn is settled, the events a client saw are in the ledger, the session takes a turn.

    python bench/faults.py [--rounds 20] [--resumes 200] [--only NAME ...] [--json]

Everything is bounded: each wait has a timeout, and a round that times out counts as not
recovered (and says why), never as a hang.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import attrs
import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stream_resume import collect_frames, compare_frames, resume_repeatedly, turn_end

ROOT = Path(__file__).resolve().parent.parent
CLI = Path(sys.executable).parent / "codex-manager"
START_TIMEOUT = 60.0
WAIT = 30.0
#: RestartPolicy().healthy_after, plus a margin.
HEALTHY_AFTER = 10.5


# ---------------------------------------------------------------------- results


@attrs.define
class Row:
    fault: str
    tried: int = 0
    recovered: int = 0
    lost: int = 0
    notes: list[str] = attrs.Factory(list)
    seconds: float = 0.0

    def note(self, text: str) -> None:
        if len(self.notes) < 8:
            self.notes.append(text)


class RoundFailed(Exception):
    """This attempt did not recover; the message says why."""


# ---------------------------------------------------------------------- the server


def server_env(root: Path, chunk_delay: float) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "CODEX_API_KEY")}
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    env.update(HOME=str(home), CODEX_MANAGER_DEMO_CHUNK_DELAY=str(chunk_delay))
    return env


@attrs.define
class Serve:
    process: anyio.abc.Process
    url: str
    lines: list[str]

    @property
    def ws(self) -> str:
        return "ws" + self.url[len("http") :]


async def _read_stderr(
    process: anyio.abc.Process, lines: list[str], url: list[str], listening: anyio.Event
) -> None:
    assert process.stderr is not None
    buffer = b""
    try:
        async for chunk in process.stderr:
            buffer += chunk
            *complete, buffer = buffer.split(b"\n")
            for raw in complete:
                line = raw.decode(errors="replace")
                lines.append(line)
                if not url and "listening on http://" in line:
                    url.append(line.split("listening on ", 1)[1].split()[0])
                    listening.set()
    finally:
        listening.set()


@asynccontextmanager
async def serve(
    data_dir: Path, env: dict[str, str], prefix: Sequence[str] = ()
) -> AsyncIterator[Serve]:
    """`codex-manager serve --demo` until the block ends (SIGKILL then, if still running).
    `prefix`: a command that runs the server (it must exec it, so the pid is the server's)."""
    process = await anyio.open_process(
        [*prefix, str(CLI), "serve", "--demo", "--port", "0", "--data-dir", str(data_dir)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    lines: list[str] = []
    url: list[str] = []
    listening = anyio.Event()
    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_read_stderr, process, lines, url, listening)
            with anyio.move_on_after(START_TIMEOUT):
                await listening.wait()
            if not url:
                raise RoundFailed(f"the server did not start: {' | '.join(lines[-5:])}")
            yield Serve(process, url[0], lines)
            tasks.cancel_scope.cancel()
    finally:
        if process.returncode is None:
            process.kill()
            with anyio.move_on_after(WAIT):
                await process.wait()


async def wait_ready(http: httpx.AsyncClient, *, not_pid: int | None = None) -> int:
    """Wait (event driven, on the stream) until the runtime is ready; its pid."""
    # Live events only (no replay to leave unread: a client that stops reading cannot get
    # the server's closing frame, and its close then waits for its own timeout).
    async with connect(_ws(http) + "/api/stream?types=runtime_state_changed") as ws:
        await _frame(ws, lambda f: f.get("type") == "ready", "the stream's ready frame")
        while True:  # subscribed before looking: no state change falls in between
            health = (await http.get("/api/health")).json()["codex"]
            if health["state"] == "ready" and health["pid"] not in (None, not_pid):
                return int(health["pid"])
            await _frame(ws, lambda f: f.get("type") == "runtime_state_changed", "runtime")


def _ws(http: httpx.AsyncClient) -> str:
    return "ws" + str(http.base_url).rstrip("/")[len("http") :]


async def _frame(
    ws: ClientConnection,
    predicate: Callable[[dict[str, Any]], bool],
    what: str,
    seen: list[dict[str, Any]] | None = None,
    timeout: float = WAIT,
) -> dict[str, Any]:
    with anyio.move_on_after(timeout):
        while True:
            frame = json.loads(await ws.recv())
            if seen is not None:
                seen.append(frame)
            if predicate(frame):
                return frame
    raise RoundFailed(f"no {what} within {timeout:g} s")


def _turn_end(turn_id: str) -> Callable[[dict[str, Any]], bool]:
    def matches(frame: dict[str, Any]) -> bool:
        payload = frame.get("payload") or {}
        if frame.get("type") == "turn_reconciled":
            return payload.get("turnId") == turn_id
        if frame.get("type") == "app_server.turn.completed":
            return ((payload.get("params") or {}).get("turn") or {}).get("id") == turn_id
        return False

    return matches


def _delta_of(turn_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda f: (
        f.get("type") == "app_server.item.agent_message.delta"
        and (f.get("payload") or {}).get("params", {}).get("turnId") == turn_id
    )


async def send(http: httpx.AsyncClient, sid: str, text: str) -> str:
    answer = await http.post(f"/api/sessions/{sid}/messages", json={"text": text})
    if answer.status_code != 202:
        raise RoundFailed(f"message to {sid}: {answer.status_code} {answer.text[:200]}")
    return str(answer.json()["turnId"])


async def take_turn(http: httpx.AsyncClient, sid: str, text: str = "still there?") -> None:
    """Send a message and wait for the turn to complete."""
    async with connect(_ws(http) + f"/api/stream?threadId={sid}") as ws:
        turn_id = await send(http, sid, text)
        end = await _frame(ws, _turn_end(turn_id), f"the end of turn {turn_id}")
        status = ((end["payload"].get("params") or {}).get("turn") or {}).get("status")
        if status != "completed":
            raise RoundFailed(f"turn {turn_id} ended {status!r}")


async def new_session(http: httpx.AsyncClient) -> str:
    answer = await http.post("/api/sessions", json={})
    if answer.status_code != 200:
        raise RoundFailed(f"create session: {answer.status_code} {answer.text[:200]}")
    return str(answer.json()["session"]["sessionId"])


async def stored_events(http: httpx.AsyncClient, since: int) -> dict[int, str]:
    """seq -> type of the stored events after `since`."""
    found: dict[int, str] = {}
    while True:
        page = (await http.get("/api/events", params={"since": since, "limit": 1000})).json()
        events = page["events"] if isinstance(page, dict) else page
        for event in events:
            found[int(event["seq"])] = str(event["type"])
        if len(events) < 1000:
            return found
        since = int(events[-1]["seq"])


def missing_events(seen: Iterable[dict[str, Any]], stored: dict[int, str]) -> list[str]:
    """Event frames a client received that the ledger does not hold (by seq and type)."""
    missing = []
    for frame in seen:
        seq = frame.get("seq")
        if isinstance(seq, int) and frame.get("type") not in ("notification", "ready"):
            if frame["type"] in _ALIAS_TYPES:
                continue  # an alias of an event frame with the same seq
            if stored.get(seq) != frame["type"]:
                missing.append(f"{seq}:{frame['type']}")
    return missing


_ALIAS_TYPES = frozenset(
    {
        "turn_plan_updated",
        "turn_diff_updated",
        "thread_token_usage_updated",
        "app_list_updated",
        "mcp_oauth_completed",
        "account_updated",
        "account_login_completed",
        "account_rate_limits_updated",
        "lagged",
        "subscribed",
        "error",
        "pong",
    }
)


#: What ends one try (as not recovered) without ending the script.
_ROUND_ERRORS = (RoundFailed, httpx.HTTPError, OSError, ConnectionClosed, TimeoutError)


def _leaf(exc: BaseException) -> BaseException:
    """The first real error inside exception groups (task groups wrap what they raise)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


async def attempt(row: Row, body: Callable[[], Awaitable[int]]) -> None:
    """One try of a row: `body` returns how many acknowledged things were lost."""
    row.tried += 1
    try:
        lost = await body()
    except Exception as exc:
        cause = _leaf(exc)
        if not isinstance(cause, _ROUND_ERRORS):
            raise
        row.note(f"try {row.tried}: {cause!r}")
        return
    row.lost += lost
    if lost == 0:
        row.recovered += 1


# ---------------------------------------------------------------------- row: app-server kill


async def appserver_kill(root: Path, rounds: int) -> Row:
    row = Row("app-server kill -9 mid-turn")
    async with (
        serve(root / "data", server_env(root, 0.1)) as server,
        httpx.AsyncClient(base_url=server.url, timeout=WAIT) as http,
    ):
        sid = await new_session(http)

        async def one() -> int:
            pid = await wait_ready(http)
            # Each runtime runs `healthy_after` before it is killed: kills faster than that
            # are a crash loop by policy (5 in 60 s -> `failed`), which the supervisor's
            # own tests cover; this row is about what a kill mid-turn loses.
            await anyio.sleep(HEALTHY_AFTER)
            seen: list[dict[str, Any]] = []
            async with connect(server.ws + f"/api/stream?threadId={sid}") as ws:
                ready = await _frame(ws, lambda f: f.get("type") == "ready", "ready")
                turn_id = await send(http, sid, "a long story please")
                await _frame(ws, _delta_of(turn_id), "the first delta", seen)
                os.kill(pid, signal.SIGKILL)
                await _frame(ws, _turn_end(turn_id), "the turn to be settled", seen)
            await wait_ready(http, not_pid=pid)
            await take_turn(http, sid)
            stored = await stored_events(http, int(ready["seq"]))
            missing = missing_events(seen, stored)
            if missing:
                row.note(f"try {row.tried}: not in the ledger: {missing[:5]}")
            return len(missing)

        for _ in range(rounds):
            await attempt(row, one)
    return row


# ---------------------------------------------------------------------- row: serve kill


@attrs.define
class Acked:
    """What the server acknowledged (and what was in flight when it died: it may or may
    not have been applied)."""

    projects: dict[str, str] = attrs.Factory(dict)
    titles: dict[str, set[str]] = attrs.Factory(dict)
    project_of: dict[str, set[str | None]] = attrs.Factory(dict)
    settings: dict[str, set[str | None]] = attrs.Factory(dict)
    loaded: set[str] = attrs.Factory(set)
    """Sessions whose thread was shown to load after a restart (each is checked once: a
    thread load is the slow part, and what every later round rechecks is the state)."""


async def _writer(http: httpx.AsyncClient, acked: Acked, name: str, rng: random.Random) -> None:
    """Writes until the server dies under it (its last request is then in flight)."""
    try:
        await _write_forever(http, acked, name, rng)
    except (httpx.HTTPError, OSError, RoundFailed):
        return


async def _write_forever(
    http: httpx.AsyncClient, acked: Acked, name: str, rng: random.Random
) -> None:
    own_project: str | None = None
    own: list[str] = []
    n = 0
    while True:
        n += 1
        choice = rng.random()
        if own_project is None or choice < 0.1:
            answer = await http.post("/api/projects", json={"name": f"{name}-p{n}"})
            if answer.status_code == 200:
                own_project = answer.json()["project"]["projectId"]
                acked.projects[own_project] = f"{name}-p{n}"
        elif not own or choice < 0.4:
            sid = await new_session(http)
            own.append(sid)
            acked.titles[sid] = {"New chat"}
            acked.project_of[sid] = {None}
            acked.settings[sid] = {None}
        else:
            sid = rng.choice(own)
            if choice < 0.6:
                title = f"{name} {n}"
                possible = {*acked.titles[sid], title}
                acked.titles[sid] = possible
                answer = await http.post(f"/api/sessions/{sid}/rename", json={"title": title})
                if answer.status_code == 200:
                    acked.titles[sid] = {title}
            elif choice < 0.8:
                acked.project_of[sid] = {*acked.project_of[sid], own_project}
                answer = await http.post(
                    f"/api/sessions/{sid}/project", json={"projectId": own_project}
                )
                if answer.status_code == 200:
                    acked.project_of[sid] = {own_project}
            else:
                value = f"v{n}"
                acked.settings[sid] = {*acked.settings[sid], value}
                answer = await http.post(
                    f"/api/sessions/{sid}/settings", json={"key": "k", "value": value}
                )
                if answer.status_code == 200:
                    acked.settings[sid] = {value}


async def _check_acked(http: httpx.AsyncClient, acked: Acked, row: Row) -> int:
    lost = 0
    projects = {
        p["projectId"]: p["name"] for p in (await http.get("/api/projects")).json()["projects"]
    }
    for project_id, name in acked.projects.items():
        if projects.get(project_id) != name:
            lost += 1
            row.note(f"project {project_id} ({name}) is {projects.get(project_id)!r}")
    for sid, titles in acked.titles.items():
        got = await http.get(f"/api/sessions/{sid}")
        if got.status_code != 200:
            lost += 1
            row.note(f"session {sid}: GET {got.status_code} {got.text[:120]}")
            continue
        session = got.json()["session"]
        setting = (await http.get(f"/api/sessions/{sid}/settings", params={"key": "k"})).json()
        value = setting.get("value") if setting.get("found") else None
        resumed = None
        if sid not in acked.loaded:
            resumed = await http.post(f"/api/sessions/{sid}/resume", json={})
        problems = []
        if session["title"] not in titles:
            problems.append(f"title {session['title']!r} not in {titles}")
        if session.get("projectId") not in acked.project_of[sid]:
            problems.append(f"project {session.get('projectId')!r} not in {acked.project_of[sid]}")
        if value not in acked.settings[sid]:
            problems.append(f"setting {value!r} not in {acked.settings[sid]}")
        if resumed is not None and resumed.status_code != 200:
            problems.append(f"resume {resumed.status_code} {resumed.text[:300]}")
        elif resumed is not None:
            acked.loaded.add(sid)
        if problems:
            lost += 1
            row.note(f"session {sid}: {'; '.join(problems)}")
    return lost


async def serve_kill(root: Path, rounds: int, seed: int) -> Row:
    row = Row("serve kill -9 mid-write")
    rng = random.Random(seed)
    data_dir = root / "data"
    env = server_env(root, 0.0)
    acked = Acked()
    for round_number in range(rounds):
        row.tried += 1
        try:
            async with (
                serve(data_dir, env) as server,
                httpx.AsyncClient(base_url=server.url, timeout=WAIT) as http,
            ):
                # Everything acknowledged before the previous kill is still there.
                lost = await _check_acked(http, acked, row)
                for sid in rng.sample(sorted(acked.titles), min(3, len(acked.titles))):
                    try:
                        await take_turn(http, sid)
                    except RoundFailed as exc:
                        lost += 1
                        row.note(f"session {sid} takes no turn: {exc}")
                row.lost += lost
                if lost == 0 and round_number > 0:
                    row.recovered += 1
                async with anyio.create_task_group() as writers:
                    for w in range(4):
                        writers.start_soon(
                            _writer,
                            http,
                            acked,
                            f"r{round_number}w{w}",
                            random.Random(rng.random()),
                        )
                    await anyio.sleep(rng.uniform(0.3, 1.2))  # the fault's random moment
                    server.process.send_signal(signal.SIGKILL)
                    with anyio.move_on_after(WAIT):
                        await server.process.wait()
                    writers.cancel_scope.cancel()
        except Exception as exc:
            cause = _leaf(exc)
            if not isinstance(cause, _ROUND_ERRORS):
                raise
            row.note(f"round {round_number}: {cause!r}")
    # The last kill is checked by one more start.
    async with (
        serve(data_dir, env) as server,
        httpx.AsyncClient(base_url=server.url, timeout=WAIT) as http,
    ):
        lost = await _check_acked(http, acked, row)
        row.lost += lost
        if lost == 0:
            row.recovered += 1
    row.note(f"{len(acked.projects)} projects, {len(acked.titles)} sessions acknowledged in all")
    return row


# ---------------------------------------------------------------------- row: WebSocket resume


async def _both_subscribers(
    url: str, sid: str, start: int, turn_id: str, rng: random.Random
) -> tuple[list[dict[str, Any]], Any]:
    """An uninterrupted subscriber and a resuming one, side by side, until the turn ends."""
    results: dict[str, Any] = {}
    until = turn_end(turn_id)

    async def steady() -> None:
        results["steady"] = await collect_frames(url, thread_id=sid, since=start, until=until)

    async def flaky() -> None:
        results["flaky"] = await resume_repeatedly(
            url, thread_id=sid, since=start, until=until, cut=lambda: rng.randint(1, 3)
        )

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(steady)
        tasks.start_soon(flaky)
    return results["steady"], results["flaky"]


async def ws_resumes(root: Path, resumes: int, seed: int) -> Row:
    """Turns streamed to an uninterrupted subscriber and to one cut off after 1-3 frames
    again and again (so also between the frames of one event), until `resumes` resumes."""
    row = Row(f"WebSocket resume x{resumes}")
    rng = random.Random(seed)
    async with (
        serve(root / "data", server_env(root, 0.05)) as server,
        httpx.AsyncClient(base_url=server.url, timeout=WAIT) as http,
    ):
        await wait_ready(http)
        sid = await new_session(http)
        inside = 0
        while row.tried < resumes:
            async with connect(server.ws + f"/api/stream?threadId={sid}") as ws:
                start = int((await _frame(ws, lambda f: f.get("type") == "ready", "ready"))["seq"])
            turn_id = await send(http, sid, f"stream number {row.tried}")
            steady, run = await _both_subscribers(server.url, sid, start, turn_id, rng)
            diff = compare_frames(steady, run.frames)
            done = run.connections - 1
            row.tried += done
            inside += run.cuts_inside_an_event
            row.lost += len(diff.lost) + len(diff.different)
            if diff.ok:
                row.recovered += done
            else:
                row.note(
                    f"turn {turn_id}: lost {diff.lost[:3]}, duplicated {diff.duplicated[:3]}, "
                    f"unexpected {diff.unexpected[:3]}, in order {diff.in_order}"
                )
        row.note(f"{inside} of the {row.tried} cuts fell between the frames of one event")
    return row


# ---------------------------------------------------------------------- row: full disk

#: Size of the file system the data dir lives on in the full-disk row.
DISK_SIZE = "48m"
#: Writes tried on the full disk before one must be refused (the WAL's reusable room).
MAX_WRITES_UNTIL_FULL = 500


def private_tmpfs(data_dir: Path) -> list[str] | None:
    """A command prefix that runs the server in a private mount namespace with `data_dir`
    on a small tmpfs of its own (None: not possible here, it needs root and `unshare`)."""
    if os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("nsenter")):
        return None
    probe = subprocess.run(["unshare", "-m", "true"], check=False, capture_output=True)
    if probe.returncode != 0:
        return None
    data_dir.mkdir(parents=True, exist_ok=True)
    mount = f"mount -t tmpfs -o size={DISK_SIZE} codex-manager-faults {data_dir}"
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", f'{mount} && exec "$@"', "sh"]


async def _in_namespace(pid: int, *command: str) -> subprocess.CompletedProcess[bytes]:
    """Run `command` in the mount namespace of process `pid` (where the tmpfs is)."""
    return await anyio.run_process(["nsenter", "-t", str(pid), "-m", *command], check=False)


async def fill_disk(pid: int, data_dir: Path) -> None:
    filler = data_dir / "filler"
    # dd stops with "No space left on device": exactly what we want, so its status is moot.
    await _in_namespace(pid, "dd", "if=/dev/zero", f"of={filler}", "bs=64k")
    df = await _in_namespace(pid, "df", "--output=avail", str(data_dir))
    if df.stdout.split()[-1] not in (b"0",):
        raise RoundFailed(f"the disk did not fill up: {df.stdout.decode().split()}")


async def free_disk(pid: int, data_dir: Path) -> None:
    freed = await _in_namespace(pid, "rm", "-f", str(data_dir / "filler"))
    if freed.returncode != 0:
        raise RoundFailed(f"could not free the disk: {freed.stderr.decode()[:200]}")


async def full_disk(root: Path, rounds: int) -> Row:
    """While a turn streams, the data dir's file system fills up. Writes must fail with 507
    naming the data dir, health must say the store is failing, events must be held, and
    once space is back every event must be in the ledger (or counted by a marker), the turn
    settled, the WAL bounded and the server usable."""
    row = Row("full disk")
    data_dir = root / "data"
    prefix = private_tmpfs(data_dir)
    if prefix is None:
        row.note("not run: needs root and `unshare -m` for a private tmpfs (see docs)")
        return row
    env = server_env(root, 0.1)
    held: list[int] = []

    async def one() -> int:
        lost = 0
        async with (
            serve(data_dir, env, prefix) as server,
            httpx.AsyncClient(base_url=server.url, timeout=WAIT) as http,
        ):
            pid = server.process.pid
            await wait_ready(http)
            sid = await new_session(http)
            seen: list[dict[str, Any]] = []
            async with connect(server.ws + f"/api/stream?threadId={sid}") as ws:
                ready = await _frame(ws, lambda f: f.get("type") == "ready", "ready")
                turn_id = await send(http, sid, "a long story please")
                await _frame(ws, _delta_of(turn_id), "the first delta", seen)
                await fill_disk(pid, data_dir)
                # SQLite may still have room in its WAL (frames a checkpoint made reusable):
                # writes are accepted until it needs a new page. Those are acknowledged and
                # kept; the first one refused must be a 507 naming the data dir.
                for attempt in range(MAX_WRITES_UNTIL_FULL):
                    name = f"p{row.tried}-{attempt}-" + "x" * 100
                    refused = await http.post("/api/projects", json={"name": name})
                    if refused.status_code != 200:
                        break
                body = refused.json()
                if refused.status_code != 507 or str(data_dir) not in body.get("message", ""):
                    raise RoundFailed(f"a write on a full disk got {refused.status_code} {body}")
                health = (await http.get("/api/health")).json()
                if health.get("status") != "degraded" or health["storage"]["writable"]:
                    raise RoundFailed(f"health does not show the failing store: {health}")
                # The turn streams on: its events are held, not dropped (watched through
                # health, which has no push form; bounded).
                with anyio.move_on_after(10):
                    while not health["storage"].get("heldEvents"):
                        await anyio.sleep(0.05)
                        health = (await http.get("/api/health")).json()
                held.append(int(health["storage"].get("heldEvents") or 0))
                await free_disk(pid, data_dir)
                # The held events are written (and published) once space is back; the turn
                # ends, one way or another.
                await _frame(ws, _turn_end(turn_id), "the turn's end after the disk freed", seen)
            # Space is back and the held events are written: writes are accepted again.
            created = await http.post("/api/projects", json={"name": f"q{row.tried}"})
            if created.status_code != 200:
                raise RoundFailed(f"a write after the disk freed got {created.status_code}")
            stored = await stored_events(http, int(ready["seq"]))
            missing = missing_events(seen, stored)
            markers = [seq for seq, kind in stored.items() if kind == "ledger_events_lost"]
            lost += len(missing) + len(markers)
            if missing or markers:
                row.note(f"try {row.tried}: missing {missing[:5]}, loss markers at {markers}")
            await take_turn(http, sid)
            wal = data_dir / "manager.sqlite3-wal"
            size = (await _in_namespace(pid, "stat", "-c", "%s", str(wal))).stdout.strip()
            if size and int(size) > 4 * 1024 * 1024 + 65536:
                raise RoundFailed(f"the WAL is {int(size)} bytes after recovery")
        return lost

    for _ in range(rounds):
        await attempt(row, one)
    row.note(f"events held in memory when health was read, per try: {held}")
    return row


# ---------------------------------------------------------------------- row: SIGTERM


async def sigterm_mid_turn(root: Path, rounds: int) -> Row:
    row = Row("SIGTERM mid-turn")
    data_dir = root / "data"
    env = server_env(root, 0.1)
    pending: dict[str, Any] | None = None  # the previous round's turn, checked after restart

    async def one() -> int:
        nonlocal pending
        lost = 0
        async with (
            serve(data_dir, env) as server,
            httpx.AsyncClient(base_url=server.url, timeout=WAIT) as http,
        ):
            await wait_ready(http)
            if pending is not None:
                lost += await _check_after_stop(http, pending, row)
                await take_turn(http, pending["sid"])
            sid = pending["sid"] if pending is not None else await new_session(http)
            seen: list[dict[str, Any]] = []
            async with connect(server.ws + f"/api/stream?threadId={sid}") as ws:
                ready = await _frame(ws, lambda f: f.get("type") == "ready", "ready")
                turn_id = await send(http, sid, "a long story please")
                await _frame(ws, _delta_of(turn_id), "the first delta", seen)
                server.process.send_signal(signal.SIGTERM)
                with anyio.move_on_after(WAIT), contextlib.suppress(ConnectionClosed):
                    async for message in ws:  # what the server still sends before closing
                        seen.append(json.loads(message))
            with anyio.move_on_after(WAIT):
                code = await server.process.wait()
            if code != 0:
                raise RoundFailed(f"serve exited {code} on SIGTERM: {server.lines[-3:]}")
            pending = {"sid": sid, "turn": turn_id, "since": int(ready["seq"]), "seen": seen}
        return lost

    for _ in range(rounds):
        await attempt(row, one)
    if pending is not None:  # the last round's turn, after one more start
        async with (
            serve(data_dir, env) as server,
            httpx.AsyncClient(base_url=server.url, timeout=WAIT) as http,
        ):
            await wait_ready(http)
            row.lost += await _check_after_stop(http, pending, row)
    return row


async def _check_after_stop(http: httpx.AsyncClient, pending: dict[str, Any], row: Row) -> int:
    """After a restart: the interrupted turn is settled and what a client saw is stored."""
    sid, turn_id = pending["sid"], pending["turn"]
    async with connect(_ws(http) + f"/api/stream?threadId={sid}&since={pending['since']}") as ws:
        await _frame(ws, _turn_end(turn_id), f"turn {turn_id} to be settled after the restart")
    stored = await stored_events(http, pending["since"])
    missing = missing_events(pending["seen"], stored)
    if missing:
        row.note(f"not in the ledger after the restart: {missing[:5]}")
    return len(missing)


# ---------------------------------------------------------------------- main


ROWS: dict[str, Callable[[Path, argparse.Namespace], Awaitable[Row]]] = {
    "appserver-kill": lambda root, args: appserver_kill(root, args.rounds),
    "serve-kill": lambda root, args: serve_kill(root, args.rounds, args.seed),
    "ws-resume": lambda root, args: ws_resumes(root, args.resumes, args.seed),
    "full-disk": lambda root, args: full_disk(root, args.disk_rounds),
    "sigterm": lambda root, args: sigterm_mid_turn(root, args.rounds),
}


def table(rows: list[Row]) -> str:
    lines = [f"{'fault':<32} {'tried':>6} {'recovered':>10} {'lost':>5} {'s':>6}"]
    for row in rows:
        lines.append(
            f"{row.fault:<32} {row.tried:>6} {row.recovered:>10} {row.lost:>5} {row.seconds:>6.1f}"
        )
        lines.extend(f"    - {note}" for note in row.notes)
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> int:
    rows: list[Row] = []
    for name in args.only or list(ROWS):
        # ignore_cleanup_errors: a runtime that just exited may still be removing its files.
        with tempfile.TemporaryDirectory(
            prefix=f"faults-{name}-", ignore_cleanup_errors=True
        ) as tmp:
            started = time.monotonic()
            row = await ROWS[name](Path(tmp), args)
            row.seconds = time.monotonic() - started
            rows.append(row)
            print("\n".join(table([row]).splitlines()[1:]), file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps([attrs.asdict(row) for row in rows], indent=2))
    else:
        print(table(rows))
    return 0 if all(row.lost == 0 and row.recovered == row.tried for row in rows) else 1


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20, help="tries per row (default 20)")
    parser.add_argument("--resumes", type=int, default=200, help="WebSocket resumes (200)")
    parser.add_argument("--disk-rounds", type=int, default=3, help="full-disk tries (3)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--only", nargs="*", choices=sorted(ROWS), help="run only these rows")
    parser.add_argument("--json", action="store_true")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(anyio.run(main, parse()))
