"""Calibrated expected cost per model, learned from the costs the router observes.

The cost term of the utility is known in advance, up to calibration: catalog
prices times token estimates. Two things make it imprecise, and both are
learned here from the real cost of each call the router makes:

- output lengths differ by model (a verbose model costs more than its price
  times our output estimate), so a model with a known price gets a
  multiplicative correction ``observed / catalog estimate``;
- some catalogs (or replay sets) have no price at all, so a model with an
  unknown (NaN) price gets a USD-per-token rate from its observed costs, and
  until it has been called once, the median rate of the models we know.

Each model's correction is shrunk towards 1 (or its rate towards the median)
by ``prior_obs`` pseudo-observations, so one odd call cannot swing it.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass

from bandit.rewards import expected_cost_usd
from providers.catalog import ModelSpec


@dataclass(slots=True)
class _Tally:
    calls: int = 0
    observed_usd: float = 0.0
    catalog_usd: float = 0.0  # catalog price x token estimate, where the price is known
    tokens: float = 0.0  # token estimate (input + expected output)


def price_known(spec: ModelSpec) -> bool:
    """Whether the catalog has a usable price for ``spec``."""
    return math.isfinite(spec.input_usd_per_mtok) and math.isfinite(spec.output_usd_per_mtok)


class CostModel:
    """Expected USD cost of a call, per model, calibrated online.

    Example:
        >>> from providers.catalog import ModelSpec
        >>> m = ModelSpec("m", "p", "m", 1.0, 1.0)
        >>> cm = CostModel()
        >>> cm.expected(m, 1000, 1000)
        0.002
        >>> for _ in range(100):
        ...     cm.observe(m, 1000, 1000, 0.004)
        >>> round(cm.expected(m, 1000, 1000), 4)
        0.0039
    """

    def __init__(self, prior_obs: float = 3.0) -> None:
        self._prior_obs = prior_obs
        self._tally: dict[str, _Tally] = {}

    def observe(self, spec: ModelSpec, input_tokens: int, output_tokens: int, cost: float) -> None:
        """Record the real cost of one call to ``spec``."""
        if not math.isfinite(cost) or cost < 0:
            return
        tally = self._tally.setdefault(spec.id, _Tally())
        tally.calls += 1
        tally.observed_usd += cost
        tally.tokens += max(1, input_tokens + output_tokens)
        if price_known(spec):
            tally.catalog_usd += expected_cost_usd(spec, input_tokens, output_tokens)

    def expected(self, spec: ModelSpec, input_tokens: int, output_tokens: int) -> float:
        """Expected cost of calling ``spec`` on a request of this size."""
        tokens = max(1, input_tokens + output_tokens)
        if price_known(spec):
            catalog = expected_cost_usd(spec, input_tokens, output_tokens)
            return catalog * self._correction(spec.id)
        tally = self._tally.get(spec.id)
        fallback = self._median_rate()
        if tally is None or tally.calls == 0:
            return fallback * tokens
        pseudo_tokens = self._prior_obs * tally.tokens / tally.calls
        rate = (tally.observed_usd + fallback * pseudo_tokens) / (tally.tokens + pseudo_tokens)
        return rate * tokens

    def _correction(self, model: str) -> float:
        # Token estimates are off in the same direction for most models, so a model
        # not yet called borrows the median correction of those that were.
        prior = self._median_correction()
        tally = self._tally.get(model)
        if tally is None or tally.calls == 0 or tally.catalog_usd <= 0:
            return prior
        pseudo = self._prior_obs * tally.catalog_usd / tally.calls
        return (tally.observed_usd + prior * pseudo) / (tally.catalog_usd + pseudo)

    def _median_correction(self) -> float:
        ratios = [t.observed_usd / t.catalog_usd for t in self._tally.values() if t.catalog_usd > 0]
        return statistics.median(ratios) if ratios else 1.0

    def _median_rate(self) -> float:
        rates = [t.observed_usd / t.tokens for t in self._tally.values() if t.tokens > 0]
        return statistics.median(rates) if rates else 0.0

    def state(self) -> dict[str, dict[str, float]]:
        """A JSON-safe snapshot, for :mod:`bandit.serialization`."""
        return {model: asdict(tally) for model, tally in self._tally.items()}

    def load_state(self, state: dict[str, dict[str, float]]) -> None:
        """Replace the tallies with a snapshot from :meth:`state`."""
        self._tally = {
            model: _Tally(
                calls=int(v["calls"]),
                observed_usd=float(v["observed_usd"]),
                catalog_usd=float(v["catalog_usd"]),
                tokens=float(v["tokens"]),
            )
            for model, v in state.items()
        }
