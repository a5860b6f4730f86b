"""Configuration and environment for running the real `codex` offline against a ScriptedModel.

`write_offline_config` writes the `config.toml` that shared/runtime-notes.md found to make
codex talk to nothing but a local model server: a custom provider with the Responses wire
API, no retries (a broken model fails a turn at once instead of retrying forever), no
websockets, no analytics, and the features that reach out to the network at start-up
(plugins, apps) switched off. `offline_env` builds the matching child environment.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

__all__ = ["offline_env", "toml_string", "write_offline_config"]

_TOML_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}

#: Variables removed from codex's environment, so a test can never use a real account.
_SECRET_VARIABLES = ("OPENAI_API_KEY", "CODEX_API_KEY")


def toml_string(value: str) -> str:
    """`value` as a TOML basic string, quotes included: backslash, double quote and control
    characters are escaped; everything else (all of Unicode) is kept as is."""
    out = []
    for char in value:
        escaped = _TOML_ESCAPES.get(char)
        if escaped is None and (ord(char) < 0x20 or ord(char) == 0x7F):
            escaped = f"\\u{ord(char):04X}"
        out.append(escaped if escaped is not None else char)
    return '"' + "".join(out) + '"'


def write_offline_config(
    codex_home: Path,
    *,
    base_url: str,
    model: str = "mock-model",
    approval_policy: str = "never",
    sandbox_mode: str = "read-only",
    extra_toml: str = "",
) -> Path:
    """Write `codex_home/config.toml` for an offline codex that uses the model at `base_url`
    (a `ScriptedModel.base_url`), creating `codex_home` if needed; returns the file's path.

    Keep `model` an unknown slug: with a known one codex changes the request (no function
    tools are sent). `approval_policy` "untrusted" is rejected by codex in config.toml; set it
    per thread instead. `extra_toml` is inserted verbatim after the top-level keys and before
    the tables this function writes, so it may hold top-level keys and whole new tables
    (`[mcp_servers.x]`, ...), but must not repeat `[model_providers.scripted]`, `[analytics]`
    or `[features]`. The result is checked with `tomllib`; ValueError if it is not valid TOML.
    """
    extra = extra_toml.strip("\n")
    text = "\n".join(
        [
            f"model = {toml_string(model)}",
            'model_provider = "scripted"',
            f"approval_policy = {toml_string(approval_policy)}",
            f"sandbox_mode = {toml_string(sandbox_mode)}",
            "check_for_update_on_startup = false",
            *([f"\n{extra}"] if extra else []),
            "",
            "[model_providers.scripted]",
            'name = "Scripted local model"',
            f"base_url = {toml_string(base_url)}",
            'wire_api = "responses"',
            "request_max_retries = 0",
            "stream_max_retries = 0",
            "supports_websockets = false",
            "",
            "[analytics]",
            "enabled = false",
            "",
            "[features]",
            "plugins = false",
            "remote_plugin = false",
            "apps = false",
            "shell_snapshot = false",
            "unbounded_connection_retries = false",
            "",
        ]
    )
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(
            f"the offline config.toml would not be valid TOML ({exc}); check extra_toml, which "
            "must not repeat the tables write_offline_config writes:\n" + text
        ) from None
    codex_home.mkdir(parents=True, exist_ok=True)
    path = codex_home / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def offline_env(codex_home: Path, base_env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a codex child process that uses `codex_home` and no real account.

    Starts from `base_env` (default: this process's environment), sets `CODEX_HOME` (made
    absolute; codex must get it on every invocation, or it writes under `~/.codex`), puts the
    folder of helper tools bundled with the `openai-codex-cli-bin` package (ripgrep) first on
    `PATH` when that package is installed, and removes `OPENAI_API_KEY` and `CODEX_API_KEY`.
    """
    env = dict(os.environ if base_env is None else base_env)
    for name in _SECRET_VARIABLES:
        env.pop(name, None)
    env["CODEX_HOME"] = str(codex_home.absolute())
    path_dir = _bundled_path_dir()
    if path_dir is not None:
        current = env.get("PATH", "")
        env["PATH"] = f"{path_dir}{os.pathsep}{current}" if current else str(path_dir)
    return env


def _bundled_path_dir() -> Path | None:
    try:
        import codex_cli_bin
    except ImportError:
        return None
    try:
        path_dir = codex_cli_bin.bundled_path_dir()
    except OSError:  # installed but broken (FileNotFoundError): run without the helpers
        return None
    return Path(path_dir) if path_dir is not None else None
