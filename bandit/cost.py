"""Calibrated expected cost per model, learned from the costs the router observes.

The cost term of the utility is known in advance, up to calibration: catalog
prices times token estimates. Two things make it imprecise, and both are
learned here from the real cost of each call the router makes:

- output lengths differ by model (a verbose model costs more than its price
  times our output estimate), so a model with a known price gets a
  multiplicative correction ``observed / catalog estimate``;
- some catalogs (or replay sets) have no price at all, so a model with an
  unknown (NaN) price gets a USD-per-token rate from its observed costs, and
  until it has been called, the *lowest* rate observed so far: optimism about
  an unknown cost gets the model tried. (The median rate, used before, let a
  few exploratory calls to expensive models price every untried model out:
  on routerbench_train at W = 0.001, seed 3, the router then never tried the
  cheap models and stayed on claude-instant, utility 0.30 against 0.50.)

Each model's correction is shrunk towards the median correction (or its rate
towards the lowest rate) by ``prior_obs`` pseudo-observations, so one odd call
cannot swing it. When calls carry a ``context`` (the query type), the
correction is refined per model and context, shrunk towards the model's own by
``context_obs`` pseudo-calls: output length depends on the model *and* the kind
of prompt (on zeroeval, whose costs are response length x list price, a model
that writes long derivations on hard maths is verbose there and not on code).

With ``slope_prior`` > 0, the estimate scales with our token estimate not 1:1
but at a slope learned from the calls (log observed cost on log estimate,
pooled within models, ``slope_prior`` pseudo-mass at 1): where the estimate
predicts a call's cost poorly, the expected cost stays near the model's typical
call instead of swinging with a guessed output length.
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
    # Log-space sums of (x = log base estimate, y = log observed cost), calls with cost > 0.
    log_n: float = 0.0
    log_x: float = 0.0
    log_y: float = 0.0
    log_xx: float = 0.0
    log_xy: float = 0.0


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
        0.004
    """

    def __init__(
        self, prior_obs: float = 3.0, context_obs: float = 3.0, slope_prior: float = 0.0
    ) -> None:
        self._prior_obs = prior_obs
        self._context_obs = context_obs
        self._slope_prior = slope_prior  # 0: the estimate scales 1:1 with the base
        self._slope: float | None = None
        self._tally: dict[str, _Tally] = {}
        self._by_context: dict[str, _Tally] = {}  # "model\tcontext" -> tally
        self._median: float | None = None  # cached median correction, reset on change

    def observe(
        self,
        spec: ModelSpec,
        input_tokens: int,
        output_tokens: int,
        cost: float,
        context: str | None = None,
    ) -> None:
        """Record the real cost of one call to ``spec`` (on a ``context``, if known)."""
        if not math.isfinite(cost) or cost < 0:
            return
        self._median = None
        self._slope = None
        catalog = expected_cost_usd(spec, input_tokens, output_tokens) if price_known(spec) else 0.0
        tallies = [self._tally.setdefault(spec.id, _Tally())]
        if context is not None:
            tallies.append(self._by_context.setdefault(f"{spec.id}\t{context}", _Tally()))
        for tally in tallies:
            tally.calls += 1
            tally.observed_usd += cost
            tally.tokens += max(1, input_tokens + output_tokens)
            tally.catalog_usd += catalog
        base = catalog if catalog > 0 else float(max(1, input_tokens + output_tokens))
        if cost > 0:
            x, y, own = math.log(base), math.log(cost), tallies[0]
            own.log_n += 1
            own.log_x += x
            own.log_y += y
            own.log_xx += x * x
            own.log_xy += x * y

    def expected(
        self,
        spec: ModelSpec,
        input_tokens: int,
        output_tokens: int,
        context: str | None = None,
    ) -> float:
        """Expected cost of calling ``spec`` on a request of this size (and context)."""
        tokens = max(1, input_tokens + output_tokens)
        fine = self._by_context.get(f"{spec.id}\t{context}") if context is not None else None
        if price_known(spec):
            catalog = expected_cost_usd(spec, input_tokens, output_tokens)
            correction = self._correction(spec.id)
            if fine is not None and fine.catalog_usd > 0:
                pseudo = self._context_obs * fine.catalog_usd / fine.calls
                correction = (fine.observed_usd + correction * pseudo) / (fine.catalog_usd + pseudo)
            return catalog * correction * self._flatten(spec.id, catalog)
        rate = self._lowest_rate()
        for tally, prior_obs in (
            (self._tally.get(spec.id), self._prior_obs),
            (fine, self._context_obs),
        ):
            if tally is not None and tally.calls > 0:
                pseudo_tokens = prior_obs * tally.tokens / tally.calls
                rate = (tally.observed_usd + rate * pseudo_tokens) / (tally.tokens + pseudo_tokens)
        return rate * tokens * self._flatten(spec.id, float(tokens))

    def _flatten(self, model: str, base: float) -> float:
        """``exp((b - 1) * (log base - mean log base of the model's calls))``.

        The calibrated estimate scales 1:1 with the base (catalog estimate, or
        tokens); ``b`` is the slope of log observed cost on log base, pooled
        within models. Where the token estimate predicts little of a call's
        real cost (b < 1), the estimate moves towards the model's typical cost.
        """
        if self._slope_prior <= 0.0:
            return 1.0
        tally = self._tally.get(model)
        if tally is None or tally.log_n < 1 or base <= 0:
            return 1.0
        if self._slope is None:
            sxx = sxy = 0.0
            for t in self._tally.values():
                if t.log_n >= 2:
                    sxx += t.log_xx - t.log_x * t.log_x / t.log_n
                    sxy += t.log_xy - t.log_x * t.log_y / t.log_n
            self._slope = (sxy + self._slope_prior) / (sxx + self._slope_prior)
        return math.exp((self._slope - 1.0) * (math.log(base) - tally.log_x / tally.log_n))

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
        if self._median is None:
            tallies = self._tally.values()
            ratios = [t.observed_usd / t.catalog_usd for t in tallies if t.catalog_usd > 0]
            self._median = statistics.median(ratios) if ratios else 1.0
        return self._median

    def _lowest_rate(self) -> float:
        rates = [t.observed_usd / t.tokens for t in self._tally.values() if t.tokens > 0]
        return min(rates) if rates else 0.0

    def state(self) -> dict[str, dict[str, float]]:
        """A JSON-safe snapshot, for :mod:`bandit.serialization` (keys with a tab are contexts)."""
        tallies = {**self._tally, **self._by_context}
        return {key: asdict(tally) for key, tally in tallies.items()}

    def load_state(self, state: dict[str, dict[str, float]]) -> None:
        """Replace the tallies with a snapshot from :meth:`state`."""
        self._median = None
        self._slope = None
        tallies = {
            key: _Tally(
                calls=int(v["calls"]),
                observed_usd=float(v["observed_usd"]),
                catalog_usd=float(v["catalog_usd"]),
                tokens=float(v["tokens"]),
                log_n=float(v.get("log_n", 0.0)),
                log_x=float(v.get("log_x", 0.0)),
                log_y=float(v.get("log_y", 0.0)),
                log_xx=float(v.get("log_xx", 0.0)),
                log_xy=float(v.get("log_xy", 0.0)),
            )
            for key, v in state.items()
        }
        self._tally = {k: t for k, t in tallies.items() if "\t" not in k}
        self._by_context = {k: t for k, t in tallies.items() if "\t" in k}
