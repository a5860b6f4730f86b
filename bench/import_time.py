"""How long does importing our packages take? The median of fresh interpreters per module.

Every start of `codex-manager`, every embedded script and every test worker pays the import
of the package it uses, and a layer that should be cheap (the sans-IO `rpc`) should not pay
for the whole core. For each module this starts N fresh interpreters that time
`import <module>` alone (interpreter start-up excluded), alternating modules so that a
noisy moment on the machine spreads over all of them, and reports the median and the
minimum, how many modules the import loaded, and whether it loaded apsw or subprocess.

    python bench/import_time.py                   # this tree's src/, 15 runs each
    python bench/import_time.py --src /tmp/base/src --src src --runs 30 --json

With several --src (say a base commit's checkout and ours), their samples are interleaved
in the same run, so that both see the same machine.

The sources are byte-compiled first (as `make run` does): with PYTHONDONTWRITEBYTECODE set,
an import would otherwise compile every module from source every time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MODULES = (
    "codex_manager_core",
    "codex_manager_core.rpc",
    "codex_manager_http.app",
    "codex_manager_cli.main",
)
WATCHED = ("apsw", "subprocess")

# Runs in the fresh interpreter: the modules already there at start-up are not counted.
PROBE = """
import sys, time
before = set(sys.modules)
started = time.perf_counter()
import {module}
elapsed = time.perf_counter() - started
print(elapsed, len(set(sys.modules) - before), *(name in sys.modules for name in {watched!r}))
"""


def sample(python: str, src: Path, module: str) -> tuple[float, int, dict[str, bool]]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    run = subprocess.run(
        [python, "-c", PROBE.format(module=module, watched=WATCHED)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    elapsed, loaded, *watched = run.stdout.split()
    return (
        float(elapsed),
        int(loaded),
        dict(zip(WATCHED, (w == "True" for w in watched), strict=True)),
    )


def imported_from(python: str, src: Path) -> str:
    """Where codex_manager_core comes from with `src` first (it must be `src` itself)."""
    check = subprocess.run(
        [python, "-c", "import codex_manager_core; print(codex_manager_core.__file__)"],
        env={**os.environ, "PYTHONPATH": str(src)},
        capture_output=True,
        text=True,
        check=True,
    )
    path = check.stdout.strip()
    if not Path(path).is_relative_to(src):
        raise SystemExit(f"codex_manager_core came from {path}, not from {src}")
    return path


def measure(python: str, sources: list[Path], runs: int) -> list[dict[str, Any]]:
    keys = [(src, module) for src in sources for module in MODULES]
    times: dict[tuple[Path, str], list[float]] = {key: [] for key in keys}
    loaded: dict[tuple[Path, str], int] = {}
    watched: dict[tuple[Path, str], dict[str, bool]] = {}
    for _ in range(runs):
        for key in keys:
            seconds, loaded[key], watched[key] = sample(python, *key)
            times[key].append(seconds * 1000)
    return [
        {
            "src": str(src),
            "imported_from": imported_from(python, src),
            "runs": runs,
            "modules": {
                module: {
                    "median_ms": statistics.median(times[src, module]),
                    "min_ms": min(times[src, module]),
                    "modules_loaded": loaded[src, module],
                    **{f"loads_{name}": watched[src, module][name] for name in WATCHED},
                }
                for module in MODULES
            },
        }
        for src in sources
    ]


def print_table(result: dict[str, Any]) -> None:
    print(f"import time, {result['runs']} fresh interpreters per module, from {result['src']}")
    header = (
        f"{'module':26}{'median ms':>11}{'min ms':>9}{'modules':>9}{'apsw':>6}{'subprocess':>11}"
    )
    print(header)
    print("-" * len(header))
    for module, row in result["modules"].items():
        print(
            f"{module:26}{row['median_ms']:11.1f}{row['min_ms']:9.1f}{row['modules_loaded']:9}"
            f"{'yes' if row['loads_apsw'] else 'no':>6}{'yes' if row['loads_subprocess'] else 'no':>11}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--src",
        type=Path,
        action="append",
        help="a src/ to import from (repeatable; default: this tree's)",
    )
    parser.add_argument("--runs", type=int, default=15, help="fresh interpreters per module")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--no-compile", action="store_true", help="skip byte-compiling --src")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be >= 1")
    sources = [src.resolve() for src in args.src or [ROOT / "src"]]
    for src in sources:
        imported_from(args.python, src)
        if not args.no_compile:
            subprocess.run([args.python, "-m", "compileall", "-q", str(src)], check=True)
    results = measure(args.python, sources, args.runs)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for result in results:
            print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
