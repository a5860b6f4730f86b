"""The ports own their vocabulary and load no adapter: importing `codex_manager_core.ports`
must not load apsw, the SQLite or memory store, or the stdio runtime.

The check runs in a fresh interpreter. It imports the ports through a bare
`codex_manager_core` package object (its `__init__` not run), so it measures what the
ports themselves pull in, whatever the package facade imports eagerly.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import codex_manager_core

PACKAGE_DIR = str(Path(codex_manager_core.__file__).parent)

PROBE = f"""
import json, sys, types
package = types.ModuleType("codex_manager_core")
package.__path__ = [{PACKAGE_DIR!r}]
sys.modules["codex_manager_core"] = package
import codex_manager_core.ports
print(json.dumps(sorted(sys.modules)))
"""

FORBIDDEN = (
    "apsw",
    "subprocess",
    "codex_manager_core.store.sqlite",
    "codex_manager_core.store.memory",
    "codex_manager_core.runtime",
)


def test_importing_the_ports_loads_no_adapter() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout)
    offending = [
        name for name in loaded if any(name == f or name.startswith(f"{f}.") for f in FORBIDDEN)
    ]
    assert offending == [], f"importing codex_manager_core.ports loaded {offending}"
    assert "codex_manager_core.ports.store.port" in loaded
