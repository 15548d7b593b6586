"""Plain data shared by the learning core and its callers (no VW, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Strategy = Literal["auto", "balanced", "cost", "quality", "speed"]
STRATEGIES: tuple[Strategy, ...] = ("auto", "balanced", "cost", "quality", "speed")

Stage = Literal["cold_start", "warm_up", "established"]


@dataclass(frozen=True, slots=True)
class PromptFeatures:
    """What the local classifier knows about a request. No prompt text is kept."""

    query_type: str
    complexity: float  # 0 (trivial) .. 1 (hard)
    input_tokens: int
    expected_output_tokens: int
    has_code_fence: bool
    has_list: bool
    question_count: int
    turns: int
    has_system_prompt: bool
    language: str  # e.g. "en", "zh", "code", "other"
    # Privacy-safe lexical sketch: sorted hashed word buckets (mod <= 4096), never words.
    # Computed by bandit.sketch.lexical_sketch; empty when unknown.
    sketch: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Decision:
    """The router's choice for one request.

    ``probability`` is the probability the chosen model was actually sampled
    with (the blended one), in (0, 1]. ``ranking`` lists every candidate,
    chosen first, then by descending final score; fallback walks it in order.
    """

    chosen: str
    probability: float
    ranking: tuple[str, ...]
    probabilities: dict[str, float]
    account_weight: float
    stage: Stage
    model_version: str
