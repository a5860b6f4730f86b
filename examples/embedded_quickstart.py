"""Embedded quickstart: drive codex from Python with `codex_manager_core`.

    python examples/embedded_quickstart.py --demo                  # offline, scripted model
    python examples/embedded_quickstart.py --demo --backend trio   # the same, on trio
    python examples/embedded_quickstart.py                         # your real codex login
    python examples/embedded_quickstart.py --timeout 60            # give up on the turn sooner

It opens a Manager, creates a session, sends a message, streams the assistant's reply as it
arrives, approves the command the model asks to run (from an event handler), and prints the
final reply. Everything lives in a temporary folder that is removed on exit.

See docs/embedded.md for the whole API.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
import tempfile
from pathlib import Path

import anyio

from codex_manager_core import Event, Lagged, Manager, ManagerConfig, TurnFailed
from codex_manager_core.testing import (
    RecordedRequest,
    Reply,
    ScriptedModel,
    Step,
    exec_command,
    offline_env,
    write_offline_config,
)

PROMPT = "Run `echo hello from codex-manager` in the shell, then tell me what it printed."

REAL_MODE_NOTE = """\
Real mode: this talks to OpenAI with your codex account.
 - It needs a codex login: ~/.codex/auth.json (written by `codex login`), which the manager
   copies once into its own CODEX_HOME, or OPENAI_API_KEY in the environment.
 - It uses codex's default model and the network; your ~/.codex/config.toml is not read.
 - The session is read-only (sandboxed) and only `echo` commands are approved.
