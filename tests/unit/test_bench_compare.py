"""bench/compare.py's pure parts: its arguments, and the table it builds from the figures of
the runs (canned here: no benchmark runs in the test suite)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from bench.compare import (
    BENCHES,
    FIGURES,
    judge,
    parse_args,
    render_table,
    rows_json,
    run_order,
    summarize,
)

SAMPLES = Path(__file__).with_name("bench_samples")


def turns(median: float) -> dict[str, Any]:
    return {
        "turn_ms": {"ours": {"median": median}, "direct": {"median": 40.0}},
        "ratio_median": median / 40.0,
        "client_cpu_per_turn_ms": {"ours": 2.0},
    }


def events(per_s: float) -> dict[str, Any]:
    return {"pipeline": {"events_per_s": per_s, "latency_ms": {"p50": 7.0, "p99": 17.0}}}


def test_defaults_run_every_bench_three_rounds_with_small_sizes() -> None:
    options = parse_args(["--base", "main~1"])
    assert options.base == "main~1"
    assert options.only == ("turns", "events", "jobs", "sessions", "http")
    assert options.rounds == 3
    assert options.sizes["events"] == ("--events", "50000")
    assert not options.json


def test_only_rounds_and_sizes_pass_through() -> None:
    options = parse_args(
        [
            "--base",
            "HEAD",
            "--only",
            "events, http",
            "--rounds",
            "5",
            "--args",
            "events=--events 2000",
        ]
    )
    assert options.only == ("events", "http")
    assert options.rounds == 5
    assert options.sizes["events"] == ("--events", "2000")
    assert options.sizes["http"] == BENCHES["http"].sizes


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--only", "turns,nope"], "unknown benchmark ['nope']"),
        (["--rounds", "0"], "--rounds must be >= 1"),
        (["--args", "nope=--x 1"], "expected BENCH=ARGS"),
        (["--args", "events"], "expected BENCH=ARGS"),
        (["--args", "events=--json"], "--json is added by compare.py itself"),
    ],
)
def test_bad_arguments_say_what_was_wrong(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse_args(["--base", "HEAD", *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_base_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args([])
    assert "--base" in capsys.readouterr().err


def test_rounds_alternate_which_tree_runs_first() -> None:
    assert [run_order(i) for i in range(4)] == [
        ("base", "work"),
        ("work", "base"),
        ("base", "work"),
        ("work", "base"),
    ]


@pytest.mark.parametrize(
    ("ratio", "lower_is_better", "expected"),
    [
        (1.04, True, "ok (within 5%)"),
        (1.06, True, "WORSE (>5%)"),
        (0.90, True, "better"),
        (0.96, False, "ok (within 5%)"),
        (0.94, False, "WORSE (>5%)"),
        (1.10, False, "better"),
    ],
)
def test_verdict_follows_each_figures_direction(
    ratio: float, lower_is_better: bool, expected: str
) -> None:
    assert judge(ratio, lower_is_better=lower_is_better) == expected


def test_ratio_is_the_median_of_the_per_round_ratios() -> None:
    rows = summarize(
        {
            "turns": {
                "base": [turns(40.0), turns(50.0), turns(44.0)],
                "work": [turns(44.0), turns(46.0), turns(48.0)],
            }
        }
    )
    row = next(row for row in rows if row.figure.label.startswith("trivial turn"))
    assert row.base_median == 44.0
    assert row.work_median == 46.0
    assert row.round_ratios == pytest.approx((1.1, 0.92, 48.0 / 44.0))
    assert row.ratio == pytest.approx(48.0 / 44.0)
    assert row.rounds_disagree
    assert row.verdict == "WORSE (>5%), rounds disagree"


def test_a_failed_run_leaves_the_other_rounds_paired() -> None:
    rows = summarize(
        {
            "turns": {
                "base": [turns(40.0), {}, turns(50.0)],
                "work": [turns(42.0), turns(99.0), turns(50.0)],
            }
        }
    )
    row = next(row for row in rows if row.figure.label.startswith("trivial turn"))
    assert row.round_ratios == pytest.approx((1.05, 1.0))
    assert row.ratio == pytest.approx(1.025)
    assert row.base_median == 45.0
    assert row.work_median == 50.0
    assert {row.figure.bench for row in rows} == {"turns"}


def test_table_names_a_worse_headline_figure_and_the_direction_of_each() -> None:
    rows = summarize(
        {
            "events": {
                "base": [events(24_000.0), events(24_200.0)],
                "work": [events(21_000.0), events(21_500.0)],
            }
        }
    )
    assert not any(row.rounds_disagree for row in rows)
    table = render_table(rows)
    header, rule, first, *_ = table.splitlines()
    assert header.split()[:5] == ["figure", "better", "base", "work", "work/base"]
    assert set(rule) == {"-"}
    assert first.startswith("event pipeline (events/s)")
    assert "higher" in first
    assert "24,100" in first
    assert "21,250" in first
    assert f"{(21_000 / 24_000 + 21_500 / 24_200) / 2:.3f}" in first
    assert "WORSE (>5%)" in first
    assert "headline figures worse by more than 5%: event pipeline (events/s)" in table


def test_a_base_without_json_or_without_a_figure_is_said_in_the_table() -> None:
    rows = summarize(
        {
            "turns": {"base": [], "work": [turns(45.0)]},
            "events": {"base": [{"pipeline": {}}], "work": [events(24_000.0)]},
        },
        notes={("turns", "base"): "bench/runtime_turns.py has no --json"},
    )
    table = render_table(rows)
    turn_line = next(line for line in table.splitlines() if line.startswith("trivial turn"))
    assert "n/a" in turn_line
    assert "base: bench/runtime_turns.py has no --json" in turn_line
    events_line = next(line for line in table.splitlines() if line.startswith("event pipeline"))
    assert "n/a  [base: no such figure]" in events_line
    assert "headline figures without a ratio: trivial turn" in table
    assert "headline figures worse by more than 5%: none" in table


def test_every_headline_figure_of_the_issue_is_read_from_real_bench_output() -> None:
    """The shapes are those of the scripts' --json (a small run of each, saved in
    bench_samples/): every figure compare.py reports is found in them."""
    results = {
        name: {
            side: [json.loads((SAMPLES / f"{name}.json").read_text())] for side in ("base", "work")
        }
        for name in BENCHES
    }
    rows = summarize(results)
    assert len(rows) == len(FIGURES)
    missing = [row.figure.label for row in rows if row.ratio != 1.0]
    assert not missing, f"not found in the bench output: {missing}"
    headlines = {row.figure.label for row in rows if row.figure.headline}
    assert headlines == {
        "trivial turn, median (ms)",
        "event pipeline (events/s)",
        "queue throughput (jobs/s)",
        "session create p50 (ms)",
        "session list p50, sqlite (ms)",
        "HTTP GET /api/health p50 (ms)",
        "HTTP turn, median (ms)",
    }
    document = rows_json(rows)
    assert json.loads(json.dumps(document)) == document
