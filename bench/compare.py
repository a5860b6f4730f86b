"""Did a change make a headline figure worse? The benchmarks of a base git ref and of the
working tree, interleaved in one run, as ratios work/base.

This machine is shared and noisy: figures from two separate runs, minutes or days apart,
differ by more than the 5 % we care about. So both trees are measured in the same run,
alternating (base, work, then work, base, ...: the order flips every round so that neither
side always runs first), and each figure is read as the ratio of its medians over the
rounds. The per-round ratios are shown too: their spread is the noise to read a ratio
against.

How each tree runs:
- the base ref is checked out into a temporary `git worktree` (removed afterwards), with a
  `.venv` symlink to ours, since bench/http_api.py starts `<tree>/.venv/bin/codex-manager`;
- each tree runs its OWN bench scripts (the public API changes between the two, so our
  scripts may call methods the base does not have), with the same Python, and
  `PYTHONPATH=<tree>/src` first so that the tree's own packages are imported (checked:
  the file each package is imported from is printed once per tree);
- both trees' `src` are byte-compiled first, as `make run` does, so that neither side pays
  for compiling on every start (PYTHONDONTWRITEBYTECODE is set here).

    python bench/compare.py --base main~3
    python bench/compare.py --base HEAD --only events,sessions --rounds 5
    python bench/compare.py --base v0.1 --args turns="--turns 300 --spawns 3" --json

It is a report, not an assertion: it exits 0 whatever the ratios, and 1 only when a run
failed. See docs/performance.md ("Comparing two trees").
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs

ROOT = Path(__file__).resolve().parent.parent
BAR = 0.05  # a headline figure may not be worse than this (issue 8)
SIDES = ("base", "work")

Extract = Callable[[Mapping[str, Any]], float | None]


@attrs.frozen
class Bench:
    """One bench script and the sizes compare.py runs it with (small: a whole compare of
    three rounds takes about ten minutes on 2 cores)."""

    name: str
    script: str
    sizes: tuple[str, ...]


@attrs.frozen
class Figure:
    """One number read from a bench's --json output."""

    bench: str
    label: str
    extract: Extract
    lower_is_better: bool = True
    headline: bool = False


BENCHES = {
    bench.name: bench
    for bench in (
        Bench("turns", "bench/runtime_turns.py", ("--turns", "100", "--spawns", "3")),
        Bench("events", "bench/event_pipeline.py", ("--events", "50000")),
        Bench("jobs", "bench/jobs.py", ("--jobs", "2000", "--samples", "200")),
        Bench(
            "sessions",
            "bench/sessions.py",
            ("--creates", "40", "--sizes", "10,1000", "--calls", "200"),
        ),
        Bench(
            "http",
            "bench/http_api.py",
            (
                *("--requests", "1000", "--sessions", "200", "--creates", "30"),
                *("--turns", "40", "--turns-after", "0", "--turns-external", "0"),
                *("--skip-fanout", "--skip-cold"),
            ),
        ),
    )
}


def at(*keys: str) -> Extract:
    """The number at a path of keys, or None where the output has no such key."""

    def extract(result: Mapping[str, Any]) -> float | None:
        value: Any = result
        for key in keys:
            if not isinstance(value, Mapping) or key not in value:
                return None
            value = value[key]
        return float(value) if isinstance(value, int | float) else None

    return extract


def session_list(store: str) -> Extract:
    """list_sessions p50 at the largest size measured for `store` (bench/sessions.py)."""

    def extract(result: Mapping[str, Any]) -> float | None:
        rows = [row for row in result.get("list") or () if row.get("store") == store]
        if not rows:
            return None
        return at("list_ms", "p50")(max(rows, key=lambda row: row.get("sessions", 0)))

    return extract


