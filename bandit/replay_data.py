"""Loading a replay folder (``items.csv``, ``outcomes.csv``, ``models.csv``).

The format is described in ``shared/data/README.md``. Prompts are read only to
compute features, then dropped; the ``task`` column is kept for reporting and
never reaches the router.
"""

from __future__ import annotations

import csv
import math
import sys
from dataclasses import dataclass
from pathlib import Path

from providers.catalog import ModelSpec

# Some prompts (few-shot, code) exceed the csv module's default field limit.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


@dataclass(frozen=True, slots=True)
class Item:
    """One prompt of the stream."""

    item_id: str
    prompt: str
    task: str


@dataclass(frozen=True, slots=True)
class ReplaySet:
    """A replay folder in memory: the stream, every model's outcome, the models."""

    name: str
    items: tuple[Item, ...]
    outcomes: dict[str, dict[str, tuple[float, float]]]  # item -> model -> (score, cost)
    models: tuple[ModelSpec, ...]


def _price(value: str | None) -> float:
    text = (value or "").strip()
    return float(text) if text else math.nan


def _provider(model: str) -> str:
    """A provider guess for the catalog feature: the org prefix, if the id has one."""
    return model.split("/", 1)[0] if "/" in model else "unknown"


def load_models(path: Path) -> tuple[ModelSpec, ...]:
    """ModelSpecs from ``models.csv``; a blank price becomes NaN (unknown)."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return tuple(
        ModelSpec(
            id=row["model"],
            provider=_provider(row["model"]),
            upstream_model=row["model"],
            input_usd_per_mtok=_price(row.get("input_usd_per_mtok")),
            output_usd_per_mtok=_price(row.get("output_usd_per_mtok")),
        )
        for row in rows
    )


def load_replay_set(folder: str | Path) -> ReplaySet:
    """Read one replay folder; raise ``FileNotFoundError`` if a file is missing."""
    root = Path(folder)
    models = load_models(root / "models.csv")
    outcomes: dict[str, dict[str, tuple[float, float]]] = {}
    with (root / "outcomes.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            cost = float(row["cost_usd"] or 0.0)
            outcomes.setdefault(row["item_id"], {})[row["model"]] = (float(row["score"]), cost)
    with (root / "items.csv").open(newline="", encoding="utf-8") as handle:
        items = tuple(
            Item(row["item_id"], row["prompt"], row.get("task") or "")
            for row in csv.DictReader(handle)
            if row["item_id"] in outcomes
        )
    if not items:
        raise ValueError(f"{root}: no items with outcomes")
    known = {m.id for m in models}
    extra = sorted({m for o in outcomes.values() for m in o} - known)
    models += tuple(ModelSpec(m, _provider(m), m, math.nan, math.nan) for m in extra)
    return ReplaySet(root.name, items, outcomes, models)
