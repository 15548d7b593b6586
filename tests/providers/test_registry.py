"""Which provider serves each model, from the configured keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from providers import errors
from providers.anthropic import AnthropicProvider
from providers.catalog import Catalog, ModelSpec, load_catalog
from providers.google import GoogleProvider
from providers.openai import OpenAIProvider
from providers.openai_compatible import OpenAICompatibleProvider
from providers.registry import ProviderKeys, ProviderRegistry
from providers.replay import ReplayProvider
from providers.simulated import SimulatedProvider

LOCAL = ModelSpec("local", "openai_compatible", "m", 0, 0, base_url="http://127.0.0.1:9/v1")
REPLAY = ModelSpec("rec", "replay", "rec", 0, 0)
SIM = ModelSpec("sim", "simulated", "sim", 0, 0)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def test_keys_never_show_in_repr() -> None:
    keys = ProviderKeys(openai="sk-secret-value")

    assert "sk-secret" not in repr(keys)
    assert "openai=set" in repr(keys)
    assert keys.any and not ProviderKeys().any


async def test_no_key_serves_every_model_simulated(client: httpx.AsyncClient) -> None:
    catalog = load_catalog()
    registry = ProviderRegistry(catalog, ProviderKeys(), client)

    assert registry.simulated
    assert registry.available_models() == catalog.models
    assert all(isinstance(registry.provider_for(m), SimulatedProvider) for m in catalog)
    assert all(registry.is_simulated(m) for m in catalog)


async def test_keys_select_real_adapters_and_other_providers_are_unavailable(
    client: httpx.AsyncClient,
) -> None:
    catalog = load_catalog()
    registry = ProviderRegistry(catalog, ProviderKeys(openai="sk-a", google="g"), client)

    assert not registry.simulated
    assert isinstance(registry.provider_for(catalog["gpt-4.1"]), OpenAIProvider)
    assert isinstance(registry.provider_for(catalog["gemini-2.5-pro"]), GoogleProvider)
    with pytest.raises(errors.ProviderUnavailable, match="anthropic"):
        registry.provider_for(catalog["claude-sonnet-4"])
    assert {m.provider for m in registry.available_models()} == {"openai", "google"}
    assert not registry.is_simulated(catalog["gpt-4.1"])


async def test_anthropic_key_alone(client: httpx.AsyncClient) -> None:
    catalog = load_catalog()
    registry = ProviderRegistry(catalog, ProviderKeys(anthropic="k"), client)

    assert isinstance(registry.provider_for(catalog["claude-opus-4"]), AnthropicProvider)
    assert not registry.is_available(catalog["gpt-4o"])


async def test_keyless_compatible_server_is_real_and_disables_simulation(
    client: httpx.AsyncClient,
) -> None:
    catalog = Catalog((*load_catalog().models, LOCAL))
    registry = ProviderRegistry(catalog, ProviderKeys(), client)

    assert not registry.simulated
    assert isinstance(registry.provider_for(LOCAL), OpenAICompatibleProvider)
    assert registry.available_models() == (LOCAL,)


async def test_simulation_can_be_forced(client: httpx.AsyncClient) -> None:
    registry = ProviderRegistry(Catalog((LOCAL,)), ProviderKeys(openai="k"), client, simulate=True)

    assert registry.simulated
    assert isinstance(registry.provider_for(LOCAL), SimulatedProvider)


async def test_simulated_and_replay_entries(client: httpx.AsyncClient, tmp_path: Path) -> None:
    (tmp_path / "items.csv").write_text("item_id,prompt,task\nq1,hi,t\n")
    (tmp_path / "outcomes.csv").write_text("item_id,model,score,cost_usd\nq1,rec,1,0.1\n")
    replay = ReplayProvider(tmp_path)
    with_replay = ProviderRegistry(
        Catalog((SIM, REPLAY)), ProviderKeys(openai="k"), client, replay=replay
    )
    without = ProviderRegistry(Catalog((SIM, REPLAY)), ProviderKeys(openai="k"), client)

    assert isinstance(with_replay.provider_for(SIM), SimulatedProvider)
    assert with_replay.provider_for(REPLAY) is replay
    with pytest.raises(errors.ProviderUnavailable, match="replay"):
        without.provider_for(REPLAY)
