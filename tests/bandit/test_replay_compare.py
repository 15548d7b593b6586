"""The --cb_explore_adf comparison on the replay test's synthetic folder."""

from __future__ import annotations

import math

import pytest

from bandit.replay import run_replay
from bandit.replay_compare import main, run_cb_explore
from tests.bandit.test_replay import write_folder


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(write_folder(tmp_path_factory.mktemp("compare") / "set", 600, 1))


def test_plain_policy_replays_the_routers_stream_and_learns(folder: str) -> None:
    plain = run_cb_explore(folder, wtp=math.inf, seed=3)
    ours = run_replay(folder, wtp=math.inf, seed=3)
    # Equal terms: the same shuffled stream, so the same hindsight baseline and quarter.
    assert plain["best_fixed"] == ours["baselines"]["best_fixed"]
    # Each kind of prompt has its own best model (0.9 against 0.5 and 0.2): a policy
    # that learned the context ends far above random (0.45) and the best fixed model
    # (uniform exploration, "--epsilon 1.0", ends at 0.45 against its 0.52).
    random_utility = ours["baselines"]["random"]["utility"]
    assert random_utility == pytest.approx(0.45, abs=0.03)
    assert plain["final_quarter_utility"] > plain["best_fixed"]["final_quarter_utility"] + 0.15
    assert plain["final_quarter_utility"] > plain["utility"] - 0.02


def test_same_seed_same_run_and_the_order_matters(folder: str) -> None:
    first = run_cb_explore(folder, wtp=0.01, seed=5)
    assert run_cb_explore(folder, wtp=0.01, seed=5) == first
    in_order = run_cb_explore(folder, wtp=0.01, seed=5, in_order=True)
    # Unshuffled, the final quarter holds other items: its hindsight baseline moves.
    assert in_order["best_fixed"]["utility"] == pytest.approx(first["best_fixed"]["utility"])
    assert in_order["best_fixed"]["final_quarter_utility"] != pytest.approx(
        first["best_fixed"]["final_quarter_utility"]
    )


def test_cli_prints_both_against_the_best_fixed_model(
    folder: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([folder, "--wtp", "0.01", "--seed", "2", "--explore", "--epsilon 0.05"]) == 0
    out = capsys.readouterr().out.splitlines()
    plain = run_cb_explore(folder, wtp=0.01, seed=2, explore="--epsilon 0.05")
    router = run_replay(folder, wtp=0.01, seed=2)["router"]
    best = plain["best_fixed"]
    assert out[0] == "W=0.01 seed=2: mean utility (final quarter)"
    assert f"best fixed {best['model']}: {best['utility']:.3f}" in out[1]
    assert f"--cb_explore_adf --epsilon 0.05, reward = utility: {plain['utility']:.3f}" in out[2]
    assert f"{router['utility']:.3f} ({router['final_quarter_utility']:.3f})" in out[3]