Run with --demo for an offline run that needs none of this.
"""


# --------------------------------------------------------------------- the demo "model"


def demo_script(request: RecordedRequest) -> Step:
    """What the scripted model answers to each request codex sends it.

    First it asks codex to run `echo` with escalated permissions: under the session's
    `on-request` approval policy codex then asks us for approval. Once the command ran,
    codex sends its output back, and the model replies with streamed text (8 chunks).
    """
    output = request.output_for("call_echo")  # what codex sent back for that call, if any
    if output is None:
        return exec_command(
            "echo hello from codex-manager", justification="Say hello.", call_id="call_echo"
        )
    printed = output.rstrip().splitlines()[-1]  # codex's report ends with the command's output
    return Reply(f"The command printed: {printed}", chunks=8, delay=0.05)


# --------------------------------------------------------------------- the manager part


def is_harmless(command: str) -> bool:
    """Approve `echo` of plain words only, bare or wrapped as `<shell> -lc 'echo ...'`."""
    try:
        argv = shlex.split(command)
    except ValueError:
        return False
    if len(argv) == 3 and argv[1] in ("-c", "-lc"):
        argv = shlex.split(argv[2])
    return bool(argv) and argv[0] == "echo" and all(re.fullmatch(r"[\w.,!-]+", a) for a in argv)


async def run(
    data_dir: Path, config: ManagerConfig, *, log_in_with_api_key: bool, turn_timeout: float
) -> int:
    # Manager.open starts `codex app-server` and stops it (and everything it spawned) on exit.
    # data_dir keeps the state durable (SQLite); use store=MemoryStore() for none at all.
    async with Manager.open(data_dir, config=config) as manager:
        await manager.runtime.wait_ready(timeout=60)
        if log_in_with_api_key and (await manager.runtime.read_account())["account"] is None:
            key = os.environ.get("OPENAI_API_KEY")
            if not key:
                print("codex is not logged in: run `codex login` or set OPENAI_API_KEY.")
                return 1
            await manager.runtime.login_start({"type": "apiKey", "apiKey": key})

        # A handler for every `approval` event. Handlers run in their own task, so answering
        # here never blocks the stream below. `on()` matches type *prefixes*, and
        # "approval" is also a prefix of "approval_resolved": check the exact type.
        @manager.events.on("approval")
        async def approve(event: Event) -> None:
            if event.type != "approval":
                return
            command = str(event.payload["details"].get("command", ""))
            decision = "accept" if is_harmless(command) else "decline"
            print(f"[approval] {event.payload['summary']} -> {decision}")
            await manager.approvals.decide(event.payload["approvalId"], decision, actor="example")

        # A session is a codex thread. "on-request": codex asks before leaving the sandbox.
        session = await manager.sessions.create(title="Quickstart", approval_policy="on-request")
        print(f"session {session.session_id}")

        # turns.send returns at once; the turn runs in the runtime.
        turn = await manager.turns.send(session.session_id, PROMPT)
        print(f"> {PROMPT}")

        # Stream the turn's events. `since=turn.since_seq` replays what happened between
        # turns.send and this subscribe, so nothing is missed.
        with anyio.move_on_after(turn_timeout) as waited:
            async with manager.events.subscribe(
                thread_ids=[session.session_id], since=turn.since_seq
            ) as events:
                async for event in events:
                    if isinstance(event, Lagged):  # fell far behind; the result is below
                        break
                    params = event.payload.get("params") or {}
                    if event.type == "app_server.item.agent_message.delta":
                        print(params["delta"], end="", flush=True)
                    elif event.type == "app_server.item.completed":
                        if params["item"]["type"] == "agentMessage":
                            print()  # end of one assistant message
                    elif event.type == "app_server.error":
                        # The runtime's trouble with the model: retries ("Reconnecting...
                        # 2/5"), then, if it gives up, the final error (the turn fails).
                        error = params.get("error") or {}
                        details = error.get("additionalDetails")
                        print(
                            f"[runtime] {error.get('message')}"
                            + (f" ({details})" if details else "")
                        )
                    elif event.type in ("app_server.turn.completed", "turn_reconciled"):
                        break
        if waited.cancelled_caught:
            print(f"no answer within {turn_timeout:g} s: interrupting the turn")
            await manager.turns.interrupt(session.session_id, turn.turn_id)

        # The turn has ended (or is ending), so this returns at once (or very soon) with
        # its status and final text, or raises TurnFailed with the runtime's message.
        try:
            result = await manager.turns.wait(session.session_id, turn.turn_id, timeout=60)
        except TurnFailed as failed:
            print(f"the turn failed: {failed.runtime_message}")
            print("check your codex login (`codex login`) and network, or run with --demo")
            return 1
        print(f"turn {result.status}")
        if result.final_text is None:
            print("no reply" + (f": {result.error}" if result.error else ""))
            return 1
        print(f"Final reply: {result.final_text}")
        return 0


async def main(demo: bool, turn_timeout: float) -> int:
    with tempfile.TemporaryDirectory(prefix="codex-manager-quickstart-") as tmp:
        root = Path(tmp)
        workdir = root / "work"  # the sessions' working directory
        workdir.mkdir()
        if not demo:
            print(REAL_MODE_NOTE)
            # The defaults: CODEX_HOME under data_dir, ~/.codex/auth.json copied into it.
            config = ManagerConfig(default_cwd=workdir)
            return await run(
                root / "data", config, log_in_with_api_key=True, turn_timeout=turn_timeout
            )

        # Demo mode: a local scripted model, and a codex that can reach nothing else.
        async with ScriptedModel(demo_script) as model:
            codex_home = root / "codex-home"
            write_offline_config(codex_home, base_url=model.base_url)
            env = offline_env(codex_home)  # CODEX_HOME set, OPENAI_API_KEY removed
            env["HOME"] = str(root)  # codex never sees your ~/.codex
            config = ManagerConfig(
                codex_home=codex_home,
                runtime_env=env,
                import_user_auth=False,  # do not copy ~/.codex/auth.json
                default_cwd=workdir,
            )
            return await run(
                root / "data", config, log_in_with_api_key=False, turn_timeout=turn_timeout
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--demo", action="store_true", help="use an offline scripted model")
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds to wait for the turn (300)"
    )
    args = parser.parse_args()
    sys.exit(anyio.run(main, args.demo, args.timeout, backend=args.backend))
