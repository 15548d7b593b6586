"""The utility the router maximises when it decides.

Temporary shim until ``bandit.rewards.utility`` lands: quality minus cost over
the willingness to pay. With an explicit ``wtp`` (the replay benchmark) the
utility is exactly the one the benchmark scores: ``quality - cost / wtp``.
"""

from __future__ import annotations

import math

from bandit.types import Strategy

# USD a user would pay for one unit of quality, per strategy (shim defaults).
_DEFAULT_WTP: dict[str, float] = {
    "auto": 0.05,
    "balanced": 0.05,
    "cost": 0.005,
    "quality": math.inf,
    "speed": 0.05,
}
_LATENCY_WEIGHT: dict[str, float] = {"speed": 0.1}


def decision_utility(
    quality: float,
    cost_usd: float,
    latency_ms: float,
    strategy: Strategy,
    *,
    wtp: float | None = None,
) -> float:
    """Expected utility of a model with this quality, cost and latency.

    Example:
        >>> round(decision_utility(0.8, 0.001, 500.0, "auto", wtp=0.01), 6)
        0.7
    """
    if wtp is not None:
        return quality - (0.0 if math.isinf(wtp) else cost_usd / wtp)
    budget = _DEFAULT_WTP[strategy]
    cost_term = 0.0 if math.isinf(budget) else cost_usd / budget
    return quality - cost_term - _LATENCY_WEIGHT.get(strategy, 0.0) * latency_ms / 1000.0
