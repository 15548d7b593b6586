"""The model catalog: what models exist, what they cost and what they are good at.

The shipped catalog lives in ``providers/catalog.yaml``. A user file named by
``AUTOROUTE_CATALOG`` replaces or extends it (see :func:`load_catalog`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

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
    "reasoning",
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


# Provider kinds an entry may name; providers.registry builds one adapter per kind.
PROVIDERS: tuple[str, ...] = (
    "openai",
    "anthropic",
    "google",
    "openai_compatible",
    "simulated",
    "replay",
)
CAPABILITIES: frozenset[str] = frozenset({"streaming", "tools", "vision"})
_REQUIRED = ("id", "provider", "upstream_model", "input_usd_per_mtok", "output_usd_per_mtok")
_FIELDS = {f.name for f in fields(ModelSpec)}


class CatalogError(ValueError):
    """A catalog file is malformed; the message names the file, entry and field."""


@dataclass(frozen=True, slots=True)
class Catalog:
    """The routable models, in catalog order (shipped entries first, then user ones)."""

    models: tuple[ModelSpec, ...]

    def __post_init__(self) -> None:
        ids = [m.id for m in self.models]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise CatalogError(f"duplicate model ids: {', '.join(dupes)}")

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(m.id for m in self.models)

    def get(self, model_id: str) -> ModelSpec | None:
        """The model with ``model_id``, or ``None``."""
        for model in self.models:
            if model.id == model_id:
                return model
        return None

    def __getitem__(self, model_id: str) -> ModelSpec:
        model = self.get(model_id)
        if model is None:
            raise KeyError(model_id)
        return model

    def __contains__(self, model_id: object) -> bool:
        return any(m.id == model_id for m in self.models)

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self.models)

    def __len__(self) -> int:
        return len(self.models)


def load_catalog(user_path: str | Path | None = None, *, replace: bool = False) -> Catalog:
    """Load the shipped catalog, then apply the user's file (``AUTOROUTE_CATALOG``).

    The user file either extends the shipped one (an entry with an existing id
    overrides it in place, new ids are appended) or replaces it entirely, when
    ``replace`` is true or the file says ``replace: true`` at its top level.

    Raises:
        CatalogError: A file is unreadable or an entry is invalid.
    """
    shipped_text = resources.files("providers").joinpath("catalog.yaml").read_text("utf-8")
    models = parse_catalog(shipped_text, source="shipped catalog")[0]
    if user_path is None:
        return Catalog(tuple(models))
    path = Path(user_path)
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read catalog file ({exc.strerror})") from exc
    user_models, file_replace = parse_catalog(text, source=str(path))
    if replace or file_replace:
        return Catalog(tuple(user_models))
    merged = {m.id: m for m in models}
    merged.update({m.id: m for m in user_models})
    return Catalog(tuple(merged.values()))


def parse_catalog(text: str, *, source: str) -> tuple[list[ModelSpec], bool]:
    """Parse one catalog YAML document into specs and its ``replace`` flag."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogError(f"{source}: not valid YAML ({exc})") from exc
    if not isinstance(doc, Mapping) or not isinstance(doc.get("models"), list):
        raise CatalogError(f"{source}: expected a mapping with a 'models' list")
    replace = doc.get("replace", False)
    if not isinstance(replace, bool):
        raise CatalogError(f"{source}: 'replace' must be true or false")
    specs: list[ModelSpec] = []
    seen: set[str] = set()
    for index, entry in enumerate(doc["models"]):
        spec = _parse_entry(entry, f"{source}: models[{index}]")
        if spec.id in seen:
            raise CatalogError(f"{source}: model '{spec.id}' is listed twice")
        seen.add(spec.id)
        specs.append(spec)
    return specs, replace


def _parse_entry(entry: object, where: str) -> ModelSpec:
    if not isinstance(entry, Mapping):
        raise CatalogError(f"{where}: expected a mapping")
    if isinstance(entry.get("id"), str):
        where = f"{where} ('{entry['id']}')"
    for name in _REQUIRED:
        if entry.get(name) in (None, ""):
            raise CatalogError(f"{where}: missing required field '{name}'")
    unknown = sorted(set(entry) - _FIELDS)
    if unknown:
        raise CatalogError(f"{where}: unknown field(s) {', '.join(map(repr, unknown))}")
    values: dict[str, Any] = dict(entry)
    for name in ("id", "provider", "upstream_model"):
        if not isinstance(values[name], str):
            raise _invalid(where, name, "must be a string")
    if values["provider"] not in PROVIDERS:
        raise _invalid(where, "provider", f"must be one of {', '.join(PROVIDERS)}")
    if values["provider"] == "openai_compatible" and not isinstance(values.get("base_url"), str):
        raise _invalid(where, "base_url", "is required for openai_compatible models")
    _parse_numbers(values, where)
    if "capabilities" in values:
        values["capabilities"] = _parse_capabilities(values["capabilities"], where)
    if "quality" in values:
        values["quality"] = _parse_quality(values["quality"], where)
    return ModelSpec(**values)


def _parse_numbers(values: dict[str, Any], where: str) -> None:
    for name in ("input_usd_per_mtok", "output_usd_per_mtok", "latency_ms"):
        if name in values:
            if not _is_number(values[name]) or values[name] < 0:
                raise _invalid(where, name, "must be a number >= 0")
            values[name] = float(values[name])
    for name in ("context_window", "max_output_tokens"):
        if name in values:
            value = values[name]
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise _invalid(where, name, "must be a positive integer")
    if "tier" in values and values["tier"] not in (1, 2, 3):
        raise _invalid(where, "tier", "must be 1, 2 or 3")


def _parse_capabilities(value: object, where: str) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise _invalid(where, "capabilities", "must be a list of strings")
    unknown = set(value) - CAPABILITIES
    if unknown:
        raise _invalid(where, "capabilities", f"has unknown {sorted(unknown)}")
    return frozenset(value)


def _parse_quality(value: object, where: str) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise _invalid(where, "quality", "must be a mapping of query type to score")
    quality: dict[str, float] = {}
    for key, score in value.items():
        if key not in QUERY_TYPES:
            raise _invalid(where, "quality", f"has unknown query type {key!r}")
        if not _is_number(score) or not 0 <= score <= 1:
            raise _invalid(where, f"quality.{key}", "must be a number in [0, 1]")
        quality[key] = float(score)
    return quality


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _invalid(where: str, name: str, problem: str) -> CatalogError:
    return CatalogError(f"{where}: field '{name}' {problem}")
