"""Confidence gating: how much an account's own policy counts against the global one.

The final distribution is ``(1 - w) * global + w * account``. This module is the
one place where ``w`` and the blend are computed, so every policy gets the same
bounded influence:

- **cold_start** (fewer than ``warmup_samples`` rewards): ``w = 0``; the
  account follows the global policy.
- **warm_up**: ``w`` rises linearly with the sample count up to
  ``max_account_weight`` at ``established_samples``.
- **established**: ``w = max_account_weight`` (< 1), so a single account can
  never switch off the global policy's exploration entirely.

The per-model count enters too: until the account has ``per_model_samples``
rewards on at least one model, its policy knows nothing model-specific and
``w`` is scaled down proportionally. (Per-model confidence inside the account
distribution is handled by shrinking the account's quality estimates towards
the global ones, in :mod:`bandit.router`.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bandit.config import BanditConfig
from bandit.types import Stage

TOTAL_KEY = "*"


class Gate:
    """Computes the account weight and blends the two distributions.

    Example:
        >>> from bandit.config import BanditConfig
        >>> gate = Gate(BanditConfig(warmup_samples=10, established_samples=100))
        >>> gate.stage({"*": 3}), gate.weight({"*": 3, "m": 3})
        ('cold_start', 0.0)
        >>> gate.stage({"*": 500}), gate.weight({"*": 500, "m": 500})
        ('established', 0.85)
    """

    def __init__(self, config: BanditConfig) -> None:
        if not 0.0 <= config.max_account_weight < 1.0:
            raise ValueError("max_account_weight must be in [0, 1)")
        if not 0 <= config.warmup_samples < config.established_samples:
            raise ValueError("need 0 <= warmup_samples < established_samples")
        self._config = config

    def stage(self, counts: Mapping[str, int]) -> Stage:
        """The account's stage from its total sample count."""
        total = counts.get(TOTAL_KEY, 0)
        if total < self._config.warmup_samples:
            return "cold_start"
        if total < self._config.established_samples:
            return "warm_up"
        return "established"

    def weight(self, counts: Mapping[str, int], candidates: Sequence[str] | None = None) -> float:
        """The account's weight ``w`` in ``[0, max_account_weight]``."""
        cfg = self._config
        total = counts.get(TOTAL_KEY, 0)
        if total < cfg.warmup_samples:
            return 0.0
        span = cfg.established_samples - cfg.warmup_samples
        ramp = min(1.0, (total - cfg.warmup_samples + 1) / span)
        models = candidates if candidates is not None else [k for k in counts if k != TOTAL_KEY]
        best_model = max((counts.get(m, 0) for m in models), default=0)
        coverage = min(1.0, best_model / max(1, cfg.per_model_samples))
        return cfg.max_account_weight * ramp * coverage

    def blend(
        self, global_p: Sequence[float], account_p: Sequence[float] | None, weight: float
    ) -> list[float]:
        """Mix the two distributions; the result is what the router samples from."""
        if account_p is None or weight <= 0.0:
            return list(global_p)
        if len(account_p) != len(global_p):
            raise ValueError("global and account distributions differ in length")
        return [(1.0 - weight) * g + weight * a for g, a in zip(global_p, account_p, strict=True)]
