"""Cost calibration: catalog prices corrected by observed costs; unknown prices learned."""

from __future__ import annotations

import math

import pytest

from bandit.cost import CostModel
from providers.catalog import ModelSpec

PRICED = ModelSpec("p", "x", "p", 1.0, 3.0)
UNPRICED = ModelSpec("u", "x", "u", math.nan, math.nan)
UNPRICED2 = ModelSpec("v", "x", "v", math.nan, math.nan)


def test_known_price_starts_at_catalog_and_moves_to_observed() -> None:
    model = CostModel(prior_obs=3.0)
    catalog = PRICED.cost_usd(1000, 500)
    assert model.expected(PRICED, 1000, 500) == pytest.approx(catalog)
    for _ in range(200):
        model.observe(PRICED, 1000, 500, 2 * catalog)  # a verbose model: twice the estimate
    assert model.expected(PRICED, 1000, 500) == pytest.approx(2 * catalog, rel=0.02)


def test_unknown_price_uses_lowest_rate_then_own_rate() -> None:
    model = CostModel(prior_obs=1.0)
    assert model.expected(UNPRICED, 100, 100) == 0.0  # nothing known at all
    for _ in range(50):
        model.observe(UNPRICED2, 100, 100, 0.002)  # 1e-5 USD per token
    assert model.expected(UNPRICED, 100, 100) == pytest.approx(0.002)
    for _ in range(50):
        model.observe(UNPRICED, 100, 100, 0.0002)
    assert model.expected(UNPRICED, 100, 100) == pytest.approx(0.0002, rel=0.1)


def test_state_round_trip_and_bad_costs_ignored() -> None:
    model = CostModel()
    model.observe(PRICED, 10, 10, 0.5)
    model.observe(PRICED, 10, 10, float("nan"))
    model.observe(PRICED, 10, 10, -1.0)
    clone = CostModel()
    clone.load_state(model.state())
    assert clone.expected(PRICED, 10, 10) == model.expected(PRICED, 10, 10)
    assert model.state()["p"]["calls"] == 1


def test_untried_unpriced_model_is_priced_optimistically() -> None:
    # A few exploratory calls to an expensive model must not price every untried
    # model out of consideration: an untried one gets the lowest observed rate.
    model = CostModel(prior_obs=1.0)
    model.observe(UNPRICED2, 100, 100, 0.02)  # expensive
    model.observe(PRICED, 100, 100, 0.0002)  # cheap
    third = ModelSpec("u3", "p", "u3", float("nan"), float("nan"))
    assert model.expected(third, 100, 100) == pytest.approx(0.0002)


def test_slope_flattens_an_estimate_that_does_not_predict_the_cost() -> None:
    # The real cost is the same whatever the token estimate says: the learned
    # slope goes towards 0, so a long-looking request is not priced far above
    # the model's typical call.
    model = CostModel(prior_obs=1.0, slope_prior=1.0)
    plain = CostModel(prior_obs=1.0)
    spec = ModelSpec("m", "p", "m", 1.0, 1.0)
    for out in (100, 400, 1600, 6400) * 25:
        model.observe(spec, 100, out, 0.001)
        plain.observe(spec, 100, out, 0.001)
    long_call = model.expected(spec, 100, 6400)
    assert abs(long_call - 0.001) < abs(plain.expected(spec, 100, 6400) - 0.001)
    assert 0.0005 < long_call < 0.002
    clone = CostModel(prior_obs=1.0, slope_prior=1.0)
    clone.load_state(model.state())
    assert clone.expected(spec, 100, 6400) == long_call
