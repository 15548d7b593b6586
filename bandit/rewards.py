"""Rewards: how good an answer looked, what the user said, and what it was worth.

Three pure functions, kept apart from the policies so that the learner, the
API and the replay benchmark all score the same way.

**Automatic quality signal** (:func:`auto_quality_signal`, in [0, 1]). It
sees only the structure of the answer, never its correctness:

* ``error`` → 0; ``content_filter`` → 0.05; empty text → 0 (0.6 when the
  model answered with a tool call instead of text);
* a refusal in the opening ("I can't help with", "I'm unable to") → 0.1
  when the answer is short (<= 100 tokens); a longer answer that opens with
  one is a partial refusal and is scored below, then halved;

otherwise ``q = length × structure × ratio × finish``, where

* ``length = max(0.3, 1 - 0.15 · max(0, |log2((out + 8) / (expected + 8))| - 1.5))``:
  full marks within ~2.8x of the expected output length, then a slow decay
  (the +8 tokens keep a one-letter answer to a "single choice" prompt whole);
* ``structure`` is 1 when the answer has the shape its query type needs
  (a code block or code lines for code, a number or LaTeX for math, a list,
  JSON or short label for extraction, a short reply when a one-word/letter
  answer was asked for), 0.4 when it lacks it, and x0.7 when a CJK, Cyrillic
  or Arabic prompt got an answer without that script (translation excepted);
* ``ratio`` judges ``out / in`` tokens where it means something: a summary
  longer than half its input gets ``max(0.4, 1.5 - ratio)``, a translation outside
  [0.4, 2.5] times its input gets 0.5; other types get 1;
* ``finish`` is 0.5 when the answer was cut at the token limit, else 1; an
  "As an AI..." disclaimer at the start costs another x0.8.

**Rating blend** (:func:`blend_rating`): the 1-5 score maps linearly to
[0, 1], ``is_helpful`` nudges it by ±0.1, and the rating weighs
``RATING_WEIGHT`` = 0.8 against the automatic signal.

**Utility** (:func:`utility`): ``quality - cost_usd / wtp -
latency_per_s · latency_s``. The strategy supplies ``wtp`` (USD a user pays for
one unit of quality) and the latency weight (:data:`STRATEGY_WEIGHTS`). An
explicit ``wtp`` replaces the strategy's cost weight and drops the latency term
(unless the strategy is ``speed``), which is the replay benchmark's
``score - cost / W``. The policy learns quality only; cost and latency are
known in advance, so the router subtracts them with the same weights.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from bandit.prompt_cues import dominant_script
from bandit.types import PromptFeatures, Strategy
from providers.base import FinishReason
from providers.catalog import ModelSpec

RATING_WEIGHT = 0.8
HELPFUL_NUDGE = 0.1
CONTENT_FILTER_SIGNAL = 0.05
REFUSAL_SIGNAL = 0.1
TOOL_CALL_SIGNAL = 0.6
TRUNCATED_FACTOR = 0.5
PARTIAL_REFUSAL_FACTOR = 0.5
DISCLAIMER_FACTOR = 0.8
_MISSING_STRUCTURE = 0.4
_WRONG_SCRIPT = 0.7
_OPENING_CHARS = 150
_SHORT_REFUSAL_TOKENS = 100
_SCAN_CHARS = 8_000  # structure checks read at most this much of a long answer
_SHORT_ANSWER_TOKENS = 16
_LENGTH_SMOOTHING = 8

_REFUSAL = re.compile(
    r"\bi(?: can ?not| can't| won't| will not| am unable to|'m unable to| am not able to|"
    r"'m not able to| must decline to)\s+"
    r"(?:help|assist|provide|comply|do that|fulfil|fulfill|answer|create|write|support)"
    r"|\bi'?m sorry,? but i (?:can't|cannot|won't)"
    r"|\bi must (?:decline|refuse)"
)
_DISCLAIMER = re.compile(r"\bas an ai\b|\bas a (?:large )?language model\b")
_CODE = re.compile(
    r"```|^[ \t]*(?:def |class |import |return\b|function\b|const |let |var |#include|public |"
    r"SELECT |assert )|[{};][ \t]*$",
    re.MULTILINE,
)
_DIGIT_OR_LATEX = re.compile(r"\d|\\[a-zA-Z]{2,}")
_STRUCTURED = re.compile(r"^[ \t]*(?:[-*•]|\d{1,3}[.)])[ \t]+\S|^[ \t]*[\[{]|^[^:\n]{1,40}:", re.M)
_SENTENCE_END = re.compile(r"[.!?。！？](?:\s|$)")


@dataclass(frozen=True, slots=True)
class StrategyWeights:
    """How much cost and latency count against quality under one strategy.

    Attributes:
        wtp: willingness to pay, in USD per unit of quality; ``math.inf``
            ignores cost.
        latency_per_s: utility lost per second of latency.

    Example:
        >>> w = StrategyWeights(wtp=0.01, latency_per_s=0.0)
        >>> round(w.penalty(cost_usd=0.002, latency_ms=900.0), 6)
        0.2
    """

    wtp: float
    latency_per_s: float

    def __post_init__(self) -> None:
        if math.isnan(self.wtp) or self.wtp <= 0:
            raise ValueError(f"wtp must be > 0 (math.inf ignores cost), got {self.wtp}")
        if not 0 <= self.latency_per_s < math.inf:
            raise ValueError(f"latency_per_s must be finite and >= 0, got {self.latency_per_s}")

    @property
    def cost_per_usd(self) -> float:
        """Utility lost per USD spent (``1 / wtp``; 0 when ``wtp`` is infinite)."""
        return 0.0 if math.isinf(self.wtp) else 1.0 / self.wtp

    def penalty(self, cost_usd: float, latency_ms: float) -> float:
        """The cost and latency terms that :func:`utility` subtracts from quality."""
        return self.cost_per_usd * cost_usd + self.latency_per_s * latency_ms / 1000.0


# "auto" leans to quality; "balanced" pays less per quality point and minds
# latency a little; "cost" takes a 1-point quality loss to save $0.005;
# "speed" gives up 0.1 quality per second saved.
STRATEGY_WEIGHTS: Mapping[Strategy, StrategyWeights] = MappingProxyType(
    {
        "auto": StrategyWeights(wtp=0.05, latency_per_s=0.01),
        "balanced": StrategyWeights(wtp=0.02, latency_per_s=0.02),
        "cost": StrategyWeights(wtp=0.005, latency_per_s=0.0),
        "quality": StrategyWeights(wtp=math.inf, latency_per_s=0.0),
        "speed": StrategyWeights(wtp=0.05, latency_per_s=0.1),
    }
)


def strategy_weights(strategy: Strategy, *, wtp: float | None = None) -> StrategyWeights:
    """The weights :func:`utility` applies, with an explicit ``wtp`` taking precedence.

    An explicit ``wtp`` replaces the strategy's cost weight; the latency weight
    then drops to 0 unless the strategy is ``speed``.

    Raises:
        ValueError: unknown strategy, or ``wtp`` not > 0.
    """
    try:
        base = STRATEGY_WEIGHTS[strategy]
    except KeyError:
        raise ValueError(f"unknown strategy {strategy!r}") from None
    if wtp is None:
        return base
    return StrategyWeights(wtp=wtp, latency_per_s=base.latency_per_s if strategy == "speed" else 0)


def utility(
    quality: float,
    cost_usd: float,
    latency_ms: float,
    strategy: Strategy,
    *,
    wtp: float | None = None,
) -> float:
    """Quality minus the strategy's cost and latency penalties (unbounded below).

    Example:
        >>> round(utility(0.8, 0.001, 500.0, "quality", wtp=0.01), 6)
        0.7
    """
    if math.isnan(quality) or cost_usd < 0 or latency_ms < 0:
        raise ValueError("quality must be a number, cost and latency >= 0")
    return quality - strategy_weights(strategy, wtp=wtp).penalty(cost_usd, latency_ms)


def expected_cost_usd(model: ModelSpec, input_tokens: int, output_tokens: int) -> float:
    """Price of a call before it is made; output is capped at the model's maximum."""
    return model.cost_usd(max(0, input_tokens), max(0, min(output_tokens, model.max_output_tokens)))


