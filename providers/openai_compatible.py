"""Adapter for self-hosted OpenAI-compatible servers (vLLM, Ollama, llama.cpp, LM Studio).

Same wire format as OpenAI's Chat Completions, so this reuses
:class:`providers.openai.OpenAIProvider`. Differences: the base URL comes from
the model's catalog entry, the key is optional, the output limit is sent as
``max_tokens`` (the field these servers understand) and ``temperature`` is
always passed through.
"""

from __future__ import annotations

from typing import ClassVar

import httpx

from providers.openai import OpenAIProvider


class OpenAICompatibleProvider(OpenAIProvider):
    """OpenAI wire format against the model's own ``base_url``, key optional.

    Args:
        client: Shared ``httpx.AsyncClient``.
        api_key: Optional Bearer key (many local servers need none).
        base_url: Used only for models whose catalog entry has no ``base_url``.
    """

    provider: ClassVar[str] = "openai_compatible"
    default_base_url: ClassVar[str] = "http://127.0.0.1:8000/v1"
    max_tokens_field: ClassVar[str] = "max_tokens"
    # A local model named "o3-something" is not OpenAI's reasoning model.
    reasoning_models_fix_temperature: ClassVar[bool] = False

    def __init__(
        self, client: httpx.AsyncClient, api_key: str | None = None, *, base_url: str | None = None
    ) -> None:
        super().__init__(client, api_key, base_url=base_url)
