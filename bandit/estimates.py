"""Running quality means per model along a coarse-to-fine context path, shrunk hierarchically.

VW's linear regression extrapolates badly where it has little data: a model
tried a few times, or a kind of prompt it has not seen, gets a prediction
driven by unrelated weights (we measured estimates clipped at 0 for the best
model on a new query type). These plain means are what the router shrinks
VW's prediction towards, and their counts drive the posterior spread used for
exploration.

A context is a path from coarse to fine, e.g. ``("code", "cx2")`` (query
type, then complexity bucket). Each level's mean is shrunk towards its parent
with ``strength`` pseudo-observations; the model level is shrunk towards
``fallback`` (the catalog prior globally, the global estimate for an account):

``mean(m) = (S[m] + k * fallback) / (n[m] + k)``,
``mean(m, c1..ci) = (S[m, c1..ci] + k * mean(m, c1..ci-1)) / (n[m, c1..ci] + k)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache


def _keys(model: str, context: Sequence[str]) -> tuple[str, ...]:
    """Keys of the model level and of every prefix of ``context``."""
    return _cached_keys(model, tuple(context))


@lru_cache(maxsize=8192)  # models x contexts: a few hundred in practice
def _cached_keys(model: str, context: tuple[str, ...]) -> tuple[str, ...]:
    return tuple("\t".join([model, *context[:depth]]) for depth in range(len(context) + 1))


@dataclass(slots=True)
class QualityStats:
    """Sums and counts of observed quality per model and context prefix.

    Example:
        >>> s = QualityStats()
        >>> for q in (1.0, 1.0, 0.0, 1.0):
        ...     s.observe("m", ("code",), q)
        >>> s.count("m", ("code",)), round(s.mean("m", ("code",), fallback=0.5, strength=2.0), 3)
        (4, 0.722)
    """

    sums: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def observe(self, model: str, context: Sequence[str], quality: float) -> None:
        """Add one observed quality in [0, 1] at every level of ``context``."""
        for key in _keys(model, context):
            self.sums[key] = self.sums.get(key, 0.0) + quality
            self.counts[key] = self.counts.get(key, 0) + 1

    def count(self, model: str, context: Sequence[str] = ()) -> int:
        """Observations of ``model`` in exactly this context (all contexts if empty)."""
        return self.counts.get(_keys(model, context)[-1], 0)

    def mean(
        self, model: str, context: Sequence[str], *, fallback: float, strength: float
    ) -> float:
        """Hierarchically shrunk mean quality of ``model`` in ``context``."""
        return self.estimate(model, context, fallback=fallback, strength=strength)[1]

    def estimate(
        self,
        model: str,
        context: Sequence[str],
        *,
        fallback: float,
        strength: float,
        fine_strength: float | None = None,
    ) -> tuple[int, float]:
        """``(count(model, context), mean(model, context, ...))`` in one pass.

        ``fine_strength``, if given, replaces ``strength`` below the first level of
        the context (e.g. complexity buckets within a query type), which then
        need more evidence before they depart from their parent.
        """
        estimate, n = fallback, 0
        for depth, key in enumerate(_keys(model, context)):
            n = self.counts.get(key, 0)
            k = fine_strength if depth >= 2 and fine_strength is not None else strength
            estimate = (self.sums.get(key, 0.0) + k * estimate) / (n + k)
        return n, estimate

    def state(self) -> dict[str, dict[str, float]]:
        """A JSON-safe snapshot."""
        return {"sums": dict(self.sums), "counts": {k: float(v) for k, v in self.counts.items()}}

    @classmethod
    def from_state(cls, state: dict[str, dict[str, float]]) -> QualityStats:
        """Rebuild from :meth:`state`."""
        return cls(
            sums={str(k): float(v) for k, v in state.get("sums", {}).items()},
            counts={str(k): int(v) for k, v in state.get("counts", {}).items()},
        )
