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
    main,
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
