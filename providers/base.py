"""The provider seam: one request shape in, one result shape out.

Every upstream adapter (OpenAI, Anthropic, Google, OpenAI-compatible, simulated,
replay) implements :class:`Provider`. Adapters receive an injected
``httpx.AsyncClient`` and translate their provider's wire format and errors at
this boundary only (see ``providers.errors``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal, Protocol

from providers.catalog import ModelSpec

Role = Literal["system", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "content_filter", "tool_calls", "error"]


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message. ``content`` is plain text (multimodal parts are flattened)."""

    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """What the router asks an upstream model to do."""

    messages: tuple[Message, ...]
    max_output_tokens: int | None = None
    temperature: float | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int
    output_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, slots=True)
class ChatResult:
    """The common result every adapter maps its provider's answer to."""

    model_id: str
    text: str
    finish_reason: FinishReason
    usage: Usage
    latency_ms: float
    simulated: bool = False
    # Set only by providers that know the quality of their answer (the replay
    # provider); the router never trusts it for live traffic.
    recorded_score: float | None = None
    extra: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StreamChunk:
    """A piece of a streamed answer. The last chunk carries ``finish_reason`` and ``usage``."""

    delta: str = ""
    finish_reason: FinishReason | None = None
    usage: Usage | None = None


class Provider(Protocol):
    """An upstream that can answer chat requests for the models of one provider kind."""

    async def complete(
        self, model: ModelSpec, request: ChatRequest, *, timeout: float
    ) -> ChatResult:
        """Answer ``request`` with ``model``; raise ``ProviderError`` on failure."""
        ...

    def stream(
        self, model: ModelSpec, request: ChatRequest, *, timeout: float
    ) -> AsyncIterator[StreamChunk]:
        """Stream the answer; errors before the first chunk are raised, later ones too."""
        ...
