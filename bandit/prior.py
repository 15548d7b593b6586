"""Day-one knowledge from the catalog: the prior quality of a model for a query type.

Before the global policy has seen rewards, routing would otherwise be uniform.
The catalog's per-type ``quality`` (when given) or its coarse ``tier`` supplies
a prior quality; cost and latency need no prior because the catalog knows them
and the utility adds them analytically. The router shrinks its learned quality
towards this prior with ``prior_strength`` pseudo-observations per model, so the
prior fades out as data arrives.
"""

from __future__ import annotations

from providers.catalog import ModelSpec

# Prior quality per catalog tier (1 = frontier, 2 = strong, 3 = small/cheap).
TIER_QUALITY: dict[int, float] = {1: 0.85, 2: 0.75, 3: 0.6}


def prior_quality(spec: ModelSpec, query_type: str, default: float = 0.7) -> float:
    """The catalog's best guess of ``spec``'s quality on ``query_type``, in [0, 1].

    Example:
        >>> from providers.catalog import ModelSpec
        >>> m = ModelSpec("m", "p", "m", 1.0, 1.0, tier=1, quality={"code": 0.9})
        >>> prior_quality(m, "code"), prior_quality(m, "math")
        (0.9, 0.85)
    """
    if query_type in spec.quality:
        return min(1.0, max(0.0, spec.quality[query_type]))
    return TIER_QUALITY.get(spec.tier, default)
