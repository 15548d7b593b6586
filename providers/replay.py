"""The replay provider: answers benchmark prompts with what a model really said.

A replay folder (format in ``/work/shared/data/README.md``) holds
``items.csv`` (``item_id``, ``prompt``, ``task``), ``outcomes.csv``
(``item_id``, ``model``, ``score``, ``cost_usd``, optionally ``response``) and
``models.csv`` (``model`` and prices). A request is looked up by the exact text
of its last user message; the catalog entry's ``upstream_model`` names the
recorded model. The answer carries the recorded response (or a placeholder
when the set has none), the recorded score in ``ChatResult.recorded_score``
and the recorded cost in ``extra["cost_usd"]``.

Everything is held in memory only, for demos and end-to-end benchmarks; the
router must never treat ``recorded_score`` as a signal on live traffic.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from providers.base import ChatRequest, ChatResult, StreamChunk, Usage
from providers.catalog import ModelSpec
from providers.errors import InvalidRequest, UnknownModel
from providers.tokens import estimate_input_tokens, estimate_tokens

_STREAM_CHUNKS = 4


@dataclass(frozen=True, slots=True)
class Outcome:
    """One model's recorded answer to one item."""

    score: float
    cost_usd: float
    response: str | None


class ReplayProvider:
    """Serves recorded outcomes of a replay folder.

    Args:
        folder: Path to a folder with ``items.csv`` and ``outcomes.csv``.

    Raises:
        FileNotFoundError: A required CSV file is missing.
        ValueError: A CSV file lacks a required column.
    """

    provider = "replay"

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        _allow_long_fields()
        self._items = _read_items(self.folder / "items.csv")
        self._outcomes = _read_outcomes(self.folder / "outcomes.csv")
        self.models: tuple[str, ...] = tuple(sorted({model for _, model in self._outcomes}))

    def __len__(self) -> int:
        return len(self._items)

    async def complete(
        self, model: ModelSpec, request: ChatRequest, *, timeout: float
    ) -> ChatResult:
        """Return the recorded answer of ``model`` to the request's prompt.

        Raises:
            InvalidRequest: The prompt is not in the replay set.
            UnknownModel: The set has no outcome of this model for the prompt.
        """
        item_id, outcome = self._lookup(model, request)
        text = (
            outcome.response if outcome.response is not None else f"[replay {model.upstream_model}]"
        )
        return ChatResult(
            model_id=model.id,
            text=text,
            finish_reason="stop",
            usage=Usage(estimate_input_tokens(request.messages), estimate_tokens(text)),
            latency_ms=model.latency_ms,
            recorded_score=outcome.score,
            extra={"cost_usd": outcome.cost_usd, "item_id": item_id},
        )

    async def stream(
        self, model: ModelSpec, request: ChatRequest, *, timeout: float
    ) -> AsyncIterator[StreamChunk]:
        """Stream the recorded answer in a few chunks."""
        result = await self.complete(model, request, timeout=timeout)
        size = max(1, -(-len(result.text) // _STREAM_CHUNKS))
        for start in range(0, len(result.text), size):
            yield StreamChunk(delta=result.text[start : start + size])
        yield StreamChunk(finish_reason=result.finish_reason, usage=result.usage)

    def _lookup(self, model: ModelSpec, request: ChatRequest) -> tuple[str, Outcome]:
        prompt = next((m.content for m in reversed(request.messages) if m.role == "user"), None)
        item_id = self._items.get(prompt) if prompt is not None else None
        if item_id is None:
            # The prompt itself is never echoed back into an error.
            raise InvalidRequest(
                "prompt is not in the replay set", model=model.id, provider=self.provider
            )
        outcome = self._outcomes.get((item_id, model.upstream_model))
        if outcome is None:
            raise UnknownModel(
                f"replay set has no outcome of '{model.upstream_model}' for item {item_id}",
                model=model.id,
                provider=self.provider,
            )
        return item_id, outcome


def replay_models(folder: str | Path, *, tier: int = 2) -> list[ModelSpec]:
    """Catalog entries (``provider: replay``) for the models of a replay folder.

    Prices come from ``models.csv``; blank ones are 0 (the recorded per-call
    cost in ``extra["cost_usd"]`` is the reliable figure).
    """
    _allow_long_fields()
    specs = []
    with (Path(folder) / "models.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            specs.append(
                ModelSpec(
                    id=row["model"],
                    provider="replay",
                    upstream_model=row["model"],
                    input_usd_per_mtok=float(row.get("input_usd_per_mtok") or 0),
                    output_usd_per_mtok=float(row.get("output_usd_per_mtok") or 0),
                    tier=tier,
                )
            )
    return specs


def _read_items(path: Path) -> dict[str, str]:
    items: dict[str, str] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        _require(path, reader.fieldnames, ("item_id", "prompt"))
        for row in reader:
            items.setdefault(row["prompt"], row["item_id"])
    return items


def _read_outcomes(path: Path) -> dict[tuple[str, str], Outcome]:
    outcomes: dict[tuple[str, str], Outcome] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        _require(path, reader.fieldnames, ("item_id", "model", "score", "cost_usd"))
        for row in reader:
            outcomes[(row["item_id"], row["model"])] = Outcome(
                score=float(row["score"]),
                cost_usd=float(row["cost_usd"] or 0),
                response=row.get("response"),
            )
    return outcomes


def _require(path: Path, header: object, columns: tuple[str, ...]) -> None:
    present = set(header) if isinstance(header, list) else set()
    missing = [c for c in columns if c not in present]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")


def _allow_long_fields() -> None:
    # Recorded responses and few-shot prompts exceed csv's 128 KiB default.
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