def blend_rating(auto_signal: float | None, score: int | None, is_helpful: bool | None) -> float:
    """Combine a user's rating with the automatic signal into one quality in [0, 1].

    Args:
        auto_signal: the automatic signal logged at response time, if any.
        score: the user's 1-5 score, or ``None`` when only ``is_helpful`` was given.
        is_helpful: thumbs up/down; nudges the score by ``HELPFUL_NUDGE``.

    Raises:
        ValueError: a score outside 1..5, a signal outside [0, 1], or no rating at all.

    Example:
        >>> blend_rating(0.5, 5, None)
        0.9
    """
    if score is None and is_helpful is None:
        raise ValueError("a rating needs a score or is_helpful")
    if score is not None and (isinstance(score, bool) or score not in (1, 2, 3, 4, 5)):
        raise ValueError(f"score must be an integer 1..5, got {score!r}")
    if auto_signal is not None and not 0.0 <= auto_signal <= 1.0:
        raise ValueError(f"auto_signal must be in [0, 1], got {auto_signal}")
    if score is None:
        rating = 0.8 if is_helpful else 0.2
    else:
        rating = (score - 1) / 4
        if is_helpful is not None:
            rating += HELPFUL_NUDGE if is_helpful else -HELPFUL_NUDGE
    rating = min(1.0, max(0.0, rating))
    if auto_signal is None:
        return rating
    return round(RATING_WEIGHT * rating + (1 - RATING_WEIGHT) * auto_signal, 10)