def http_big_list(result: Mapping[str, Any]) -> float | None:
    """GET /api/sessions p50 with the most sessions (the key is `sessions_<n>_ms`)."""
    sizes = [
        int(key.split("_")[1])
        for key in result
        if key.startswith("sessions_") and key.endswith("_ms") and key.split("_")[1].isdigit()
    ]
    return at(f"sessions_{max(sizes)}_ms", "p50")(result) if sizes else None


FIGURES = (
    Figure("turns", "trivial turn, median (ms)", at("turn_ms", "ours", "median"), headline=True),
    Figure("turns", "  turn / direct floor, median ratio", at("ratio_median")),
    Figure("turns", "  client CPU per turn (ms)", at("client_cpu_per_turn_ms", "ours")),
    Figure(
        "events",
        "event pipeline (events/s)",
        at("pipeline", "events_per_s"),
        lower_is_better=False,
        headline=True,
    ),
    Figure("events", "  latency p50 (ms)", at("pipeline", "latency_ms", "p50")),
    Figure("events", "  latency p99 (ms)", at("pipeline", "latency_ms", "p99")),
    Figure(
        "jobs", "queue throughput (jobs/s)", at("jobs_per_s"), lower_is_better=False, headline=True
    ),
    Figure("jobs", "  queue latency p50 (ms)", at("latency_p50_ms")),
    Figure("jobs", "  queue latency p99 (ms)", at("latency_p99_ms")),
    Figure("sessions", "session create p50 (ms)", at("create", "create_ms", "p50"), headline=True),
    Figure(
        "sessions", "  create, ours without thread/start p50 (ms)", at("create", "ours_ms", "p50")
    ),
    Figure("sessions", "session list p50, sqlite (ms)", session_list("sqlite"), headline=True),
    Figure("sessions", "  list p50, memory (ms)", session_list("memory")),
    Figure("http", "HTTP GET /api/health p50 (ms)", at("health_ms", "p50"), headline=True),
    Figure("http", "HTTP turn, median (ms)", at("turn", "ours_ms", "p50"), headline=True),
    Figure("http", "  HTTP turn / floor, median ratio", at("turn", "ratio_median")),
    Figure("http", "  server CPU per turn (ms)", at("turn", "server_cpu_per_turn_ms")),
    Figure("http", "  GET /api (banner) p50 (ms)", at("banner_ms", "p50")),
    Figure("http", "  POST /api/sessions p50 (ms)", at("create_ms", "p50")),
    Figure("http", "  GET /api/sessions, most sessions p50 (ms)", http_big_list),
)


# ------------------------------------------------------------------------ arguments


@attrs.frozen
class Options:
    base: str
    only: tuple[str, ...]
    rounds: int
    sizes: Mapping[str, tuple[str, ...]]
    json: bool
    python: str
    timeout: float


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--base", required=True, help="git ref to compare against (e.g. main~1)")
    parser.add_argument(
        "--only", default=",".join(BENCHES), help=f"comma-separated subset of {', '.join(BENCHES)}"
    )
    parser.add_argument("--rounds", type=int, default=3, help="runs per tree (default 3)")
    parser.add_argument(
        "--args",
        action="append",
        default=[],
        metavar="BENCH=ARGS",
        help="replace a bench's default sizes, e.g. --args turns='--turns 300 --spawns 3'",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--python", default=sys.executable, help="interpreter for both trees")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per bench run")
    args = parser.parse_args(argv)
    only = tuple(name.strip() for name in args.only.split(",") if name.strip())
    unknown = [name for name in only if name not in BENCHES]
    if unknown or not only:
        parser.error(f"--only: unknown benchmark {unknown or only!r}; known: {', '.join(BENCHES)}")
    if args.rounds < 1:
        parser.error("--rounds must be >= 1")
    sizes = {name: bench.sizes for name, bench in BENCHES.items()}
    for item in args.args:
        name, sep, value = item.partition("=")
        if not sep or name not in BENCHES:
            parser.error(f"--args {item!r}: expected BENCH=ARGS with BENCH one of {list(BENCHES)}")
        if "--json" in shlex.split(value):
            parser.error("--args: --json is added by compare.py itself")
        sizes[name] = tuple(shlex.split(value))
    return Options(
        base=args.base,
        only=only,
        rounds=args.rounds,
        sizes=sizes,
        json=args.json,
        python=args.python,
        timeout=args.timeout,
    )


