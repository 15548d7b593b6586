"""Catalog loading: shipped data, user extension/replacement, validation errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from providers.catalog import PROVIDERS, QUERY_TYPES, Catalog, CatalogError, ModelSpec, load_catalog

MINIMAL = """\
models:
  - id: local-small
    provider: openai_compatible
    base_url: http://127.0.0.1:9101/v1
    upstream_model: fake-model
    input_usd_per_mtok: 0.1
    output_usd_per_mtok: 0.2
"""

WriteYaml = Callable[[str], Path]


@pytest.fixture
def write_yaml(tmp_path: Path) -> WriteYaml:
    def write(text: str) -> Path:
        path = tmp_path / "catalog.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    return write


def test_shipped_catalog_covers_three_providers_with_valid_entries() -> None:
    catalog = load_catalog()

    assert {m.provider for m in catalog} == {"openai", "anthropic", "google"}
    for model in catalog:
        assert model.input_usd_per_mtok > 0 and model.output_usd_per_mtok > 0
        assert model.max_output_tokens <= model.context_window
        assert "streaming" in model.capabilities
        assert set(model.quality) == set(QUERY_TYPES), model.id
    assert {"gpt-4.1-mini", "claude-sonnet-4", "gemini-2.5-flash"} <= set(catalog.ids)


def test_tiers_order_prices_within_a_provider() -> None:
    catalog = load_catalog()
    for provider in ("openai", "anthropic", "google"):
        models = [m for m in catalog if m.provider == provider]
        cheapest_frontier = min(m.output_usd_per_mtok for m in models if m.tier == 1)
        dearest_small = max(m.output_usd_per_mtok for m in models if m.tier == 3)
        assert dearest_small < cheapest_frontier, provider


def test_minimal_user_entry_extends_with_defaults(write_yaml: WriteYaml) -> None:
    shipped = load_catalog()

    catalog = load_catalog(write_yaml(MINIMAL))

    assert catalog.ids == (*shipped.ids, "local-small")
    local = catalog["local-small"]
    assert local == ModelSpec(
        id="local-small",
        provider="openai_compatible",
        upstream_model="fake-model",
        input_usd_per_mtok=0.1,
        output_usd_per_mtok=0.2,
        base_url="http://127.0.0.1:9101/v1",
    )
    assert local.cost_usd(1_000_000, 500_000) == pytest.approx(0.2)


def test_same_id_overrides_in_place(write_yaml: WriteYaml) -> None:
    path = write_yaml(
        "models:\n  - {id: gpt-4.1-mini, provider: openai, upstream_model: gpt-4.1-mini-2025-04-14,"
        " input_usd_per_mtok: 0.2, output_usd_per_mtok: 0.8}\n"
    )

    catalog = load_catalog(path)

    assert catalog.ids == load_catalog().ids
    assert catalog["gpt-4.1-mini"].upstream_model == "gpt-4.1-mini-2025-04-14"
    assert catalog["gpt-4.1-mini"].input_usd_per_mtok == 0.2


def test_replace_by_keyword_or_by_file_flag(write_yaml: WriteYaml) -> None:
    assert load_catalog(write_yaml(MINIMAL), replace=True).ids == ("local-small",)
    assert load_catalog(write_yaml("replace: true\n" + MINIMAL)).ids == ("local-small",)


def test_catalog_lookup() -> None:
    catalog = load_catalog()

    assert "gpt-4o" in catalog and "nope" not in catalog
    assert catalog.get("nope") is None
    assert len(catalog) == len(catalog.ids) == len(list(catalog))
    with pytest.raises(KeyError):
        catalog["nope"]


def test_duplicate_ids_are_rejected() -> None:
    spec = ModelSpec("a", "openai", "a", 1, 1)
    with pytest.raises(CatalogError, match="duplicate"):
        Catalog((spec, spec))


BASE_ENTRY = (
    "{id: m1, provider: openai, upstream_model: x, input_usd_per_mtok: 1, output_usd_per_mtok: 2"
)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "{id: m1, provider: openai, upstream_model: x, input_usd_per_mtok: 1}",
            r"'m1'.*missing required field 'output_usd_per_mtok'",
        ),
        (
            "{provider: openai, upstream_model: x, input_usd_per_mtok: 1, output_usd_per_mtok: 1}",
            "missing required field 'id'",
        ),
        (BASE_ENTRY.replace("openai", "azure") + "}", r"'m1'.*field 'provider' must be one of"),
        (
            BASE_ENTRY.replace("input_usd_per_mtok: 1", "input_usd_per_mtok: -1") + "}",
            r"'m1'.*'input_usd_per_mtok' must be a number >= 0",
        ),
        (BASE_ENTRY + ", tier: 5}", "'tier' must be 1, 2 or 3"),
        (BASE_ENTRY + ", context_window: 0}", "'context_window' must be a positive integer"),
        (BASE_ENTRY + ", capabilities: [telepathy]}", "'capabilities' has unknown"),
        (BASE_ENTRY + ", quality: {poetry: 0.5}}", "unknown query type 'poetry'"),
        (BASE_ENTRY + ", quality: {code: 1.5}}", r"'quality.code' must be a number in \[0, 1\]"),
        (BASE_ENTRY + ", prize: 3}", "unknown field"),
        (
            BASE_ENTRY.replace("provider: openai", "provider: openai_compatible") + "}",
            "'base_url' is required",
        ),
    ],
)
def test_invalid_entries_name_the_entry_and_field(
    write_yaml: WriteYaml, entry: str, message: str
) -> None:
    with pytest.raises(CatalogError, match=message):
        load_catalog(write_yaml(f"models:\n  - {entry}\n"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("models: [", "not valid YAML"),
        ("just a string", "'models' list"),
        ("replace: yes please\nmodels: []", "'replace' must be true or false"),
        (f"models:\n  - {BASE_ENTRY}}}\n  - {BASE_ENTRY}}}\n", "listed twice"),
    ],
)
def test_malformed_files_are_rejected(write_yaml: WriteYaml, text: str, message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        load_catalog(write_yaml(text))


def test_missing_user_file_is_a_catalog_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(tmp_path / "absent.yaml")


def test_every_known_provider_kind_is_accepted(write_yaml: WriteYaml) -> None:
    entries = "".join(
        f"  - {{id: m-{p}, provider: {p}, upstream_model: x, input_usd_per_mtok: 0,"
        f" output_usd_per_mtok: 0, base_url: 'http://h/v1'}}\n"
        for p in PROVIDERS
    )

    catalog = load_catalog(write_yaml("models:\n" + entries), replace=True)

    assert [m.provider for m in catalog] == list(PROVIDERS)