def auto_quality_signal(
    features: PromptFeatures,
    text: str,
    finish_reason: FinishReason,
    input_tokens: int,
    output_tokens: int,
) -> float:
    """Score an answer in [0, 1] from its structure alone (formula in the module docstring).

    Example:
        >>> from bandit.features import extract_features
        >>> from providers.base import Message
        >>> f = extract_features([Message("user", "Write a python function to add two numbers.")])
        >>> answer = "```python\\ndef add(a, b):\\n    return a + b\\n```"
        >>> auto_quality_signal(f, answer, "stop", 12, 20) > auto_quality_signal(
        ...     f, "Sure.", "stop", 12, 2)
        True
    """
    if finish_reason == "error":
        return 0.0
    if finish_reason == "content_filter":
        return CONTENT_FILTER_SIGNAL
    answer = text.strip()
    if not answer:
        return TOOL_CALL_SIGNAL if finish_reason == "tool_calls" else 0.0
    opening = answer[:_OPENING_CHARS].lower().replace("’", "'")
    out = output_tokens if output_tokens > 0 else max(1, len(answer) // 4)
    refused = _REFUSAL.search(opening) is not None
    if refused and out <= _SHORT_REFUSAL_TOKENS:
        return REFUSAL_SIGNAL
    quality = (
        _length_score(out, features.expected_output_tokens)
        * _structure_score(features, answer[:_SCAN_CHARS], out)
        * _ratio_score(features.query_type, input_tokens, out)
    )
    if finish_reason == "length":
        quality *= TRUNCATED_FACTOR
    if refused:
        quality *= PARTIAL_REFUSAL_FACTOR
    elif _DISCLAIMER.search(opening):
        quality *= DISCLAIMER_FACTOR
    return round(min(1.0, max(0.0, quality)), 6)


def _length_score(out: int, expected: int) -> float:
    """1 within ~2.8x of the expected length, then -0.15 per doubling, floor 0.3."""
    off = abs(math.log2((out + _LENGTH_SMOOTHING) / (max(0, expected) + _LENGTH_SMOOTHING)))
    return max(0.3, 1.0 - 0.15 * max(0.0, off - 1.5))


def _structure_score(features: PromptFeatures, answer: str, out: int) -> float:
    score = 1.0 if _has_expected_shape(features, answer, out) else _MISSING_STRUCTURE
    if features.query_type != "translation" and features.language in ("zh", "ja", "ko", "ru", "ar"):
        if dominant_script(answer) is None:
            score *= _WRONG_SCRIPT
    return score


def _has_expected_shape(features: PromptFeatures, answer: str, out: int) -> bool:
    if features.expected_output_tokens <= _SHORT_ANSWER_TOKENS:
        return out <= 4 * _SHORT_ANSWER_TOKENS
    kind = features.query_type
    if kind == "code":
        return _CODE.search(answer) is not None
    if kind == "math":
        return _DIGIT_OR_LATEX.search(answer) is not None
    if kind == "extraction":
        return out <= 30 or _STRUCTURED.search(answer) is not None
    if kind in ("analysis", "reasoning", "summarization", "creative"):
        return out <= 30 or _SENTENCE_END.search(answer) is not None
    return True


def _ratio_score(query_type: str, input_tokens: int, out: int) -> float:
    ratio = out / max(1, input_tokens)
    if query_type == "summarization":
        return 1.0 if ratio <= 0.5 else max(0.4, 1.5 - ratio)
    if query_type == "translation":
        return 1.0 if 0.4 <= ratio <= 2.5 else 0.5
    return 1.0
