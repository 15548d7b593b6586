"""The measurement behind our policy choice: VW ``--cb_explore_adf`` against our router.

The issue asked for ``--cb_explore_adf`` policies; the design notes allowed
``--cb_adf`` (quality only) with our own exploration if it measures better.
This module replays a folder through a plain ``--cb_explore_adf`` policy fed
with the full utility as its reward (``cost = -(score - cost_usd / W)``), with
the same featurizer, the same stream order and bandit feedback only, so the
two can be compared on equal terms:

    python -m bandit.replay_compare DIR [--wtp W] [--seed S] [--explore "--squarecb"]

The figures are recorded in the module docstring of :mod:`bandit.router`.
"""

from __future__ import annotations

import argparse
import math
import random
from typing import Any

from vowpalwabbit import Workspace

from bandit.featurizer import to_vw
from bandit.replay import featurize, run_replay, shuffled
from bandit.replay_data import load_replay_set
from bandit.replay_report import baselines, model_utilities, utility


def run_cb_explore(
    folder: str, *, wtp: float, seed: int, explore: str = "--squarecb", in_order: bool = False
) -> dict[str, Any]:
    """Replay ``folder`` through one ``--cb_explore_adf`` workspace (utility as reward)."""
    data = load_replay_set(folder)
    if not in_order:
        data = shuffled(data, seed)
    rng = random.Random(seed)  # noqa: S311 (simulation)
    ws = Workspace(f"--cb_explore_adf {explore} -q qa --quiet --random_seed {seed}")
    values: list[float] = []
    for item in data.items:
        features = featurize(item.prompt)
        outcomes = data.outcomes[item.item_id]
        specs = [m for m in data.models if m.id in outcomes]
        probs = ws.predict(to_vw(features, "auto", specs))
        index = rng.choices(range(len(specs)), weights=probs)[0]
        score, cost = outcomes[specs[index].id]
        value = utility(score, cost, wtp)
        values.append(value)
        label = to_vw(features, "auto", specs, chosen=index, cost=-value, probability=probs[index])
        ws.learn(label)
    ws.finish()
    quarter = values[3 * len(values) // 4 :]
    return {
        "utility": math.fsum(values) / len(values),
        "final_quarter_utility": math.fsum(quarter) / len(quarter),
        "best_fixed": baselines(model_utilities(data, wtp))["best_fixed"],
    }


def main(argv: list[str] | None = None) -> int:
    """Print the two approaches side by side for one folder and W."""
    parser = argparse.ArgumentParser(prog="python -m bandit.replay_compare")
    parser.add_argument("dir")
    parser.add_argument("--wtp", type=float, default=math.inf)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--explore", default="--squarecb")
    args = parser.parse_args(argv)
    plain = run_cb_explore(args.dir, wtp=args.wtp, seed=args.seed, explore=args.explore)
    ours = run_replay(args.dir, wtp=args.wtp, seed=args.seed)
    best = plain["best_fixed"]
    print(f"W={args.wtp} seed={args.seed}: mean utility (final quarter)")
    print(
        f"  best fixed {best['model']}: {best['utility']:.3f} ({best['final_quarter_utility']:.3f})"
    )
    print(
        f"  --cb_explore_adf {args.explore}, reward = utility: "
        f"{plain['utility']:.3f} ({plain['final_quarter_utility']:.3f})"
    )
    router = ours["router"]
    print(
        f"  router (--cb_adf quality + our exploration): "
        f"{router['utility']:.3f} ({router['final_quarter_utility']:.3f})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