def run_order(round_index: int) -> tuple[str, str]:
    """base, work in even rounds; work, base in odd ones (ABBA)."""
    return SIDES if round_index % 2 == 0 else (SIDES[1], SIDES[0])


# ---------------------------------------------------------------------- the summary


@attrs.frozen
class Row:
    """One figure of both trees, one value per round (None where a round has none)."""

    figure: Figure
    base: tuple[float | None, ...]
    work: tuple[float | None, ...]
    note: str = ""

    @property
    def base_median(self) -> float | None:
        return _median(self.base)

    @property
    def work_median(self) -> float | None:
        return _median(self.work)

    @property
    def round_ratios(self) -> tuple[float, ...]:
        """work / base of each round: two runs next to each other in time."""
        return tuple(
            w / b
            for b, w in zip(self.base, self.work, strict=False)
            if b is not None and w is not None and b != 0
        )

    @property
    def ratio(self) -> float | None:
        """The median of the per-round ratios. Pairing the two runs of a round cancels what
        drifts between rounds (the other work on the machine), and the median leaves out a
        round that one burst of load spoiled."""
        ratios = self.round_ratios
        return statistics.median(ratios) if ratios else None

    @property
    def verdict(self) -> str:
        if self.ratio is None:
            return "n/a"
        verdict = judge(self.ratio, lower_is_better=self.figure.lower_is_better)
        return f"{verdict}, rounds disagree" if self.rounds_disagree else verdict

    @property
    def rounds_disagree(self) -> bool:
        """Some round put work more than the bar above base and another more than the bar
        below: the machine's noise is larger than the bar, so the ratio says little (run
        more rounds, or on a quieter machine)."""
        ratios = self.round_ratios
        return len(ratios) > 1 and min(ratios) < 1 - BAR and max(ratios) > 1 + BAR


def _median(values: Sequence[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


def judge(ratio: float, *, lower_is_better: bool, bar: float = BAR) -> str:
    """'worse' past the bar in the figure's bad direction, 'better' past it in the good one."""
    change = ratio - 1.0 if lower_is_better else 1.0 - ratio
    if change > bar:
        return f"WORSE (>{bar:.0%})"
    if change < -bar:
        return "better"
    return f"ok (within {bar:.0%})"


def summarize(
    results: Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]],
    notes: Mapping[tuple[str, str], str] | None = None,
) -> list[Row]:
    """Rows for every figure of the benchmarks run. `results[bench][side]` is the list of
    that side's --json outputs, one per round (an empty one where the run failed);
    `notes[(bench, side)]` says why a side has none (no such script, no --json)."""
    notes = notes or {}
    rows = []
    for figure in FIGURES:
        if figure.bench not in results:
            continue
        values: dict[str, tuple[float | None, ...]] = {}
        missing: list[str] = []
        for side in SIDES:
            runs = results[figure.bench].get(side, ())
            values[side] = tuple(figure.extract(run) for run in runs)
            if (note := notes.get((figure.bench, side))) is not None:
                missing.append(f"{side}: {note}")
            elif runs and all(value is None for value in values[side]):
                missing.append(f"{side}: no such figure")
        rows.append(Row(figure, values["base"], values["work"], "; ".join(missing)))
    return rows


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return (
        f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}" if value < 1 else f"{value:.2f}"
    )


