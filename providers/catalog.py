"""The model catalog: what models exist, what they cost and what they are good at.

The shipped catalog lives in ``providers/catalog.yaml``. A user file named by
``AUTOROUTE_CATALOG`` replaces or extends it (see :func:`load_catalog`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Query types the feature extractor emits; the catalog's per-type quality
# priors are keyed by these.
QUERY_TYPES: tuple[str, ...] = (
    "code",
    "math",
    "analysis",
    "creative",
    "conversation",
    "summarization",
    "extraction",
    "translation",
)


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One routable model.

    ``tier`` is a coarse quality class (1 = frontier, 2 = strong, 3 = small/cheap).
    ``quality`` optionally overrides the prior quality in [0, 1] per query type.
    """

    id: str
    provider: str
    upstream_model: str
    input_usd_per_mtok: float
    output_usd_per_mtok: float
    context_window: int = 128_000
    max_output_tokens: int = 4_096
    capabilities: frozenset[str] = frozenset({"streaming"})
    tier: int = 2
    latency_ms: float = 800.0
    base_url: str | None = None
    quality: dict[str, float] = field(default_factory=dict)

    def cost_usd(self, input_tokens: int, output_tokens: int) -> float:
        """Price of one call from its token usage."""
        return (
            input_tokens * self.input_usd_per_mtok + output_tokens * self.output_usd_per_mtok
        ) / 1_000_000
