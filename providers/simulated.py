"""The simulated provider: the embedded default when no provider key is configured.

It lets ``make run`` and the benchmarks exercise routing, fallback and learning
without network or keys. Every answer is deterministic: its randomness is
seeded by a hash of the model id and the request's messages (the hash is never
stored). Answers are marked (``ChatResult.simulated``, text prefixed with
``[simulated <model id>]``) and carry the sampled quality in
``ChatResult.recorded_score`` so the learner has something to learn from.

How the simulation depends on the model and the query type::

    quality prior     the catalog's ``quality[query_type]`` if given, else by tier:
                          tier                               1      2      3
                          base                            0.88   0.80   0.68
                          code, math, analysis, reasoning -0.00  -0.04  -0.12
                          other query types               -0.00  -0.00  -0.00
    quality           prior + uniform(-0.12, +0.12), clipped to [0, 1]
    output tokens     by query type, times a tier factor (1.15 / 1.0 / 0.85) and
                      uniform(0.7, 1.3), capped by ``max_output_tokens``
                      (request's, then model's; capped answers finish "length"):
                          code 350, math 250, analysis 400, reasoning 200,
                          creative 450, conversation 120, summarization 180,
                          extraction 90, translation ≈ input tokens
    input tokens      4 characters per token, +4 per message
    latency (ms)      model ``latency_ms`` × (0.5 + output_tokens / 400) × uniform(0.8, 1.2)
    cost              from the reported usage and the catalog prices, as for real models
    text              filler words, about one per output token; code answers put
                      them in a fenced block after a short sentence

The query type is guessed with a few keywords (:func:`guess_query_type`), on
purpose much cruder than the router's classifier: the simulation only needs
answers to depend on the kind of question.

Reported latency is the simulated one; the provider actually sleeps
``latency × latency_scale`` (0 = never sleeps, which tests use).
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

from providers.base import ChatRequest, ChatResult, StreamChunk, Usage
from providers.catalog import ModelSpec
from providers.errors import ProviderError, ProviderTimeout, error_for_status
from providers.tokens import estimate_input_tokens

_TIER_BASE = {1: 0.88, 2: 0.80, 3: 0.68}
_REASONING_PENALTY = {1: 0.0, 2: 0.04, 3: 0.12}
_REASONING_TYPES = frozenset({"code", "math", "analysis", "reasoning"})
_TIER_LENGTH = {1: 1.15, 2: 1.0, 3: 0.85}
_OUTPUT_TOKENS = {
    "code": 350,
    "math": 250,
    "analysis": 400,
    "reasoning": 200,
    "creative": 450,
    "conversation": 120,
    "summarization": 180,
    "extraction": 90,
}
_STREAM_CHUNKS = 8
_WORDS = (
    "the answer considers each part of the question in turn and explains the "
    "reasoning with a short example before giving a clear conclusion"
).split()
_KEYWORDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("code", re.compile(r"```|\b(def|function|class|python|code|bug|compile|sql)\b", re.I)),
    (
        "math",
        re.compile(r"\b(solve|equation|integral|prove|calculate|sum of)\b|\d\s*[+*/^=]\s*\d", re.I),
    ),
    ("translation", re.compile(r"\btranslat", re.I)),
    ("summarization", re.compile(r"\b(summari[sz]e|summary|tl;?dr)\b", re.I)),
    ("extraction", re.compile(r"\b(extract|list all|json|fields?)\b", re.I)),
    ("creative", re.compile(r"\b(poem|story|haiku|write a|song|slogan)\b", re.I)),
    ("reasoning", re.compile(r"\b(puzzle|riddle|which of the following|logic)\b", re.I)),
    ("analysis", re.compile(r"\b(analy[sz]e|compare|why|evaluate|pros and cons)\b", re.I)),
)


def guess_query_type(text: str) -> str:
    """Crude keyword guess of the query type, one of ``catalog.QUERY_TYPES``."""
    for query_type, pattern in _KEYWORDS:
        if pattern.search(text):
            return query_type
    return "conversation"


@dataclass(frozen=True, slots=True)
class SimulatedFailures:
    """Failure injection for soak tests: each call fails with these probabilities.

    Attributes:
        error_rate: Probability of an HTTP-like error with ``status``.
        status: Status of injected errors (mapped like a real upstream's).
        timeout_rate: Probability of a timeout (sleeps for the call's timeout
            first, scaled by ``latency_scale``).
    """

    error_rate: float = 0.0
    status: int = 503
    timeout_rate: float = 0.0


@dataclass(frozen=True, slots=True)
class _Plan:
    text: str
    quality: float
    usage: Usage
    latency_ms: float
    finish_length: bool
    query_type: str


@dataclass
class SimulatedProvider:
    """Deterministic stand-in for any catalog model.

    Args:
        latency_scale: Fraction of the simulated latency actually slept.
        failures: Failure injection applied to every model.
        model_failures: Per-model failure injection, overriding ``failures``.
        rng: Source of randomness for failure injection only (answers are
            seeded by the request so they stay reproducible).

    Example:
        >>> import asyncio
        >>> from providers.base import ChatRequest, Message
        >>> from providers.catalog import ModelSpec
        >>> spec = ModelSpec("m", "simulated", "m", 0.1, 0.2, tier=3)
        >>> req = ChatRequest((Message("user", "hello"),))
        >>> result = asyncio.run(SimulatedProvider().complete(spec, req, timeout=1))
        >>> result.simulated, result.text.startswith("[simulated m]")
        (True, True)
    """

    latency_scale: float = 0.0
    failures: SimulatedFailures = field(default_factory=SimulatedFailures)
    model_failures: Mapping[str, SimulatedFailures] = field(default_factory=dict)
    rng: random.Random = field(default_factory=lambda: random.Random(0))  # noqa: S311

    provider = "simulated"

    async def complete(
        self, model: ModelSpec, request: ChatRequest, *, timeout: float
    ) -> ChatResult:
        """Return the deterministic simulated answer of ``model`` to ``request``."""
        await self._maybe_fail(model, timeout)
        plan = _plan(model, request)
        await self._sleep(plan.latency_ms / 1000, timeout, model)
        return ChatResult(
            model_id=model.id,
            text=plan.text,
            finish_reason="length" if plan.finish_length else "stop",
            usage=plan.usage,
            latency_ms=plan.latency_ms,
            simulated=True,
            recorded_score=plan.quality,
            extra={"query_type": plan.query_type},
        )

    async def stream(
        self, model: ModelSpec, request: ChatRequest, *, timeout: float
    ) -> AsyncIterator[StreamChunk]:
        """Stream the same answer as :meth:`complete` in several chunks."""
        await self._maybe_fail(model, timeout)
        plan = _plan(model, request)
        pieces = _split(plan.text, _STREAM_CHUNKS)
        # Time to first token is about a third of the total, the rest spread evenly.
        await self._sleep(plan.latency_ms / 3000, timeout, model)
        for piece in pieces:
            yield StreamChunk(delta=piece)
            await self._sleep(plan.latency_ms * 2 / 3000 / len(pieces), timeout, model)
        yield StreamChunk(
            finish_reason="length" if plan.finish_length else "stop", usage=plan.usage
        )

    async def _maybe_fail(self, model: ModelSpec, timeout: float) -> None:
        knobs = self.model_failures.get(model.id, self.failures)
        if knobs.timeout_rate and self.rng.random() < knobs.timeout_rate:
            if self.latency_scale > 0:
                await asyncio.sleep(timeout * self.latency_scale)
            raise ProviderTimeout("simulated timeout", model=model.id, provider=self.provider)
        if knobs.error_rate and self.rng.random() < knobs.error_rate:
            raise _injected(knobs.status, model)

    async def _sleep(self, seconds: float, timeout: float, model: ModelSpec) -> None:
        if self.latency_scale <= 0:
            return
        scaled = seconds * self.latency_scale
        if scaled > timeout:
            await asyncio.sleep(timeout)
            raise ProviderTimeout(
                "simulated latency exceeded the deadline", model=model.id, provider=self.provider
            )
        await asyncio.sleep(scaled)


def _injected(status: int, model: ModelSpec) -> ProviderError:
    return error_for_status(
        status, f"simulated HTTP {status}", model=model.id, provider="simulated"
    )


def _plan(model: ModelSpec, request: ChatRequest) -> _Plan:
    rng = random.Random(_seed(model, request))  # noqa: S311 -- simulation, not security
    last_user = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
    query_type = guess_query_type(last_user)
    input_tokens = estimate_input_tokens(request.messages)
    quality = min(1.0, max(0.0, _prior(model, query_type) + rng.uniform(-0.12, 0.12)))
    base = _OUTPUT_TOKENS.get(query_type, input_tokens)
    wanted = max(1, round(base * _TIER_LENGTH.get(model.tier, 1.0) * rng.uniform(0.7, 1.3)))
    limit = min(request.max_output_tokens or model.max_output_tokens, model.max_output_tokens)
    output_tokens = min(wanted, limit)
    latency_ms = model.latency_ms * (0.5 + output_tokens / 400) * rng.uniform(0.8, 1.2)
    return _Plan(
        text=_text(model.id, output_tokens, rng, query_type),
        quality=round(quality, 4),
        usage=Usage(input_tokens, output_tokens),
        latency_ms=round(latency_ms, 1),
        finish_length=wanted > limit,
        query_type=query_type,
    )


def _prior(model: ModelSpec, query_type: str) -> float:
    if query_type in model.quality:
        return model.quality[query_type]
    base = _TIER_BASE.get(model.tier, 0.8)
    if query_type in _REASONING_TYPES:
        base -= _REASONING_PENALTY.get(model.tier, 0.0)
    return base


def _seed(model: ModelSpec, request: ChatRequest) -> int:
    digest = hashlib.blake2b(digest_size=8)
    digest.update(model.id.encode())
    for message in request.messages:
        digest.update(b"\x00" + message.role.encode() + b"\x01" + message.content.encode())
    return int.from_bytes(digest.digest(), "big")


def _text(model_id: str, output_tokens: int, rng: random.Random, query_type: str) -> str:
    # About one word per token after the prefix keeps text length plausible.
    words = [rng.choice(_WORDS) for _ in range(max(1, output_tokens - 4))]
    prefix = f"[simulated {model_id}] "
    if query_type != "code" or len(words) < 8:
        return prefix + " ".join(words)
    # Code answers come as a sentence and a fenced block, as real models answer
    # them, so the automatic quality signal's structure check can pass.
    lines = [" ".join(words[i : i + 6]) for i in range(4, len(words), 6)]
    return prefix + " ".join(words[:4]) + "\n```\n" + "\n".join(lines) + "\n```"


def _split(text: str, parts: int) -> list[str]:
    size = max(1, -(-len(text) // parts))
    return [text[i : i + size] for i in range(0, len(text), size)]