def render_table(rows: Sequence[Row]) -> str:
    header = ("figure", "better", "base", "work", "work/base", "per round", "verdict")
    # base and work: medians over the rounds; work/base: median of the per-round ratios.
    lines = []
    for row in rows:
        ratios = row.round_ratios
        spread = f"{min(ratios):.3f}-{max(ratios):.3f}" if len(ratios) > 1 else ""
        lines.append(
            (
                row.figure.label,
                "lower" if row.figure.lower_is_better else "higher",
                _fmt(row.base_median),
                _fmt(row.work_median),
                "-" if row.ratio is None else f"{row.ratio:.3f}",
                spread,
                row.verdict + (f"  [{row.note}]" if row.note else ""),
            )
        )
    widths = [max(len(line[i]) for line in (header, *lines)) for i in range(len(header) - 1)]
    out = []
    for line in (header, *lines):
        cells = [line[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(line[1:-1], widths[1:], strict=True)]
        out.append("  ".join([*cells, line[-1]]).rstrip())
    out.insert(1, "-" * len(out[0]))
    worse = [row.figure.label for row in rows if row.figure.headline and "WORSE" in row.verdict]
    unknown = [row.figure.label for row in rows if row.figure.headline and row.ratio is None]
    out.append("")
    out.append(f"headline figures worse by more than {BAR:.0%}: {', '.join(worse) or 'none'}")
    if unknown:
        out.append(f"headline figures without a ratio: {', '.join(unknown)}")
    out.append("(indented rows are secondary figures, read for explanation, not judged;")
    out.append(" 'rounds disagree': the per-round ratios straddle the bar both ways, so noise")
    out.append(" exceeds it: rerun with more --rounds, on a quieter machine)")
    return "\n".join(out)


def rows_json(rows: Sequence[Row]) -> list[dict[str, Any]]:
    """The rows as JSON (`ratio` is the median of `round_ratios`)."""
    return [
        {
            "bench": row.figure.bench,
            "figure": row.figure.label.strip(),
            "headline": row.figure.headline,
            "lower_is_better": row.figure.lower_is_better,
            "base": list(row.base),
            "work": list(row.work),
            "base_median": row.base_median,
            "work_median": row.work_median,
            "ratio": row.ratio,
            "round_ratios": list(row.round_ratios),
            "verdict": row.verdict,
            "rounds_disagree": row.rounds_disagree,
            "note": row.note,
        }
        for row in rows
    ]


# ------------------------------------------------------------------------- the runs


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def git(*args: str) -> str:
    run = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(f"git {shlex.join(args)}: {run.stderr.strip()}")
    return run.stdout.strip()


@contextmanager
def base_tree(ref: str) -> Iterator[Path]:
    """The base ref in a temporary git worktree, removed on the way out."""
    with tempfile.TemporaryDirectory(prefix="cm-compare-") as tmp:
        tree = Path(tmp) / "base"
        git("worktree", "add", "--detach", "--quiet", str(tree), ref)
        venv = tree / ".venv"
        try:
            venv.symlink_to(ROOT / ".venv", target_is_directory=True)
            yield tree
        finally:
            venv.unlink(missing_ok=True)  # the link only: never let anything follow it
            git("worktree", "remove", "--force", str(tree))


def tree_env(tree: Path) -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    return {
        **os.environ,
        "PYTHONPATH": str(tree / "src") + (os.pathsep + path if path else ""),
    }


def check_imports(python: str, tree: Path) -> str:
    """Compile the tree's sources and check its packages are the ones imported."""
    subprocess.run([python, "-m", "compileall", "-q", str(tree / "src")], check=True)
    probe = (
        "import codex_manager_core, codex_manager_http, codex_manager_cli;"
        "print(codex_manager_core.__file__);"
        "print(codex_manager_http.__file__);"
        "print(codex_manager_cli.__file__)"
    )
    run = subprocess.run(
        [python, "-c", probe], env=tree_env(tree), capture_output=True, text=True, check=True
    )
    files = run.stdout.split()
    wrong = [file for file in files if not Path(file).is_relative_to(tree / "src")]
    if wrong:
        raise SystemExit(f"{tree}: imported {wrong} instead of its own src/")
    return files[0]


def side_note(python: str, tree: Path, bench: Bench) -> str | None:
    """Why this tree cannot give the bench's figures, or None when it can."""
    script = tree / bench.script
    if not script.exists():
        return f"no {bench.script}"
    run = subprocess.run(
        [python, str(script), "--help"], env=tree_env(tree), capture_output=True, text=True
    )
    if run.returncode != 0:
        return f"{bench.script} --help failed"
    if "--json" not in run.stdout:
        return f"{bench.script} has no --json"
    return None


def run_bench(options: Options, tree: Path, bench: Bench) -> dict[str, Any]:
    command = [options.python, bench.script, *options.sizes[bench.name], "--json"]
    run = subprocess.run(
        command,
        cwd=tree,
        env=tree_env(tree),
        capture_output=True,
        text=True,
        timeout=options.timeout,
    )
    if run.returncode != 0:
        raise RuntimeError(
            f"{shlex.join(command)} in {tree} exited {run.returncode}:\n{run.stderr[-3000:]}"
        )
    # Should a script print a line before its JSON document, that starts at a "{" line.
    start = 0 if run.stdout.startswith("{") else run.stdout.find("\n{") + 1
    result: dict[str, Any] = json.loads(run.stdout[start:])
    return result


def compare(options: Options, base: Path) -> tuple[dict[str, Any], list[Row], list[str]]:
    trees = {"base": base, "work": ROOT}
    info: dict[str, Any] = {"base": {"ref": options.base, "commit": git("rev-parse", options.base)}}
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    info["work"] = {"ref": "working tree", "commit": git("rev-parse", "HEAD"), "dirty": dirty}
    for side, tree in trees.items():
        info[side]["codex_manager_core"] = check_imports(options.python, tree)
        log(f"{side}: {info[side]['commit'][:12]} imports {info[side]['codex_manager_core']}")
    notes: dict[tuple[str, str], str] = {}
    for name in options.only:
        for side, tree in trees.items():
            if (note := side_note(options.python, tree, BENCHES[name])) is not None:
                notes[(name, side)] = note
    results: dict[str, dict[str, list[dict[str, Any]]]] = {
        name: {side: [] for side in SIDES} for name in options.only
    }
    failures: list[str] = []
    for round_index in range(options.rounds):
        for name in options.only:
            for side in run_order(round_index):
                if (name, side) in notes:
                    continue
                started = time.perf_counter()
                try:
                    results[name][side].append(run_bench(options, trees[side], BENCHES[name]))
                except (RuntimeError, subprocess.TimeoutExpired, ValueError) as error:
                    results[name][side].append({})  # keeps the rounds of both sides paired
                    failures.append(f"round {round_index + 1}, {name}, {side}: {error}")
                    log(failures[-1])
                    continue
                log(
                    f"round {round_index + 1}/{options.rounds} {name:8} {side}: "
                    f"{time.perf_counter() - started:.1f} s"
                )
    return info, summarize(results, notes), failures


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    # Stopped with SIGTERM (e.g. by `timeout`), still remove the temporary worktree.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with base_tree(options.base) as base:
        info, rows, failures = compare(options, base)
    if options.json:
        document = {
            **info,
            "rounds": options.rounds,
            "sizes": {name: list(options.sizes[name]) for name in options.only},
            "bar": BAR,
            "figures": rows_json(rows),
            "failures": failures,
        }
        print(json.dumps(document, indent=2))
    else:
        work = info["work"]
        print(
            f"base {options.base} ({info['base']['commit'][:12]}) vs working tree "
            f"({work['commit'][:12]}{' + uncommitted changes' if work['dirty'] else ''}), "
            f"{options.rounds} rounds (work/base: the median of the per-round ratios)"
        )
        print(render_table(rows))
        for failure in failures:
            print(f"\nFAILED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
