"""Running quality means per model and per (model, query type), shrunk hierarchically.

VW's linear regression extrapolates badly where it has little data: a model
tried a few times, or a query type it has not seen, gets a prediction driven
by unrelated weights (we measured estimates clipped at 0 for the best model on
a new query type). These plain means are the safety net the router shrinks
VW's prediction towards, and the counts drive both that shrinkage and the
optimism bonus:

``mean(m, t) = (S[m,t] + k * mean(m)) / (n[m,t] + k)`` and
``mean(m) = (S[m] + k * fallback) / (n[m] + k)``,

where ``fallback`` is the catalog prior (globally) or the global estimate (for
an account).
"""

from __future__ import annotations

from dataclasses import dataclass, field


def _key(model: str, query_type: str) -> str:
    return f"{model}\t{query_type}"


@dataclass(slots=True)
class QualityStats:
    """Sums and counts of observed quality, per model and per (model, query type).

    Example:
        >>> s = QualityStats()
        >>> for q in (1.0, 1.0, 0.0, 1.0):
        ...     s.observe("m", "code", q)
        >>> s.count("m", "code"), round(s.mean("m", "code", fallback=0.5, strength=2.0), 3)
        (4, 0.694)
    """

    sums: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def observe(self, model: str, query_type: str, quality: float) -> None:
        """Add one observed quality in [0, 1]."""
        for key in (model, _key(model, query_type)):
            self.sums[key] = self.sums.get(key, 0.0) + quality
            self.counts[key] = self.counts.get(key, 0) + 1

    def count(self, model: str, query_type: str | None = None) -> int:
        """Observations of ``model`` (on ``query_type`` if given)."""
        key = model if query_type is None else _key(model, query_type)
        return self.counts.get(key, 0)

    def mean(self, model: str, query_type: str, *, fallback: float, strength: float) -> float:
        """Hierarchically shrunk mean quality of ``model`` on ``query_type``."""
        n_model = self.counts.get(model, 0)
        model_mean = (self.sums.get(model, 0.0) + strength * fallback) / (n_model + strength)
        key = _key(model, query_type)
        n_type = self.counts.get(key, 0)
        return (self.sums.get(key, 0.0) + strength * model_mean) / (n_type + strength)

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
