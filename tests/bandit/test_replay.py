"""The replay benchmark on a tiny synthetic folder written by the test."""

from __future__ import annotations

import csv
import json
import math
import random
from pathlib import Path

import pytest

from bandit.replay import main, run_replay
from bandit.replay_data import load_replay_set
from bandit.replay_report import final_quarter_by_type

PROMPTS = {
    "code": "Write a Python function that reverses a linked list. def f(x): return x",
    "math": "Solve for x: 3x + 7 = 22. Show the arithmetic step by step.",
    "translation": "Translate into French: the weather is nice today.",
}
# Each kind of prompt has its own best model; the cheap model is mediocre everywhere.
BEST = {"code": "coder", "math": "mathematician", "translation": "linguist"}
MODELS = [*BEST.values(), "cheap"]


def write_folder(root: Path, items: int, seed: int) -> Path:
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    with (root / "models.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["model", "input_usd_per_mtok", "output_usd_per_mtok"])
        for model in MODELS:
            writer.writerow([model, "0.1" if model == "cheap" else "1", ""])
    with (
        (root / "items.csv").open("w", newline="") as items_file,
        (root / "outcomes.csv").open("w", newline="") as outcomes_file,
    ):
        items_writer, outcomes_writer = csv.writer(items_file), csv.writer(outcomes_file)
        items_writer.writerow(["item_id", "prompt", "task"])
        outcomes_writer.writerow(["item_id", "model", "score", "cost_usd"])
        for i in range(items):
            kind = list(PROMPTS)[i % len(PROMPTS)]
            items_writer.writerow([f"i{i}", f"{PROMPTS[kind]} #{i}", kind])
            for model in MODELS:
                p = 0.9 if model == BEST[kind] else (0.5 if model == "cheap" else 0.2)
                score = 1.0 if rng.random() < p else 0.0
                cost = 0.00001 if model == "cheap" else 0.0001
                outcomes_writer.writerow([f"i{i}", model, score, cost])
    return root


def test_loader_reads_blank_prices_as_unknown(tmp_path: Path) -> None:
    data = load_replay_set(write_folder(tmp_path / "set", 9, 0))
    assert len(data.items) == 9 and {m.id for m in data.models} == set(MODELS)
    coder = next(m for m in data.models if m.id == "coder")
    assert coder.input_usd_per_mtok == 1.0 and math.isnan(coder.output_usd_per_mtok)


def test_router_learns_and_beats_random(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "set", 600, 1)
    result = run_replay(str(folder), wtp=math.inf, seed=1)
    router, base = result["router"], result["baselines"]
    assert result["items"] == 600 and result["wtp"] == math.inf
    # Random averages ~0.35; the best fixed model ~0.43; per-kind routing reaches ~0.9.
    assert router["utility"] > base["random"]["utility"] + 0.3
    assert router["final_quarter_utility"] > base["best_fixed"]["final_quarter_utility"]
    assert router["utility"] <= base["oracle"]["utility"]


def test_cli_writes_json_and_plot_with_warm_start_delay_and_accounts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train = write_folder(tmp_path / "train", 150, 2)
    test = write_folder(tmp_path / "test", 90, 3)
    out, png = tmp_path / "r.json", tmp_path / "r.png"
    argv = [str(test), "--warm-start", str(train), "--wtp", "0.01", "--seed", "3"]
    argv += ["--delay", "5", "--accounts", "3", "--json", str(out), "--plot", str(png)]
    assert main(argv) == 0
    result = json.loads(out.read_text())
    assert result["items"] == 90 and result["warm_start"] == "train"
    for key in ("utility", "score", "cost_usd", "final_quarter_utility"):
        assert isinstance(result["router"][key], float)
    assert set(result["baselines"]) >= {"best_fixed", "random", "oracle"}
    assert result["baselines"]["best_fixed"]["model"] in MODELS
    assert png.stat().st_size > 1000
    printed = capsys.readouterr()
    assert "best fixed" in printed.out and "router" in printed.out
    assert "test [" in printed.err  # the progress bar


def test_cli_reports_missing_folder(tmp_path: Path) -> None:
    assert main([str(tmp_path / "nope"), "--no-progress"]) == 2


def test_final_quarter_by_type_splits_the_margin_by_hand() -> None:
    # Eight items: the final quarter is the last two, one "code" and one "math".
    types = ["math"] * 6 + ["code", "math"]
    utilities = [0.0] * 6 + [0.5, 0.9]
    chosen = ["a"] * 6 + ["b", "a"]
    best = [0.0] * 6 + [0.7, 0.6]
    split = final_quarter_by_type(types, utilities, chosen, best)
    assert list(split) == ["code", "math"]
    assert split["code"] == {
        "requests": 1,
        "picks": {"b": 1},
        "router_utility": 0.5,
        "best_fixed_utility": 0.7,
        "margin_share": pytest.approx(-0.1),
    }
    assert split["math"]["margin_share"] == pytest.approx(0.15)
    assert "best_model" not in split["math"]
    # Full information: on the "math" quarter item "b" is better (0.95 against 0.9),
    # but "a" is better over the whole "math" stream, so "a" is the type's best.
    per_model = {"a": [0.5] * 6 + [0.1, 0.9], "b": [0.0] * 6 + [0.8, 0.95]}
    split = final_quarter_by_type(types, utilities, chosen, best, per_model)
    assert split["math"]["best_model"] == "a"
    assert split["math"]["best_model_utility"] == pytest.approx(0.9)
    assert split["math"]["best_model_gain"] == pytest.approx(0.0)
    assert split["code"]["best_model"] == "b"
    assert split["code"]["best_model_gain"] == pytest.approx((0.8 - 0.5) / 2)
    with pytest.raises(ValueError, match="equal lengths"):
        final_quarter_by_type(types, utilities, chosen, best, {"a": [0.0]})
    with pytest.raises(ValueError, match="equal lengths"):
        final_quarter_by_type(types, utilities, chosen[:-1], best)


def test_by_type_shares_add_up_to_the_final_quarter_margin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_folder(tmp_path / "set", 300, 4)
    out = tmp_path / "r.json"
    assert (
        main([str(folder), "--wtp", "0.01", "--no-progress", "--by-type", "--json", str(out)]) == 0
    )
    result = json.loads(out.read_text())
    split = result["final_quarter_by_type"]
    margin = (
        result["router"]["final_quarter_utility"]
        - result["baselines"]["best_fixed"]["final_quarter_utility"]
    )
    assert sum(row["margin_share"] for row in split.values()) == pytest.approx(margin)
    quarter = 300 - 3 * 300 // 4
    assert sum(row["requests"] for row in split.values()) == quarter
    assert sum(sum(row["picks"].values()) for row in split.values()) == quarter
    assert set(split) <= set(PROMPTS)
    for row in split.values():
        assert set(row["picks"]) <= set(MODELS)
        assert row["best_model"] in MODELS
    printed = capsys.readouterr().out
    assert "final quarter by query type" in printed
    assert any(line.startswith(name) for line in printed.splitlines() for name in split)
