"""Baselines, the printed table and the cumulative-utility plot of a replay run."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from bandit import rewards
from bandit.replay_data import ReplaySet


def utility(score: float, cost: float, wtp: float) -> float:
    """The benchmark's utility: ``score - cost / W`` (``W = inf`` gives the score).

    Computed by :func:`bandit.rewards.utility`, the function the router's
    decisions use, with no latency term.
    """
    return rewards.utility(score, max(0.0, cost), 0.0, "quality", wtp=wtp)


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values) if values else 0.0


def model_utilities(data: ReplaySet, wtp: float) -> dict[str, list[float]]:
    """Per model, its utility on every item of the stream (full information)."""
    out: dict[str, list[float]] = {}
    for model in data.models:
        out[model.id] = [
            utility(*data.outcomes[item.item_id].get(model.id, (0.0, 0.0)), wtp)
            for item in data.items
        ]
    return out


def baselines(data: ReplaySet, wtp: float) -> dict[str, Any]:
    """Best fixed model (hindsight), random and oracle, overall and on the final quarter."""
    per_model = model_utilities(data, wtp)
    n = len(data.items)
    quarter = slice(3 * n // 4, n)
    best = max(per_model, key=lambda m: _mean(per_model[m]))
    best_q = max(per_model, key=lambda m: _mean(per_model[m][quarter]))
    columns = list(zip(*per_model.values(), strict=True))
    random_series = [_mean(col) for col in columns]
    oracle_series = [max(col) for col in columns]
    return {
        "best_fixed": {
            "model": best,
            "utility": _mean(per_model[best]),
            "final_quarter_utility": _mean(per_model[best][quarter]),
        },
        "best_fixed_final_quarter": {
            "model": best_q,
            "final_quarter_utility": _mean(per_model[best_q][quarter]),
        },
        "random": {
            "utility": _mean(random_series),
            "final_quarter_utility": _mean(random_series[quarter]),
        },
        "oracle": {
            "utility": _mean(oracle_series),
            "final_quarter_utility": _mean(oracle_series[quarter]),
        },
        "_series": {
            "best_fixed": per_model[best],
            "random": random_series,
            "oracle": oracle_series,
        },
    }


def format_table(result: dict[str, Any]) -> str:
    """The human-readable summary printed by ``autoroute replay``."""
    router = result["router"]
    base = result["baselines"]
    rows = [
        ("router", router["utility"], router["final_quarter_utility"]),
        (
            f"best fixed ({base['best_fixed']['model']})",
            base["best_fixed"]["utility"],
            base["best_fixed"]["final_quarter_utility"],
        ),
        ("random", base["random"]["utility"], base["random"]["final_quarter_utility"]),
        ("oracle", base["oracle"]["utility"], base["oracle"]["final_quarter_utility"]),
    ]
    width = max(len(r[0]) for r in rows)
    lines = [
        f"{result['set']}: {result['items']} items, W={result['wtp']}, "
        f"strategy={result['strategy']}, seed={result['seed']}",
        f"{'':{width}}  {'utility':>9}  {'final 1/4':>9}",
    ]
    lines += [f"{name:{width}}  {u:9.4f}  {u4:9.4f}" for name, u, u4 in rows]
    lines.append(
        f"router mean score {router['score']:.4f}, mean cost ${router['cost_usd']:.6f}/request"
    )
    return "\n".join(lines)


def plot(series: dict[str, Sequence[float]], path: str, title: str) -> None:
    """Write a PNG of cumulative utility against requests, one line per policy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for name, values in series.items():
        total, cumulative = 0.0, []
        for value in values:
            total += value
            cumulative.append(total)
        ax.plot(range(1, len(cumulative) + 1), cumulative, label=name)
    ax.set_xlabel("requests")
    ax.set_ylabel("cumulative utility")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
