"""Per-account insights: what was routed where, how well it did, where to save.

The API keeps small aggregates per account, per query type and model: the
number of answers, the sum of their rewards (the automatic signal, replaced by
the blended rating when one arrives) and the sum of their cost. They are all
the report needs, and none of them says anything about a prompt.

Aggregates live in a :class:`~service.insights_store.StatsStore`: a Redis
hash per account when Redis is configured (shared by every worker), else
process memory (the embedded single process; they restart empty).

Stages use the gating thresholds per query type: ``cold_start`` below
``warmup`` samples, ``established`` from ``established`` samples, ``warm_up``
between. A cost-saving recommendation proposes a cheaper model whose mean
reward is within :data:`QUALITY_TOLERANCE` of the most used model's; its
confidence is ``n / (n + CONFIDENCE_HALF)`` for the smaller sample count ``n``
of the two, halved when the cheaper model is measurably worse.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from service.insights_store import StatsStore

QUALITY_TOLERANCE = 0.05
CONFIDENCE_HALF = 10.0
MIN_SAMPLES_TO_RECOMMEND = 3


@dataclass(frozen=True, slots=True)
class ModelStats:
    model: str
    samples: int
    mean_reward: float
    mean_cost_usd: float


def stage_for(samples: int, warmup: int, established: int) -> str:
    """The confidence stage a sample count is in."""
    if samples >= established:
        return "established"
    if samples >= warmup:
        return "warm_up"
    return "cold_start"


class Insights:
    """Records served and rated answers; renders the per-account report."""

    def __init__(self, stats: StatsStore, warmup: int, established: int) -> None:
        self._stats = stats
        self._warmup = warmup
        self._established = established

    async def served(
        self, account: str, query_type: str, model: str, reward: float, cost: float
    ) -> None:
        """Count one answer with its automatic reward and its cost."""
        prefix = f"{query_type}|{model}|"
        await self._stats.incr_stats(
            account, {prefix + "n": 1.0, prefix + "r": reward, prefix + "c": cost}
        )

    async def rated(self, account: str, query_type: str, model: str, delta: float) -> None:
        """Replace an answer's automatic reward by its blended rating (add the difference)."""
        await self._stats.incr_stats(account, {f"{query_type}|{model}|r": delta})

    async def forget(self, account: str) -> None:
        """Drop the account's aggregates (part of a reset)."""
        await self._stats.delete_stats(account)

    async def report(self, account: str) -> dict[str, Any]:
        """The insights of one account, by query type."""
        per_type = _group(await self._stats.get_stats(account))
        query_types = []
        grand_total = 0
        for query_type, models in sorted(per_type.items()):
            ranked = sorted(models, key=lambda m: (-m.mean_reward, m.mean_cost_usd))
            total = sum(m.samples for m in models)
            grand_total += total
            query_types.append(
                {
                    "query_type": query_type,
                    "samples": total,
                    "stage": stage_for(total, self._warmup, self._established),
                    "best_models": [m.model for m in ranked[:3]],
                    "models": [
                        {
                            "model": m.model,
                            "samples": m.samples,
                            "mean_reward": round(m.mean_reward, 4),
                            "mean_cost_usd": m.mean_cost_usd,
                        }
                        for m in ranked
                    ],
                    "recommendations": self._recommend(query_type, models),
                }
            )
        return {
            "account": account,
            "samples": grand_total,
            "stage": stage_for(grand_total, self._warmup, self._established),
            "query_types": query_types,
        }

    def _recommend(self, query_type: str, models: list[ModelStats]) -> list[dict[str, Any]]:
        usable = [m for m in models if m.samples >= MIN_SAMPLES_TO_RECOMMEND]
        if len(usable) < 2:
            return []
        current = max(usable, key=lambda m: m.samples)
        out = []
        for other in usable:
            if other is current or other.mean_cost_usd >= current.mean_cost_usd:
                continue
            delta = other.mean_reward - current.mean_reward
            if delta < -QUALITY_TOLERANCE:
                continue
            n = min(other.samples, current.samples)
            confidence = n / (n + CONFIDENCE_HALF) * (1.0 if delta >= 0 else 0.5)
            saving = 1 - other.mean_cost_usd / current.mean_cost_usd
            out.append(
                {
                    "kind": "cost_saving",
                    "query_type": query_type,
                    "from_model": current.model,
                    "to_model": other.model,
                    "estimated_saving_pct": round(100 * saving, 1),
                    "quality_delta": round(delta, 4),
                    "confidence": round(confidence, 3),
                }
            )
        return sorted(out, key=lambda r: -r["confidence"])


def _group(flat: Mapping[str, float]) -> dict[str, list[ModelStats]]:
    cells: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for key, value in flat.items():
        query_type, _, rest = key.partition("|")
        model, _, field = rest.rpartition("|")
        cells[(query_type, model)][field] = value
    grouped: dict[str, list[ModelStats]] = defaultdict(list)
    for (query_type, model), cell in cells.items():
        samples = int(cell.get("n", 0))
        if samples <= 0:
            continue
        grouped[query_type].append(
            ModelStats(model, samples, cell.get("r", 0.0) / samples, cell.get("c", 0.0) / samples)
        )
    return grouped


class Resettable(Protocol):
    def reset_account(self, account: str) -> None: ...


class AccountDataStore(Protocol):
    async def delete_account_data(self, account: str) -> None: ...


async def reset_account(
    account: str, router: Resettable, store: AccountDataStore, insights: Insights
) -> None:
    """Delete what was learned about ``account``; its routing reverts to global at once.

    The local router drops the account policy immediately; the store deletes
    its snapshot, counts and decision log and tells the learner, so the other
    workers drop it on their next snapshot reload.
    """
    router.reset_account(account)
    await store.delete_account_data(account)
    await insights.forget(account)
