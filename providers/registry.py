"""Which :class:`Provider` serves each catalog model, given the configured keys.

    keys configured?          model's provider has a key   →  real adapter
                              openai_compatible + base_url →  real adapter (key optional)
                              otherwise                    →  unavailable (ProviderUnavailable)
    no key, no keyless model  every model                  →  simulated provider
    provider: simulated       always                       →  simulated provider
    provider: replay          a replay folder was given    →  replay provider

So a fresh install with no keys still answers (simulated, and marked so at
startup and in the model list), while an install with an OpenAI key only
routes among OpenAI models instead of silently mixing in fake answers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx

from providers.anthropic import AnthropicProvider
from providers.base import Provider
from providers.catalog import Catalog, ModelSpec
from providers.errors import ProviderUnavailable
from providers.google import GoogleProvider
from providers.openai import OpenAIProvider
from providers.openai_compatible import OpenAICompatibleProvider
from providers.simulated import SimulatedProvider


@dataclass(frozen=True, slots=True)
class ProviderKeys:
    """Upstream API keys, as plain strings (the service unwraps its ``SecretStr``).

    ``repr`` never shows a key, only whether it is set.
    """

    openai: str | None = None
    anthropic: str | None = None
    google: str | None = None
    openai_compatible: str | None = None

    def for_provider(self, provider: str) -> str | None:
        """Key for a provider kind, ``None`` if not configured."""
        key: str | None = getattr(self, provider, None)
        return key or None

    @property
    def any(self) -> bool:
        """Whether at least one key is configured."""
        return any((self.openai, self.anthropic, self.google, self.openai_compatible))

    def __repr__(self) -> str:
        names = ("openai", "anthropic", "google", "openai_compatible")
        shown = ", ".join(f"{n}={'set' if self.for_provider(n) else None}" for n in names)
        return f"ProviderKeys({shown})"


_ADAPTERS: dict[str, Callable[[httpx.AsyncClient, str | None], Provider]] = {
    "openai": OpenAIProvider,
    "anthropic": AnthropicProvider,
    "google": GoogleProvider,
    "openai_compatible": OpenAICompatibleProvider,
}


class ProviderRegistry:
    """Maps each catalog model to the provider that serves it.

    Args:
        catalog: The routable models.
        keys: Configured upstream keys.
        client: The one shared ``httpx.AsyncClient`` (owned by the caller).
        simulated: The simulated provider to use (defaults to one that never sleeps).
        replay: Provider for ``provider: replay`` models, if a replay folder is loaded.
        simulate: Force simulated mode on (``True``) or off (``False``);
            ``None`` decides from the keys as described in the module docstring.
    """

    def __init__(
        self,
        catalog: Catalog,
        keys: ProviderKeys,
        client: httpx.AsyncClient,
        *,
        simulated: SimulatedProvider | None = None,
        replay: Provider | None = None,
        simulate: bool | None = None,
    ) -> None:
        self.catalog = catalog
        self._keys = keys
        self._simulated = simulated or SimulatedProvider()
        self._replay = replay
        self._adapters: dict[str, Provider] = {
            kind: factory(client, keys.for_provider(kind)) for kind, factory in _ADAPTERS.items()
        }
        if simulate is None:
            simulate = not keys.any and not any(_keyless(m) for m in catalog)
        self.simulated = simulate

    def provider_for(self, model: ModelSpec) -> Provider:
        """The provider serving ``model``.

        Raises:
            ProviderUnavailable: No key (or replay folder) for the model's provider.
        """
        if model.provider == "simulated" or (self.simulated and model.provider != "replay"):
            return self._simulated
        if model.provider == "replay":
            if self._replay is None:
                raise ProviderUnavailable(
                    "no replay folder loaded", model=model.id, provider="replay"
                )
            return self._replay
        if model.provider in _ADAPTERS and (
            self._keys.for_provider(model.provider) or _keyless(model)
        ):
            return self._adapters[model.provider]
        raise ProviderUnavailable(
            f"no API key configured for provider '{model.provider}'",
            model=model.id,
            provider=model.provider,
        )

    def is_available(self, model: ModelSpec) -> bool:
        """Whether :meth:`provider_for` would return a provider for ``model``."""
        try:
            self.provider_for(model)
        except ProviderUnavailable:
            return False
        return True

    def is_simulated(self, model: ModelSpec) -> bool:
        """Whether answers for ``model`` are simulated (for the model list)."""
        return self.is_available(model) and self.provider_for(model) is self._simulated

    def available_models(self) -> tuple[ModelSpec, ...]:
        """Catalog models that can be called, in catalog order."""
        return tuple(m for m in self.catalog if self.is_available(m))


def _keyless(model: ModelSpec) -> bool:
    return model.provider == "openai_compatible" and bool(model.base_url)
