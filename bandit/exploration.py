"""Turning expected utilities into a sampling distribution (our own exploration).

Two rules, both on the *combined* utility (learned quality minus the known
cost and latency terms). The router's default is :func:`probability_matching`
(Thompson sampling made explicit), which measured better on ``data/replay/``.

:func:`squarecb` is SquareCB's inverse-gap weighting (Foster & Rakhlin, 2020):
an action whose estimated utility is ``gap`` below the best gets probability
``1 / (K + gamma * gap)``, the best takes the rest. ``gamma`` grows with the
number of updates, so exploration decays, and an expensive model (large cost
gap) is explored proportionally less, which is the point of keeping the known
cost out of what VW learns. Both take an optional floor per action.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import numpy as np


def squarecb(utilities: Sequence[float], gamma: float, floor: float = 0.0) -> list[float]:
    """Inverse-gap-weighted distribution over actions.

    Args:
        utilities: estimated utility per action (higher is better).
        gamma: exploitation strength, >= 0; 0 gives the uniform distribution.
        floor: minimum probability per action, mixed in uniformly; must satisfy
            ``floor * K < 1``.

    Returns:
        Probabilities in action order, summing to 1.

    Example:
        >>> p = squarecb([0.9, 0.5, 0.1], gamma=100.0)
        >>> p[0] > 0.9 and abs(sum(p) - 1.0) < 1e-9
        True
    """
    count = len(utilities)
    if count == 0:
        raise ValueError("no actions to choose from")
    if gamma < 0 or not math.isfinite(gamma):
        raise ValueError(f"gamma must be finite and >= 0, got {gamma}")
    if floor < 0 or floor * count >= 1.0:
        raise ValueError(f"floor {floor} is infeasible for {count} actions")
    best = max(range(count), key=lambda i: utilities[i])
    probs = [0.0] * count
    for i, value in enumerate(utilities):
        if i != best:
            probs[i] = 1.0 / (count + gamma * (utilities[best] - value))
    probs[best] = max(0.0, 1.0 - sum(probs))
    if floor > 0:
        probs = [floor + (1.0 - floor * count) * p for p in probs]
    return probs


def probability_matching(
    means: Sequence[float],
    stds: Sequence[float],
    rng: random.Random,
    *,
    draws: int = 128,
    floor: float = 0.0,
) -> list[float]:
    """Thompson sampling with an explicit propensity: P(action is best) by Monte Carlo.

    Each action's utility is taken as Gaussian ``N(mean, std**2)``; the
    probability of an action is the share of ``draws`` joint samples in which
    it is the argmax (ties to the lowest index), mixed with a uniform ``floor``.
    Unlike plain Thompson sampling, the distribution is explicit, so the
    router can blend it with the account's and log the probability it used.

    Example:
        >>> import random
        >>> p = probability_matching([0.9, 0.5], [0.01, 0.01], random.Random(0))
        >>> p[0] > 0.99 and abs(sum(p) - 1.0) < 1e-9
        True
    """
    count = len(means)
    if count == 0 or len(stds) != count:
        raise ValueError("means and stds must be non-empty and of equal length")
    if floor < 0 or floor * count >= 1.0:
        raise ValueError(f"floor {floor} is infeasible for {count} actions")
    generator = np.random.default_rng(rng.getrandbits(64))
    samples = generator.standard_normal((draws, count)) * np.asarray(stds) + np.asarray(means)
    wins = np.bincount(np.argmax(samples, axis=1), minlength=count) / draws
    return [floor + (1.0 - floor * count) * float(w) for w in wins]


# Bins of the utility axis for probability_of_best: measured against 400,000
# Monte Carlo draws on random 8-action problems, 64 bins are off by < 0.002.
_BINS = 64
_UNIT = np.linspace(0.0, 1.0, _BINS + 1)
_SQRT2 = math.sqrt(2.0)


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    """Phi(x) by the tanh approximation (|error| < 2e-4), in place: numpy has no erf."""
    y: np.ndarray = x * x
    y *= 0.0356774
    y += 0.7978845608
    y *= x
    np.tanh(y, out=y)
    y *= 0.5
    y += 0.5
    return y


def probability_of_best(
    means: Sequence[float],
    stds: Sequence[float],
    *,
    floor: float = 0.0,
    eliminate_z: float = 4.0,
    bound_stds: Sequence[float] | None = None,
) -> list[float]:
    """Thompson sampling's propensities in closed form: P(action is best) by integration.

    The distribution :func:`probability_matching` estimates from draws, without
    the sampling noise: for Gaussian utilities ``N(mu_i, s_i**2)``,
    ``P(i is best) = integral of dF_i(x) * prod_{j != i} F_j(x)``, summed over
    64 bins of the utility axis between the highest ``mu - z * s`` and the
    highest ``mu + z * s`` (``z = eliminate_z``). Actions whose upper bound
    ``mu + z * b`` is below the best lower bound ``mu - z * b`` are eliminated
    first, with probability 0, where ``b`` is ``bound_stds`` (default: the
    sampling spreads ``stds``): at the default 4 standard deviations their
    chance of being best is negligible; a smaller ``z`` stops exploring
    dominated actions sooner. Then a uniform ``floor`` is mixed in.
    Deterministic: no RNG, so it can be cached.

    Plain floats up to the integral (a decision's common case is one action
    left, which needs no array at all); two or three left are exact
    (:func:`_three`), one small array program for four or more.

    Example:
        >>> p = probability_of_best([0.6, 0.5, 0.0], [0.05, 0.05, 0.01])
        >>> round(p[0], 2), p[2], round(sum(p), 9)
        (0.92, 0.0, 1.0)
    """
    count = len(means)
    if count == 0 or len(stds) != count:
        raise ValueError("means and stds must be non-empty and of equal length")
    if floor < 0 or floor * count >= 1.0:
        raise ValueError(f"floor {floor} is infeasible for {count} actions")
    z = eliminate_z
    sd = [s if s > 1e-9 else 1e-9 for s in stds]
    bsd = sd if bound_stds is None else [s if s > 1e-9 else 1e-9 for s in bound_stds]
    lower = [m - z * b for m, b in zip(means, bsd, strict=True)]
    best_lower = max(lower)
    alive = [i for i, (m, b) in enumerate(zip(means, bsd, strict=True)) if m + z * b >= best_lower]
    wins = [0.0] * count
    if len(alive) == 1:
        wins[alive[0]] = 1.0
    elif len(alive) == 2:
        # Two Gaussians need no integral: P(a > b) = Phi((mu_a - mu_b) / sqrt(s_a^2 + s_b^2)).
        a, b = alive
        gap = (means[a] - means[b]) / math.sqrt(sd[a] * sd[a] + sd[b] * sd[b])
        wins[a] = 0.5 * math.erfc(-gap / _SQRT2)
        wins[b] = 1.0 - wins[a]
    elif len(alive) == 3:
        shares = _three([means[i] for i in alive], [sd[i] for i in alive])
        for i, share in zip(alive, shares, strict=True):
            wins[i] = share
    else:
        shares = _integral([means[i] for i in alive], [sd[i] for i in alive], z)
        for i, share in zip(alive, shares, strict=True):
            wins[i] = share
    return [floor + (1.0 - floor * count) * w for w in wins]


def _gauss_legendre(n: int) -> tuple[tuple[float, float], ...]:
    nodes, weights = np.polynomial.legendre.leggauss(n)
    return tuple(zip(nodes.tolist(), weights.tolist(), strict=True))


# Genz's node counts for the bivariate normal: 6 points below |r| = 0.3, 12 below 0.75,
# 20 below 0.925, for double precision (A. Genz, Statistics and Computing 14, 2004).
_GL6, _GL12, _GL20 = _gauss_legendre(6), _gauss_legendre(12), _gauss_legendre(20)


def _upper_orthant(h: float, k: float, r: float) -> float:
    """P(X > h, Y > k) for standard normals with correlation ``0 <= r < 0.925``.

    Plackett's identity, ``Phi(-h) Phi(-k)`` plus the integral of the bivariate
    density over the correlation from 0 to ``r`` (as ``asin``), by Gauss-Legendre.
    """
    nodes = _GL6 if r < 0.3 else _GL12 if r < 0.75 else _GL20
    angle = math.asin(r)
    hk, hs = h * k, (h * h + k * k) / 2.0
    total = 0.0
    for x, w in nodes:
        sn = math.sin(angle * (x + 1.0) / 2.0)
        total += w * math.exp((sn * hk - hs) / (1.0 - sn * sn))
    tail_h, tail_k = 0.5 * math.erfc(h / _SQRT2), 0.5 * math.erfc(k / _SQRT2)
    return total * angle / (4.0 * math.pi) + tail_h * tail_k


def _three(means: list[float], stds: list[float]) -> list[float]:
    """P(each is best) for three Gaussians, exactly (to ~1e-15), with no integral over bins.

    ``P(i best) = P(X_i - X_j > 0, X_i - X_k > 0)``: two differences whose
    correlation is ``s_i^2 / sqrt((s_i^2 + s_j^2)(s_i^2 + s_k^2))``. That is
    below 0.925 for all but at most the one action with by far the widest
    spread, whose share is then the rest. (The 64-bin integral was off by up
    to 0.016 when spreads differ 40-fold: a bin is wider than a tight spread.)
    """
    var = [s * s for s in stds]
    corr = []
    for i in range(3):
        j, k = (i + 1) % 3, (i + 2) % 3
        corr.append(var[i] / math.sqrt((var[i] + var[j]) * (var[i] + var[k])))
    rest = max(range(3), key=lambda i: corr[i])
    shares = [0.0, 0.0, 0.0]
    for i in range(3):
        if i == rest:
            continue
        j, k = (i + 1) % 3, (i + 2) % 3
        h = (means[j] - means[i]) / math.sqrt(var[i] + var[j])
        kk = (means[k] - means[i]) / math.sqrt(var[i] + var[k])
        shares[i] = min(1.0, max(0.0, _upper_orthant(h, kk, corr[i])))
    shares[rest] = max(0.0, 1.0 - shares[(rest + 1) % 3] - shares[(rest + 2) % 3])
    total = sum(shares)
    return [s / total for s in shares]


def _integral(means: list[float], stds: list[float], z: float) -> list[float]:
    """P(each is best) for two or more Gaussians, over 64 bins of ``[max mu - z s, max mu + z s]``.

    Below the lower end the maximum (almost) never falls.
    """
    low = max([m - z * s for m, s in zip(means, stds, strict=True)])
    high = max([m + z * s for m, s in zip(means, stds, strict=True)])
    edges = low + (high - low) * _UNIT
    x = edges[None, :] - np.array(means)[:, None]
    x /= np.array(stds)[:, None]
    cdf = _normal_cdf(x)  # action x bin edge
    mass = cdf[:, 1:] - cdf[:, :-1]  # P(action's utility falls in the bin)
    below = cdf[:, 1:] + cdf[:, :-1]
    below *= 0.5  # P(action's utility is below the bin's middle)
    # Product over the other actions: all of them, divided by this one's own
    # factor (where that is 0, so is this action's mass in the bin).
    mass *= below.prod(axis=0) / np.maximum(below, 1e-300)
    shares: list[float] = mass.sum(axis=1).tolist()
    total = sum(shares)
    if total > 0.0:
        return [s / total for s in shares]
    return [1.0 / len(shares)] * len(shares)  # ties of point masses
