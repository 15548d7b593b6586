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


def baselines(per_model: dict[str, list[float]]) -> dict[str, Any]:
    """Best fixed model (hindsight), random and oracle, overall and on the final quarter.

    ``per_model`` is :func:`model_utilities` of the stream (full information).
    """
    n = len(next(iter(per_model.values())))
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


def final_quarter_by_type(
    query_types: Sequence[str],
    utilities: Sequence[float],
    chosen: Sequence[str],
    best_fixed: Sequence[float],
    per_model: dict[str, list[float]] | None = None,
) -> dict[str, dict[str, Any]]:
    """The final quarter split by query type: where the router gains or loses.

    Per query type: its requests, the router's picks per model, both mean
    utilities, and ``margin_share``, the type's part of the final-quarter
    margin against the best fixed model (its summed utility difference over
    the quarter's length). The shares add up to that margin exactly. Given
    ``per_model`` (:func:`model_utilities`, full information), also the type's
    hindsight-best model and the share switching the type's final quarter to it
    would have gained over the router (``best_model_gain``): what context could
    have won, which the bandit feedback may not have revealed. The model is
    chosen on the type's whole stream: the best of a dozen models on the
    quarter alone mostly picks noise (routerbench "analysis" at W = 0.001: the
    quarter's best is mixtral, the stream's is mistral-7b by 0.021).
    """
    n = len(utilities)
    lengths = {len(query_types), len(chosen), len(best_fixed)}
    lengths |= {len(v) for v in (per_model or {}).values()}
    if lengths != {n}:
        raise ValueError("per-item sequences must have equal lengths")
    quarter = range(3 * n // 4, n)
    out: dict[str, dict[str, Any]] = {}
    for t in quarter:
        row = out.setdefault(
            query_types[t], {"requests": 0, "picks": {}, "_router": [], "_best": [], "_items": []}
        )
        row["_items"].append(t)
        row["requests"] += 1
        row["picks"][chosen[t]] = row["picks"].get(chosen[t], 0) + 1
        row["_router"].append(utilities[t])
        row["_best"].append(best_fixed[t])
    for row in out.values():
        router, best, items = row.pop("_router"), row.pop("_best"), row.pop("_items")
        row["picks"] = dict(sorted(row["picks"].items(), key=lambda kv: (-kv[1], kv[0])))
        row["router_utility"] = _mean(router)
        row["best_fixed_utility"] = _mean(best)
        row["margin_share"] = (math.fsum(router) - math.fsum(best)) / len(quarter)
        if per_model:
            kind = query_types[items[0]]
            stream = [t for t in range(n) if query_types[t] == kind]
            top = max(per_model, key=lambda m: math.fsum(per_model[m][t] for t in stream))
            gained = math.fsum(per_model[top][t] for t in items)
            row["best_model"] = top
            row["best_model_utility"] = gained / len(items)
            row["best_model_gain"] = (gained - math.fsum(router)) / len(quarter)
    return dict(sorted(out.items(), key=lambda kv: -kv[1]["requests"]))


def format_by_type(result: dict[str, Any]) -> str:
    """``--by-type``: the final quarter per query type, as :func:`final_quarter_by_type`."""
    best = result["baselines"]["best_fixed"]["model"]
    lines = [
        f"final quarter by query type (best fixed: {best})",
        f"{'type':<16} {'n':>5} {'router':>8} {'best':>8} {'share':>9} "
        f"{'gain':>8}  {'best on the type (full information)':<40} picks",
    ]
    for name, row in result["final_quarter_by_type"].items():
        picks = ", ".join(f"{model} {count}" for model, count in row["picks"].items())
        lines.append(
            f"{name:<16} {row['requests']:5d} {row['router_utility']:8.4f} "
            f"{row['best_fixed_utility']:8.4f} {row['margin_share']:+9.4f} "
            f"{row.get('best_model_gain', math.nan):+8.4f}  "
            f"{row.get('best_model', '-'):<40} {picks}"
        )
    return "\n".join(lines)


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
