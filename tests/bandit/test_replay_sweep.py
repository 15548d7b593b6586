"""The acceptance sweep on tiny synthetic folders (the replay test's format)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from bandit.config import BanditConfig
from bandit.replay import run_replay
from bandit.replay_data import load_replay_set
from bandit.replay_sweep import (
    Probe,
    bandit_config,
    check,
    format_paired,
    main,
    paired,
    parse_seeds,
    parse_wtps,
    probe_set,
    sweep,
)
from tests.bandit.test_replay import MODELS, write_folder


def _result(wtp: float, router: float, router_q: float, best: float, best_q: float) -> Any:
    return {
        "wtp": wtp,
        "router": {"utility": router, "final_quarter_utility": router_q},
        "baselines": {
            "best_fixed": {"utility": best, "final_quarter_utility": best_q},
            "random": {"utility": 0.1},
        },
    }


def test_check_uses_final_quarter_at_finite_w_and_97_percent_at_inf() -> None:
    assert check(_result(0.01, 0.5, 0.61, 0.6, 0.6)) == (True, pytest.approx(0.01))
    assert check(_result(0.01, 0.5, 0.59, 0.6, 0.6)) == (False, pytest.approx(-0.01))
    assert check(_result(0.01, 0.05, 0.7, 0.6, 0.6))[0] is False  # not above random
    assert check(_result(math.inf, 0.98, 0.5, 1.0, 1.0)) == (True, pytest.approx(0.01))
    assert check(_result(math.inf, 0.96, 0.99, 1.0, 1.0)) == (False, pytest.approx(-0.01))


def test_parsers() -> None:
    assert parse_seeds("1-3,7") == [1, 2, 3, 7]
    assert parse_wtps("inf,0.01") == [math.inf, 0.01]


def test_sweep_reuses_the_replay(tmp_path: Path) -> None:
    folder = str(write_folder(tmp_path / "set", 120, 1))
    results = sweep([folder], [math.inf, 0.01], [1, 2])
    assert [(r["wtp"], r["seed"]) for r in results] == [(math.inf, 1), (math.inf, 2)] + [
        (0.01, 1),
        (0.01, 2),
    ]
    # Identical to a plain replay run of the same (W, seed).
    alone = run_replay(folder, wtp=0.01, seed=2)
    assert results[3]["router"] == alone["router"]
    assert results[3]["check"] == dict(zip(("passed", "margin"), check(alone), strict=True))


def test_probes_subsample_and_sub_catalog(tmp_path: Path) -> None:
    data = load_replay_set(write_folder(tmp_path / "set", 100, 2))
    half = probe_set(data, Probe(subsample=0.5), seed=3)
    assert len(half.items) == 50 and half.items == probe_set(data, Probe(subsample=0.5), 3).items
    two = probe_set(data, Probe(models=2), seed=3)
    assert len(two.models) == 2
    assert all(set(o) == {m.id for m in two.models} for o in two.outcomes.values())


def test_cli_prints_rows_and_totals_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = str(write_folder(tmp_path / "set", 90, 3))
    out = tmp_path / "sweep.json"
    argv = [folder, "--seeds", "1-2", "--wtp", "inf,0.001", "--models", "3", "--json", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert printed.count("\nset ") == 4 and "4 runs," in printed and "summed margin" in printed
    payload = json.loads(out.read_text())
    assert payload["summary"]["runs"] == 4
    margins = [r["check"]["margin"] for r in payload["runs"]]
    assert payload["summary"]["summed_margin"] == pytest.approx(sum(margins))
    assert all(len(r["baselines"]) and r["items"] == 90 for r in payload["runs"])
    assert {m for r in payload["runs"] for m in [r["baselines"]["best_fixed"]["model"]]} <= set(
        MODELS
    )


def test_cli_rejects_bad_probe(tmp_path: Path) -> None:
    assert main([str(tmp_path), "--subsample", "0"]) == 2
    assert main([str(tmp_path / "missing")]) == 2


def test_two_processes_give_the_same_runs(tmp_path: Path) -> None:
    folder = str(write_folder(tmp_path / "set", 60, 4))
    one = sweep([folder], [0.01], [1, 2, 3])
    two = sweep([folder], [0.01], [1, 2, 3], jobs=2)
    assert [r["router"] for r in one] == [r["router"] for r in two]


def test_set_overrides_a_config_field(tmp_path: Path) -> None:
    assert bandit_config([("eliminate_z", "3"), ("context_levels", "2")]) == BanditConfig(
        eliminate_z=3.0, context_levels=2
    )
    folder = str(write_folder(tmp_path / "set", 60, 5))
    assert main([folder, "--seeds", "1", "--wtp", "0.01", "--set", "eliminate_z=3"]) == 0
    assert main([folder, "--set", "no_such_field=1"]) == 2


def _run(set_name: str, wtp: float, seed: int, margin: float, items: int = 100) -> Any:
    return {
        "set": set_name,
        "wtp": wtp,
        "seed": seed,
        "items": items,
        "check": {"passed": margin >= 0, "margin": margin},
    }


def test_paired_differences_with_standard_errors() -> None:
    base = [_run("a", 0.01, s, m) for s, m in ((1, 0.0), (2, -0.01), (3, 0.02))]
    base += [_run("b", math.inf, 1, 0.01)]
    new = [_run("a", 0.01, s, m) for s, m in ((1, 0.01), (2, 0.01), (3, 0.05))]
    new += [_run("b", math.inf, 1, -0.01), _run("b", math.inf, 2, 0.5)]  # seed 2: unpaired
    new += [_run("a", 0.01, 1, 0.9, items=50)]  # another size: unpaired
    result = paired(new, base)
    assert result[-1]["set"] == "all"  # the overall line comes last
    groups = {(g["set"], g["wtp"]): g for g in result}
    a = groups[("a", 0.01)]
    # differences 0.01, 0.02, 0.03: mean 0.02, sd 0.01, se 0.01 / sqrt(3)
    assert a["runs"] == 3 and a["mean"] == pytest.approx(0.02)
    assert a["se"] == pytest.approx(0.01 / math.sqrt(3))
    assert (a["baseline_misses"], a["misses"]) == (1, 0)
    b = groups[("b", math.inf)]
    assert b["runs"] == 1 and b["mean"] == pytest.approx(-0.02) and math.isnan(b["se"])
    assert (b["baseline_misses"], b["misses"]) == (0, 1)
    overall = groups[("all", None)]
    assert overall["runs"] == 4 and overall["mean"] == pytest.approx((0.06 - 0.02) / 4)
    assert "+0.0200 +- 0.0058" in format_paired(paired(new, base))


def test_cli_compares_with_a_baseline_sweep(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = str(write_folder(tmp_path / "set", 80, 6))
    first, second = tmp_path / "base.json", tmp_path / "new.json"
    argv = [folder, "--seeds", "1-3", "--wtp", "0.01"]
    assert main([*argv, "--json", str(first)]) == 0
    capsys.readouterr()
    # The same settings against themselves: every difference is exactly 0.
    assert main([*argv, "--baseline", str(first), "--json", str(second)]) == 0
    assert "+0.0000 +- 0.0000" in capsys.readouterr().out
    same = json.loads(second.read_text())["paired"]
    assert [g["runs"] for g in same] == [3, 3] and all(g["mean"] == 0 for g in same)
    # A different setting still pairs the same three runs.
    argv_other = [*argv, "--set", "posterior_scale=3", "--baseline", str(first)]
    assert main([*argv_other, "--json", str(second)]) == 0
    assert "paired with baseline" in capsys.readouterr().out
    assert [g["runs"] for g in json.loads(second.read_text())["paired"]] == [3, 3]
    assert main([*argv, "--baseline", str(tmp_path / "missing.json")]) == 2
